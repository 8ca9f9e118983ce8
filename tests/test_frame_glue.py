"""Less glue per frame (issue 34): BlazeFace's input written in place through a lookup
table, its NMS on a pairwise overlap matrix, the tracker's texture check in one OpenCV
pass; each gives what the code before it gave, bit for bit. And the int8 BlazeFace."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgemark.detect import blazeface
from edgemark.demo.tracker import textured


def _reference_nms(boxes, scores, points, iou_threshold):
    """The weighted NMS as it was before (one _iou call and a union1d per cluster)."""
    def iou(box, boxes):
        lt = np.maximum(box[:2], boxes[:, :2])
        rb = np.minimum(box[2:], boxes[:, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), axis=-1)  # noqa: E731
        return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)

    order = np.argsort(-scores)
    boxes, scores, points = boxes[order], scores[order], points[order]
    alive = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not alive[i]:
            continue
        cluster = np.union1d(np.flatnonzero(alive & (iou(boxes[i], boxes) > iou_threshold)), [i])
        alive[cluster] = False
        w = scores[cluster][:, None]
        yield (boxes[cluster] * w).sum(0) / w.sum(), scores[i], (points[cluster] * w[:, :, None]).sum(0) / w.sum()


def test_weighted_nms_gives_what_the_per_cluster_version_gave():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 18, 60):
        centre = rng.uniform(0.2, 0.8, (n, 2)).astype(np.float32)
        half = rng.uniform(0.0, 0.2, (n, 2)).astype(np.float32)  # zero-width boxes too
        half[0] = 0
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        scores = rng.uniform(0.2, 1, n).astype(np.float32)
        points = rng.uniform(0, 1, (n, 6, 2)).astype(np.float32)
        got = list(blazeface._weighted_nms(boxes, scores, points, 0.3))
        want = list(_reference_nms(boxes, scores, points, 0.3))
        assert len(got) == len(want)
        for (b1, s1, k1), (b2, s2, k2) in zip(got, want):
            assert np.array_equal(b1, b2) and s1 == s2 and np.array_equal(k1, k2)


@pytest.mark.usefixtures("detector_models")
@pytest.mark.parametrize("size", [(640, 480), (480, 640), (200, 150), (100, 100)])
def test_blazeface_input_is_the_letterboxed_frame_scaled_bit_for_bit(size):
    detector = blazeface.BlazeFaceDetector()
    frame = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    m = detector._letterbox_input(frame)
    square, m_before = blazeface.letterbox(frame, 128)
    before = cv2.cvtColor(square, cv2.COLOR_BGR2RGB).astype(np.float32) * (2.0 / 255.0) - 1.0
    assert np.array_equal(m, m_before)
    assert np.array_equal(detector.interpreter.get_tensor(detector.input)[0], before)
    view = frame[:128, :128] if min(size) >= 128 else cv2.resize(frame, (128, 128))
    detector._detect_view(view, np.eye(2, 3), 0.5)  # a zoomed view goes in the same way
    assert np.array_equal(detector.interpreter.get_tensor(detector.input)[0],
                          cv2.cvtColor(view, cv2.COLOR_BGR2RGB).astype(np.float32) * (2.0 / 255.0) - 1.0)


def test_textured_decides_as_numpys_std_did():
    rng = np.random.default_rng(2)
    frame = np.full((120, 160, 3), 90, np.uint8)
    frame[20:100, 30:130] = rng.integers(0, 256, (80, 100, 3), dtype=np.uint8)
    for spread in range(0, 40, 3):  # around the 12-level threshold
        patch = np.clip(128 + rng.normal(0, spread, (50, 50, 3)), 0, 255).astype(np.uint8)
        frame[:50, :50] = patch
        for box in ((0, 0, 50, 50), (0, 0, 25, 50), (30, 20, 130, 100), (140, 100, 170, 130), (200, 200, 300, 300)):
            l, t, r, b = box
            region = frame[max(0, t): min(120, b), max(0, l): min(160, r)]
            want = region.size > 0 and float(region.std()) >= 12.0
            assert textured(frame, box) == want, (spread, box)


@pytest.mark.usefixtures("detector_models")
def test_int8_blazeface_builds_takes_int8_and_finds_the_faces(data_dir, tmp_path):
    pytest.importorskip("ai_edge_quantizer")
    from edgemark.data.images import read_image
    from edgemark.data.lists import read_list
    from edgemark.detect import load_detector
    from edgemark.detect.blazeface_int8 import build

    path = build(tmp_path / "bf_int8.tflite", data_dir, faces=40)
    int8 = load_detector("blazeface-int8", model_file=path)
    float_ = load_detector("blazeface")
    assert int8.interpreter.get_input_details()[0]["dtype"] == np.int8 and int8.name == "blazeface-int8"
    assert "int8" in int8.description
    ops = {o["op_name"] for o in int8.interpreter._get_ops_details()}
    assert "RELU" not in ops  # fused: XNNPACK has no int8 RELU; one would split the delegate
    shifts = []
    for record in read_list(data_dir / "testImageList.txt").records[:25]:
        image = read_image(record)
        a, b = float_.detect(image), int8.detect(image)
        assert b, record.image_path
        iod = np.linalg.norm(a[0].keypoints[0] - a[0].keypoints[1])
        shifts.append(np.linalg.norm(a[0].keypoints[:4] - b[0].keypoints[:4], axis=1).mean() / iod)
    assert np.mean(shifts) < 0.04  # 1.4 % of the IOD on the whole test list with 300 calibration photos


def test_int8_blazeface_not_built_says_how_to_build_it(tmp_path, monkeypatch):
    from edgemark.detect import load_detector
    from edgemark.errors import EdgemarkError

    monkeypatch.setenv("EDGEMARK_MODELS", str(tmp_path))
    with pytest.raises(EdgemarkError, match="python -m edgemark.detect.blazeface_int8"):
        load_detector("blazeface-int8")


def test_int8_tflite_one_crop_fast_path_gives_the_generic_answer():
    """One crop into the shipped int8 NHWC model: quantised straight into the interpreter's
    input; the same landmarks as the generic path (batch array, set_tensor), bit for bit."""
    from edgemark.predictors.base import Predictor
    from edgemark.predictors.load import load_predictor

    predictor = load_predictor("mobilenetv2_96/tflite-int8", threads=1)
    assert predictor.lookup is not None and predictor.channels_last
    rng = np.random.default_rng(3)
    for _ in range(5):
        crop = rng.integers(0, 256, (1, 96, 96, 3), dtype=np.uint8)
        fast, generic = predictor.predict_crops(crop), Predictor.predict_crops(predictor, crop)
        assert fast.dtype == generic.dtype == np.float32 and fast.shape == generic.shape == (1, 5, 2)
        assert np.array_equal(fast, generic)
        assert np.array_equal(predictor.predict_crops(crop[0]), generic)  # (H, W, 3), as predict passes it
    batch = rng.integers(0, 256, (3, 96, 96, 3), dtype=np.uint8)  # a batch (flip TTA sends 2) takes the generic path
    assert np.array_equal(predictor.predict_crops(batch)[1], predictor.predict_crops(batch[1:2])[0])


def test_per_channel_normalisation_keeps_a_table_per_channel():
    """The shipped models normalise every channel alike: one table, cv2.LUT's fast path. A
    manifest with a mean and std per channel gets one table per channel, and the fast path
    still gives the generic path's answer."""
    from edgemark.export.manifest import read_manifest
    from edgemark.predictors.base import Predictor
    from edgemark.predictors.load import load_predictor
    from edgemark.predictors.tflite_predictor import TfLitePredictor
    from edgemark.preprocess import CropSpec
    from edgemark.shipped import resolve_export_folder

    shipped = load_predictor("mobilenetv2_96/tflite-int8", threads=1)
    assert shipped.lookup.shape == (1, 256)
    manifest = {**shipped.manifest, "crop": {**shipped.manifest["crop"], "mean": [120.0, 127.5, 135.0], "std": [60.0, 64.0, 70.0]}}
    folder, _ = read_manifest(resolve_export_folder(Path("mobilenetv2_96")) / "tflite-int8")
    predictor = TfLitePredictor(folder / manifest["model_file"], manifest, threads=1)
    predictor.crop, predictor.scheme = CropSpec.from_dict(manifest["crop"]), shipped.scheme
    assert predictor.lookup.shape == (1, 256, 3) and len({tuple(predictor.lookup[0, :, c]) for c in range(3)}) == 3
    crop = np.random.default_rng(4).integers(0, 256, (1, 96, 96, 3), dtype=np.uint8)
    assert np.array_equal(predictor.predict_crops(crop), Predictor.predict_crops(predictor, crop))


