"""``blazeface-fast`` (issue 34, item 2): BlazeFace int8 at 96 px, the 128 px float file only
on frames where that finds no face; the faces found by the second carry its box rule."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgemark.detect import DETECTORS, NEED_INT8_BUILD, load_detector
from edgemark.errors import EdgemarkError


@pytest.fixture(scope="module")
def int8_models(detector_models, data_dir, tmp_path_factory):
    """A models folder with the pinned float file and an int8 build (40 calibration photos: quick)."""
    pytest.importorskip("ai_edge_quantizer")
    from edgemark.detect.blazeface_int8 import INT8_FILE, build

    folder = tmp_path_factory.mktemp("models")
    for path in detector_models:
        (folder / path.name).symlink_to(path)
    build(folder / INT8_FILE, data_dir, faces=40)
    return folder


def _small_face_frame(image, landmarks, eyes_apart: float):
    """The photo shrunk so that its eyes are ``eyes_apart`` px apart, on a grey 640x480 frame."""
    scale = eyes_apart / np.linalg.norm(np.subtract(landmarks[0], landmarks[1]))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)[:400, :500]
    frame = np.full((480, 640, 3), 128, np.uint8)
    frame[40 : 40 + small.shape[0], 60 : 60 + small.shape[1]] = small
    return frame


def test_fast_runs_the_96_px_int8_detector_and_falls_back_to_128_px_only_without_a_face(int8_models, data_dir, monkeypatch):
    from edgemark.data.images import read_image
    from edgemark.data.lists import read_list
    from edgemark.pipeline import Pipeline
    from edgemark.predictors.load import load_predictor

    monkeypatch.setenv("EDGEMARK_MODELS", str(int8_models))
    fast, first, second = load_detector("blazeface-fast"), load_detector("blazeface-int8-96"), load_detector("blazeface")
    assert "blazeface-fast" in DETECTORS and "blazeface-fast" in NEED_INT8_BUILD
    assert "96 px" in fast.description and "128 px" in fast.description
    records = read_list(data_dir / "testImageList.txt").records[:30]
    for record in records[:6]:  # faces that fill the photo: the first detector's answer, no fallback
        image = read_image(record)
        got, want = fast.detect(image), first.detect(image)
        assert got and [d.box for d in got] == [d.box for d in want] and all(d.box_rule is None for d in got)
    assert fast.fallbacks == 0
    assert fast.detect(np.full((480, 640, 3), 90, np.uint8)) == [] and fast.fallbacks == 1  # no face: both ran

    # a face too small for 96 px: found by the 128 px file, with that detector's box rule
    predictor = load_predictor("mobilenetv2_96/tflite-int8", threads=1)
    for record in records:
        frame = _small_face_frame(read_image(record), record.landmarks, 22)
        if not first.detect(frame) and second.detect(frame):
            break
    else:
        pytest.fail("no test photo at 22 px between the eyes that 96 px misses and 128 px finds")
    found = fast.detect(frame)
    assert fast.fallbacks == 2 and [d.box for d in found] == [d.box for d in second.detect(frame)]
    assert found[0].box_rule == second.training_box_rule != fast.training_box_rule
    by_fast, by_second = Pipeline(predictor, fast)(frame), Pipeline(predictor, second)(frame)
    assert np.array_equal(by_fast[0].landmarks, by_second[0].landmarks)  # cropped by the 128 px rule


def test_fast_takes_no_model_file_and_is_not_offered_to_devices(tmp_path):
    with pytest.raises(EdgemarkError, match="blazeface-fast detector takes no model file"):
        load_detector("blazeface-fast", model_file=tmp_path / "x.tflite")
    from edgemark.cli.bench import BenchSettings, _device_options

    for name in NEED_INT8_BUILD:
        with pytest.raises(EdgemarkError, match=f"--detector: '{name}' not one of"):
            _device_options(BenchSettings("all", "all", "1", "1", None, None, 1, 1, 0.1, None, True, 1, detector=name), "--device ssh://pi")
