"""MediaPipe's own pipeline as a peer row of the bench (issue 34, item 1): its BlazeFace and
its face landmark model on the same frame, detection on every frame and tracked, so that
our whole frame against MediaPipe's is one ratio of one run, in results.md, pipeline.csv,
results.html and the terminal."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from edgemark.bench.baseline import _rows
from edgemark.bench.report import peer_pipeline_ratios, write_pipeline_csv


@pytest.mark.usefixtures("detector_models")
def test_bench_measures_mediapipes_whole_pipeline_beside_ours(data_dir, tmp_path):
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, "-m", "edgemark", "bench", "--model", "mobilenetv2_96", "--target", "tflite", "--precision",
                           "int8", "--peer", "mediapipe", "--data", str(data_dir), "--accuracy-faces", "10", "--jitter-faces", "0",
                           "--warmup", "2", "--min-runs", "20", "--min-seconds", "0.1", "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    rows = {(r["artifact"], bool(r.get("tracked"))): r for r in results["pipeline_rows"]}
    peer, peer_tracked = rows[("peer-mediapipe-cuhk5", False)], rows[("peer-mediapipe-cuhk5", True)]
    ours = rows[("tflite-int8", False)]
    # the same detector, frame and pinning; MediaPipe's landmark model behind it, named
    assert peer["detector"] == ours["detector"] == "blazeface" and peer["faces_found"] == 1
    assert "face_landmark.tflite" in peer["peer"] and peer["pinned_cores"] == ours["pinned_cores"]
    assert peer_tracked["faces_found"] == 1 and peer_tracked["detector_runs_while_timed"] == 0
    assert "peer" not in ours
    # MediaPipe's landmark model (192 px, 468 points) costs more than ours (96 px): its whole frame is slower
    assert peer["p50_ms"] > ours["p50_ms"]
    ratios = {bool(c["peer"].get("tracked")): c for c in peer_pipeline_ratios(results)}
    assert set(ratios) == {False, True} and ratios[False]["ours"]["artifact"] in ("tflite-int8", "torch-fp32")
    assert ratios[False]["ratio"] == pytest.approx(peer["p50_ms"] / ratios[False]["ours"]["p50_ms"])
    sentence = f"ours is **{ratios[False]['ratio']:.2f}x** faster"
    assert sentence in (out / "results.md").read_text()
    assert sentence.replace("**", "") in done.stdout.replace("\n", " ")
    html = (out / "results.html").read_text()
    assert 'id="peer-pipeline"' in html and f"<strong>{ratios[False]['ratio']:.2f}x</strong>" in html
    table = list(csv.DictReader((out / "pipeline.csv").open()))
    by = {(r["artifact"], r["tracked"]): r for r in table}
    fastest = ratios[False]["ours"]["artifact"]
    assert float(by[(fastest, "False")]["peer_pipeline_ratio"]) == pytest.approx(ratios[False]["ratio"], rel=1e-3)
    assert by[("peer-mediapipe-cuhk5", "False")]["peer_pipeline_ratio"] == ""  # the peer itself has none
    # the regression gate keys every pipeline row apart (peer and ours, tracked and not)
    assert len(_rows(results)) == len(results["rows"]) + len(results["pipeline_rows"])


def test_peer_pipeline_ratio_compares_like_with_like(tmp_path):
    """Per peer row: the fastest of our artifacts with the same detector, threads and kind."""
    row = {"detector": "blazeface", "threads": 1, "faces_found": 1, "p90_ms": 1, "p99_ms": 1, "mean_ms": 1, "std_ms": 0,
           "throughput_ips": 1, "rss_increase_mib": 1}
    results = {"pipeline_rows": [
        {**row, "artifact": None, "p50_ms": 1.5},  # the detector alone: never "ours"
        {**row, "artifact": "torch-fp32", "p50_ms": 3.0},
        {**row, "artifact": "tflite-int8", "p50_ms": 2.0},
        {**row, "artifact": "tflite-int8", "tracked": True, "p50_ms": 0.5},
        {**row, "artifact": "tflite-int8", "threads": 2, "p50_ms": 0.1},
        {**row, "detector": "blazeface-int8", "artifact": "tflite-int8", "p50_ms": 1.3},  # our int8 build of the peer's detector
        {**row, "detector": "blazeface-fast", "artifact": "tflite-int8", "p50_ms": 1.25},  # int8 at 96 px: the same network too
        {**row, "detector": "blazeface-full", "artifact": "tflite-int8", "p50_ms": 0.3},  # another network: not compared
        {**row, "detector": "haar", "artifact": "tflite-int8", "p50_ms": 0.2},  # another detector: not compared
        {**row, "artifact": "peer-mediapipe-cuhk5", "peer": "MediaPipe", "p50_ms": 5.0},
        {**row, "artifact": "peer-mediapipe-cuhk5", "peer": "MediaPipe", "tracked": True, "p50_ms": 2.0}]}
    got = {bool(c["peer"].get("tracked")): (c["ours"]["artifact"], c["ours"]["p50_ms"], c["ratio"]) for c in peer_pipeline_ratios(results)}
    assert got == {False: ("tflite-int8", 1.25, 4.0), True: ("tflite-int8", 0.5, 4.0)}
    assert write_pipeline_csv(results, tmp_path / "pipeline.csv")
    table = list(csv.DictReader((tmp_path / "pipeline.csv").open()))
    assert [r["peer_pipeline_ratio"] for r in table] == ["", "1.6667", "2.5", "4.0", "", "3.8462", "4.0", "", "", "", ""]
    assert not write_pipeline_csv({"pipeline_rows": []}, tmp_path / "none.csv")