def test_tracked_frame_gives_what_predict_gives_and_checks_the_crop_for_texture(data_dir):
    """The tracker's own crop -> landmarks -> image steps give ``predictor.predict``'s
    landmarks bit for bit, and its texture check on the crop agrees with the check on the
    frame: a face is textured, a blank wall or a covered lens is not."""
    from edgemark.data.images import read_image
    from edgemark.data.lists import read_list
    from edgemark.demo.tracker import FaceTracker, textured_crop
    from edgemark.pipeline import load_pipeline
    from edgemark.preprocess import crop_face

    pipe = load_pipeline("mobilenetv2_96/tflite-int8", threads=1)
    for record in read_list(data_dir / "testImageList.txt").records[:8]:
        image = read_image(record)
        tracker = FaceTracker(pipe, detect_every=1000)
        first, _, detected = tracker.step(image)
        assert detected and first is not None
        box, angle = tracker.roi
        want = pipe.predictor.predict(image, box, angle)
        got, got_box, detected = tracker.step(image)
        assert not detected and got_box == box
        assert np.array_equal(got, want)
        crop = crop_face(image, box, 96, pipe.predictor.crop.margin, angle)[0]
        assert textured_crop(crop, pipe.predictor.crop.margin) and textured(image, box)
        blank = np.full_like(image, 117)
        blank_crop = crop_face(blank, box, 96, pipe.predictor.crop.margin, angle)[0]
        assert not textured_crop(blank_crop, pipe.predictor.crop.margin) and not textured(blank, box)
        assert tracker.step(blank)[0] is None  # the landmark model answers on a blank wall; the track ends


