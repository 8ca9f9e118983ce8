"""results.html: one self-contained page per bench run, opened in a real headless Chromium
(Debian's package; .ci/run installs it): the table and the plots render, the key numbers are in
the DOM, the screenshot is not blank."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgemark.bench.html_report import html_report, write_html_report
from edgemark.bench.report import load_results
from edgemark.errors import EdgemarkError

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "benchmarks" / "mobilenetv2_96-cycle7-cpu-xeon-2core-2026-12-03"  # 34 rows, 2 Pareto plots + latency bars
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium (apt-get install chromium; .ci/run installs it)")
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """`edgemark bench report` on a copy of a committed result folder: results.html written beside results.md."""
    folder = tmp_path_factory.mktemp("html") / "run"
    shutil.copytree(COMMITTED, folder)
    done = subprocess.run([sys.executable, "-m", "edgemark", "bench", "report", str(folder)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"wrote {folder / 'results.html'}" in done.stdout.replace("\n", "")
    return folder, load_results(folder)


def test_page_is_self_contained(report):
    folder, _ = report
    text = (folder / "results.html").read_text()
    assert text.count('src="data:image/png;base64,') == 3  # pareto_threads1, pareto_threads2, latency
    assert "src=\"http" not in text and "href=" not in text and "file:" not in text
    moved = folder.parent / "moved.html"  # no file beside it needed
    shutil.copy(folder / "results.html", moved)
    assert moved.read_text() == text


def test_headless_chromium_renders_the_table_and_the_plots(report, tmp_path):
    folder, results = report
    done = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", (folder / "results.html").as_uri())
    dom = done.stdout
    assert done.returncode == 0 and "<table" in dom, done.stderr[-2000:]
    assert 'data-plots-shown="3/3"' in dom  # set by the page's script once every plot has decoded (naturalWidth > 0)
    rows = dom.split('<table id="results">')[1].split("</table>")[0]
    assert rows.count("<tr") == 1 + len(results["rows"]) == 35
    for r in results["rows"]:
        assert f'<td class="n" data-key="p50_ms">{r["p50_ms"]:.3f}</td>' in rows, r["artifact"]
        assert f'<td class="n" data-key="nme_pct">{r["nme"] * 100:.2f}</td>' in rows, r["artifact"]
    assert results["machine"]["cpu"] in dom and results["command"] in dom
    assert "fastest at equal accuracy" in dom  # the summary
    shot = tmp_path / "shot.png"
    done = chromium(tmp_path, "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1400,4000", (folder / "results.html").as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    ink = (pixels.sum(axis=2) < 600).mean()
    assert ink > 0.02, f"screenshot nearly blank: {ink:.4f} of pixels inked"
    # the plots' marker colours are on the page (tab:blue onnx, tab:orange tflite: matplotlib's palette)
    for rgb in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(pixels - rgb).sum(axis=2) < 30).sum() > 50, rgb


def test_values_are_escaped_and_bad_results_are_named(report, tmp_path):
    folder, results = report
    evil = json.loads(json.dumps(results))
    evil["command"] = "edgemark bench --out '<script>alert(1)</script>'"
    page = html_report(evil, folder)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    bad = json.loads(json.dumps(results))
    bad["rows"][0]["p50_ms"] = "fast"
    with pytest.raises(EdgemarkError, match=r"results\.json: rows\[0\]\.p50_ms"):
        write_html_report(bad, tmp_path)
    assert not (tmp_path / "results.html").exists()
