"""The documentation site builds with `mkdocs build --strict`: a broken link or anchor, a
page missing from the nav, or a docstring the API reference cannot render fails it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_docs_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]' (the dev extra includes it)")
    pytest.importorskip("material", reason="mkdocs-material: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings-python: pip install -e '.[docs]'")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for page in ("index.html", "results/index.html", "api/index.html"):
        assert (tmp_path / "site" / page).stat().st_size > 0
    assert "load_pipeline" in (tmp_path / "site" / "api" / "index.html").read_text()
