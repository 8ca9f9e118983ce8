"""The bench's tracked-frame row: what a video user pays on the frames between detections
(the crop from the last frame's landmarks, the landmarks, the tracker's check), beside
detection on every frame, in the same run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgemark.bench.baseline import _rows


@pytest.mark.usefixtures("detector_models")
def test_bench_times_a_tracked_frame_beside_detection_on_every_frame(data_dir, tmp_path):
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, "-m", "edgemark", "bench", "--model", "mobilenetv2_96", "--target", "tflite", "--precision",
                           "int8", "--data", str(data_dir), "--accuracy-faces", "10", "--jitter-faces", "0", "--warmup", "2",
                           "--min-runs", "20", "--min-seconds", "0.1", "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    rows = {(r["detector"], r["artifact"], bool(r.get("tracked"))): r for r in results["pipeline_rows"]}
    assert set(rows) == {("blazeface", None, False), ("blazeface", "torch-fp32", False), ("blazeface", "tflite-int8", False),
                         ("blazeface", "torch-fp32", True), ("blazeface", "tflite-int8", True)}
    tracked = rows[("blazeface", "tflite-int8", True)]
    # the face stayed tracked: no detector run while timed, so the row is a tracked frame, not a detection in disguise
    assert tracked["faces_found"] == 1 and tracked["detector_runs_while_timed"] == 0
    assert "| blazeface, tracked | tflite-int8 |" in (out / "results.md").read_text()
    assert "blazeface, tracked" in (out / "results.html").read_text()
    # the regression gate tells the two rows of an artifact apart
    assert len(_rows(results)) == len(results["rows"]) + len(results["pipeline_rows"])