def test_textured_crop_reads_the_box_inside_the_crop():
    """Detail only in the crop's margin (outside the box the crop was cut around) is not a face."""
    from edgemark.demo.tracker import textured_crop

    crop = np.full((96, 96, 3), 100, np.uint8)
    noise = np.random.default_rng(5).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    crop[:6], crop[-6:] = noise[:6], noise[-6:]  # margin 0.2: the box is the central 80 x 80 (8 px insets)
    assert not textured_crop(crop, 0.2)
    crop[40:56, 40:56] = noise[40:56, 40:56]
    assert textured_crop(crop, 0.2)


def test_crop_matrix_in_plain_floats_is_numpys_bit_for_bit():
    """The crop matrix in plain floats gives what numpy gave, for float32 boxes too (the crop
    cache stores its boxes as float32: a Python float times a numpy float32 stays float32)."""
    from edgemark.preprocess import crop_matrix, square_box

    def numpy_matrix(box, size, margin, angle):
        cx, cy, side = square_box(box, margin)
        scale = size / side
        a = np.deg2rad(angle)
        cos, sin = np.cos(a) * scale, np.sin(a) * scale
        centre = (size - 1) / 2.0
        return np.array([[cos, sin, centre - cos * cx - sin * cy], [-sin, cos, centre + sin * cx - cos * cy]], np.float64)

    rng = np.random.default_rng(6)
    for i in range(3000):
        kind = (np.float32, np.float64, float)[i % 3]
        box = tuple(kind(v) for v in (*rng.uniform(0, 200, 2), *rng.uniform(201, 400, 2)))
        angle = (0.0, float(rng.uniform(-90, 90)))[i % 2]
        assert np.array_equal(crop_matrix(box, 96, 0.2, angle), numpy_matrix(box, 96, 0.2, angle)), (box, angle)


def test_landmarks_map_back_to_the_image_as_the_matrix_product_does_bit_for_bit():
    """normalised_to_image through one cv2.transform gives the numbers numpy's matrix product
    gave (float64, then float32), for one face, a batch of faces and no points."""
    from edgemark.preprocess import apply_affine, crop_matrix, invert_affine, normalised_to_image

    rng = np.random.default_rng(7)
    for i in range(3000):
        l, t = rng.uniform(0, 500, 2)
        side = rng.uniform(10, 400)
        m = crop_matrix((l, t, l + side, t + side), 96, 0.2, (0.0, float(rng.uniform(-90, 90)))[i % 2])
        uv = rng.uniform(-0.2, 1.2, ((5, 2), (68, 2), (3, 5, 2))[i % 3]).astype(np.float32)
        expected = apply_affine(invert_affine(m), np.asarray(uv, np.float64) * 96 - 0.5).astype(np.float32)
        got = normalised_to_image(uv, m, 96)
        assert got.dtype == np.float32 and got.shape == uv.shape and np.array_equal(got, expected), (i, m)
    assert normalised_to_image(np.zeros((0, 2), np.float32), m, 96).shape == (0, 2)
