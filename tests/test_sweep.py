"""A real Ray Tune sweep: two tiny recipes in parallel on a local Ray, results appended
to a study table."""

import subprocess
import sys

import pytest

pytest.importorskip("ray", reason="needs the sweep extra: pip install 'edgemark[sweep]'")


def test_two_recipes_in_parallel(small_lists, smoke_recipe, tmp_path):
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text(smoke_recipe.read_text().replace("width: 0.35", "width: 0.25"))
    table = tmp_path / "accuracy.md"
    table.write_text("# Accuracy study\n\nearlier notes stay.\n")
    done = subprocess.run([sys.executable, "-m", "edgemark", "sweep", str(smoke_recipe), str(narrow), "--data", str(small_lists),
                           "--out", str(tmp_path / "sweep"), "--epochs", "1", "--table", str(table), "--cache", str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = table.read_text()
    assert "earlier notes stay." in text
    rows = [line for line in text.splitlines() if line.startswith("| 20")]
    assert len(rows) == 2 and any("| smoke.yaml | 0 | mobilenetv2 x0.35 |" in r for r in rows) and any("narrow.yaml" in r for r in rows)
    assert (tmp_path / "sweep" / "smoke-seed0" / "best.pt").exists() and (tmp_path / "sweep" / "narrow-seed0" / "best.pt").exists()
    assert "edgemark sweep" in text
