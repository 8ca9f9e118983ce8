"""Flip test-time averaging (``--tta flip``, edgemark/predictors/flip.py): the mirror's
landmarks come back in the right place, it lowers the error of the shipped model, and every
path takes it (predict, eval, bench, the device runner, the Python API)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import write_sublist
from edgemark import load_pipeline, load_predictor
from edgemark.augment import flip_points
from edgemark.data.lists import read_list
from edgemark.errors import EdgemarkError
from edgemark.evaluate import crop_list

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def crops(data_dir):
    faces = read_list(data_dir / "testImageList.txt")
    faces.records = faces.records[:24]
    predictor = load_predictor("drive23/onnx-int8")
    return crop_list(faces, predictor.crop)[0]


@pytest.mark.parametrize("model", ["mobilenetv2_96", "drive23/onnx-int8"])
def test_flip_averaged_landmarks_are_mirror_consistent(crops, model):
    """Averaged with its mirror, the model answers a mirrored face with the mirror of its
    answer, exactly: a wrong mirror convention (w - x instead of w - 1 - x, pairs not
    swapped) breaks this by a pixel or more."""
    plain, flip = load_predictor(model), load_predictor(model, tta="flip")
    mirrored = np.ascontiguousarray(crops[:, :, ::-1])
    perm = flip.scheme.flip_permutation()
    size = flip.crop.size
    got = flip.predict_crops(mirrored)
    want = np.stack([flip_points(p, perm) for p in flip.predict_crops(crops)])
    assert np.abs(got - want).max() * size < 1e-3
    # the single pass is not: its mirror disagrees by a fraction of a pixel or more on some faces
    one = np.stack([flip_points(p, perm) for p in plain.predict_crops(crops)])
    assert np.abs(plain.predict_crops(mirrored) - one).max() * size > 0.1
    assert flip.description.endswith("+flip") and flip.box_rule == plain.box_rule


def test_an_unknown_tta_is_a_named_error_before_any_runtime_loads():
    with pytest.raises(EdgemarkError, match="--tta must be one of none, flip, not 'mirror'"):
        load_predictor("no/such/artifact", tta="mirror")


def edgemark(*args, cwd: Path, module: str = "edgemark") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.usefixtures("detector_models")
def test_eval_with_flip_lowers_the_error_of_the_shipped_model(data_dir, tmp_path):
    few = write_sublist(data_dir, tmp_path / "few", "testImageList.txt", 300)
    nme = {}
    for tta in ("none", "flip"):
        done = edgemark("eval", "--list", few, "--tta", tta, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        folder = "eval-testImageList" + ("-flip" if tta == "flip" else "")
        nme[tta] = json.loads((tmp_path / "runs" / "eval" / "mobilenetv2_96-tflite-int8" / folder / "metrics.json").read_text())["nme"]
    assert nme["flip"] < nme["none"] - 0.001, nme  # 3.37 -> 3.11 % on the whole test list


@pytest.mark.usefixtures("detector_models")
def test_predict_pipeline_and_device_runner_take_flip(data_dir, tmp_path):
    photo = data_dir / "lfw_5590" / "Aaron_Eckhart_0001.jpg"
    faces = {}
    for tta in ("none", "flip"):
        done = edgemark("predict", photo, "--tta", tta, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        faces[tta] = json.loads(done.stdout)["faces"][0]["landmarks"]
    moved = max(abs(a - b) for name in faces["none"] for a, b in zip(faces["none"][name], faces["flip"][name]))
    assert 0 < moved < 5  # the same face, the two passes averaged
    # the torch-free device runner as the bundle runs it
    done = edgemark("predict", photo, "--model", ROOT / "exported" / "mobilenetv2_96" / "tflite-int8", "--tta", "flip",
                    cwd=tmp_path, module="edgemark.edge_cli")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["faces"][0]["landmarks"] == faces["flip"]
    import cv2

    pipe = load_pipeline("mobilenetv2_96", tta="flip")
    assert np.allclose(pipe(cv2.imread(str(photo)))[0].landmarks[0], faces["flip"]["left_eye"], atol=0.01)


def test_bench_measures_each_artifact_with_and_without_flip(data_dir, tmp_path):
    out = tmp_path / "bench"
    done = edgemark("bench", "--model", "mobilenetv2_96", "--target", "onnx", "--precision", "int8", "--tta", "flip", "--data", data_dir,
                    "--accuracy-faces", "60", "--warmup", "1", "--min-runs", "5", "--min-seconds", "0.05", "--detector", "none",
                    "--jitter-faces", "0", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {r["artifact"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    assert set(rows) == {"torch-fp32", "torch-fp32+flip", "onnx-int8", "onnx-int8+flip"}
    assert rows["onnx-int8+flip"]["tta"] == "flip" and "+flip" in rows["onnx-int8+flip"]["provider"]
    assert rows["onnx-int8+flip"]["nme"] < rows["onnx-int8"]["nme"]
    assert rows["torch-fp32+flip"]["nme_drop_pp"] < 0  # the gain, against the one-pass torch fp32 reference
    assert "onnx-int8+flip" in (out / "results.md").read_text()


def test_the_mirror_convention_is_that_of_pixel_centres():
    """x -> w - 1 - x for pixel centres (crop-normalised: u -> 1 - u), in the augmentation that
    training uses (augment.flip_horizontal) and in the averaging: a marked pixel and its
    landmark land on the same pixel after the mirror."""
    from edgemark.augment import flip_horizontal

    size, x, y = 96, 10, 20
    crop = np.zeros((size, size, 3), np.uint8)
    crop[y, x] = 255
    uv = np.array([[(x + 0.5) / size, (y + 0.5) / size], [0.7, 0.4]])
    mirrored, muv = flip_horizontal(crop, uv, np.array([1, 0]))
    (ys, xs) = np.nonzero(mirrored[..., 0])
    assert (xs[0], ys[0]) == (size - 1 - x, y)
    assert muv[1] * size - 0.5 == pytest.approx([size - 1 - x, y])  # the point swapped into place 1, on the marked pixel


@pytest.mark.usefixtures("detector_models")
def test_demo_takes_flip(data_dir, tmp_path):
    from demo_video import build_video

    clip = build_video(data_dir, tmp_path / "clip.avi")
    done = edgemark("demo", "--source", clip, "--tta", "flip", "--no-window", "--max-frames", "20", "--out", tmp_path / "out.mp4",
                    "--events", tmp_path / "events.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out.mp4").stat().st_size > 0 and "+flip" in done.stdout + done.stderr
