"""Jitter on still clips of real test faces (sensor noise, sub-pixel box shifts), with the
shipped artifacts: zero without noise, more with more noise, the eye aspect ratio's for the
eyelid model, and per artifact in `edgemark bench`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgemark import load_predictor
from edgemark.bench.jitter import measure_jitter, still_clips
from edgemark.data.lists import read_list
from edgemark.errors import EdgemarkError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def faces(data_dir):
    test = read_list(data_dir / "testImageList.txt")
    test.records = test.records[:10]
    return test


def test_a_still_face_without_noise_or_shift_does_not_jitter_and_more_noise_jitters_more(faces):
    predictor = load_predictor(ROOT / "exported" / "mobilenetv2_96" / "onnx-fp32", threads=1)
    crops, mats = still_clips(faces, predictor.crop, frames=3, noise_sigma=0.0, shift_px=0.0)
    assert np.array_equal(crops[:, 0], crops[:, 2])
    still = measure_jitter(predictor, crops, mats)
    assert still["iod"] == 0.0 and still["ear"] is None and len(still["points_iod"]) == 5
    low = measure_jitter(predictor, *still_clips(faces, predictor.crop, noise_sigma=1.0, shift_px=0.25))
    high = measure_jitter(predictor, *still_clips(faces, predictor.crop, noise_sigma=8.0, shift_px=1.0))
    assert 0 < low["iod"] < high["iod"] < 0.2  # a fraction of the IOD, never a face's width
    with pytest.raises(EdgemarkError, match="at least 2 frames"):
        still_clips(faces, predictor.crop, frames=1)


def test_eyelid_model_reports_its_ear_jitter(faces):
    predictor = load_predictor(ROOT / "exported" / "mobilenetv2_96_drive23" / "onnx-int8", threads=1)
    measured = measure_jitter(predictor, *still_clips(faces, predictor.crop))
    assert len(measured["points_iod"]) == predictor.scheme.num_points == 23
    assert 0 < measured["ear"] < 0.05 and 0 < measured["ear_relative"] < 0.2


def test_bench_reports_jitter_per_artifact(data_dir, detector_models, tmp_path):
    out = tmp_path / "run"
    clip = _still_clip(data_dir, tmp_path / "still.mp4", frames=10)
    done = subprocess.run([sys.executable, "-m", "edgemark", "bench", "--model", "mobilenetv2_96_drive23", "--target", "onnx",
                           "--precision", "fp32,int8", "--warmup", "1", "--min-runs", "5", "--min-seconds", "0.05",
                           "--accuracy-faces", "10", "--detector", "none", "--data", str(data_dir), "--out", str(out),
                           "--jitter-clip", str(clip)],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "250"}, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["jitter_settings"]["faces"] == 10  # capped at --accuracy-faces: the same test faces as the NME
    rows = {r["artifact"]: r for r in results["rows"]}
    assert set(rows) == {"torch-fp32", "onnx-fp32", "onnx-int8"}
    for r in rows.values():
        assert 0 < r["jitter_iod"] < 0.1 and len(r["jitter_points_iod"]) == 23 and r["ear_jitter"] > 0, r["artifact"]
        assert 0 < r["clip_jitter_iod"] < 0.1 and r["clip_ear_jitter"] > 0, r["artifact"]
    assert results["jitter_settings"]["clip"]["frames_with_face"] == 10
    # fp32 in ONNX Runtime is torch fp32 to rounding, on the same clips: the same jitter
    assert rows["onnx-fp32"]["jitter_iod"] == pytest.approx(rows["torch-fp32"]["jitter_iod"], rel=0.05)
    assert "jitter %" in done.stdout and f"{rows['onnx-int8']['jitter_iod'] * 100:.2f}" in done.stdout
    assert "EAR jitter onnx-int8" in done.stdout
    assert "jitter % IOD" in (out / "results.html").read_text() and "clip jitter % IOD" in (out / "results.html").read_text()
    md, csv_text = (out / "results.md").read_text(), (out / "results.csv").read_text()
    assert "| jitter % IOD | EAR jitter |" in md and f"| onnx-int8 | 1 | 1 | {rows['onnx-int8']['jitter_iod'] * 100:.2f} |" in md
    assert "jitter_iod,ear_jitter" in csv_text.splitlines()[0]
    assert "still clip" in done.stdout


def _still_clip(data_dir, path: Path, frames: int = 20, sigma: float = 2.0, blank: bool = False) -> Path:
    """A still face (test line 54, open eyes) on a 640x480 frame with fresh sensor noise in every frame, as MP4."""
    import cv2

    sys.path.insert(0, str(ROOT / "tests"))
    from drive_clip import frame_of

    record = read_list(data_dir / "testImageList.txt").records[53]
    base = frame_of(record, cv2.imread(str(record.image_path))).astype(np.float64)
    if blank:
        base[:] = 90
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for _ in range(frames):
        writer.write(np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8))
    writer.release()
    return path


def test_still_clip_jitter_of_the_whole_pipeline(data_dir, detector_models, tmp_path):
    from edgemark.bench.jitter import clip_jitter
    from edgemark.pipeline import load_pipeline

    clip = _still_clip(data_dir, tmp_path / "still.mp4")
    pipeline = load_pipeline(ROOT / "exported" / "mobilenetv2_96_drive23" / "onnx-int8", detector="blazeface", threads=1)
    measured = clip_jitter(pipeline, clip)
    assert measured["frames"] == measured["frames_with_face"] == 20
    assert 0 < measured["iod"] < 0.05 and 0 < measured["ear"] < 0.05 and len(measured["points_iod"]) == 23
    with pytest.raises(EdgemarkError, match=r"blank\.mp4: a face in 0 of 5 frames"):
        clip_jitter(pipeline, _still_clip(data_dir, tmp_path / "blank.mp4", frames=5, blank=True))
    (tmp_path / "not_a_video.mp4").write_text("hello")
    with pytest.raises(EdgemarkError, match="not_a_video.mp4: not a readable video"):
        clip_jitter(pipeline, tmp_path / "not_a_video.mp4")
    done = subprocess.run([sys.executable, "-m", "edgemark", "bench", "--jitter-clip", str(tmp_path / "missing.mp4"), "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 2 and "missing.mp4: no such clip" in done.stderr and not (tmp_path / "run").exists()
