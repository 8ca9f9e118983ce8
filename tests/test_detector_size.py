"""BlazeFace short range at a smaller input (issue 34, item 2): the same file run at 96 or
112 px, the interpreter's input resized, the anchor grids derived for the size."""

from __future__ import annotations

import numpy as np
import pytest

from edgemark.detect import DETECTORS, load_detector
from edgemark.detect.blazeface import SHORT_RANGE, BlazeFaceDetector, BlazeFaceVariant, anchors, short_range_grids
from edgemark.errors import EdgemarkError


def test_grids_follow_the_input_size():
    assert short_range_grids(128) == SHORT_RANGE.grids == ((16, 2), (8, 6))
    assert short_range_grids(96) == ((12, 2), (6, 6)) and len(anchors(short_range_grids(96))) == 504
    assert len(anchors(short_range_grids(112))) == 14 * 14 * 2 + 7 * 7 * 6
    for bad in (100, 8, 0):
        with pytest.raises(EdgemarkError, match="multiple of 16"):
            short_range_grids(bad)


def test_names_listed_and_an_unknown_name_says_which_exist():
    for name in ("blazeface-96", "blazeface-int8-96", "blazeface-112", "blazeface-int8-112"):
        assert name in DETECTORS
    with pytest.raises(EdgemarkError, match="unknown face detector 'blazeface-64'.*blazeface-96"):
        load_detector("blazeface-64")


@pytest.mark.usefixtures("detector_models")
def test_96_px_runs_with_504_anchors_and_finds_the_faces_where_128_px_does(data_dir):
    from edgemark.data.images import read_image
    from edgemark.data.lists import read_list

    small, full = load_detector("blazeface-96"), load_detector("blazeface")
    assert small.name == "blazeface-96" and "96 px" in small.description
    assert list(small.interpreter.get_input_details()[0]["shape"]) == [1, 96, 96, 3]
    assert small._scores["shape"][1] == small._regressors["shape"][1] == len(small.anchors) == 504
    assert small.model_file == full.model_file  # the same file, resized
    # a zoomed small face keeps the pixels it has at 128 px: the square is 3 face widths there, 2.25 at 96 px
    assert full.zoom_context * 96 / 128 == small.zoom_context == 2.25
    shifts = []
    for record in read_list(data_dir / "testImageList.txt").records[:12]:
        image = read_image(record)
        a, b = full.detect(image), small.detect(image)
        assert b, record.image_path
        iod = np.linalg.norm(a[0].keypoints[0] - a[0].keypoints[1])
        shifts.append(np.linalg.norm(a[0].keypoints[:4] - b[0].keypoints[:4], axis=1).mean() / iod)
    assert np.mean(shifts) < 0.08, shifts  # keypoints near the 128 px ones (a few % of the IOD)
    # a face small in the frame (about a sixth of its width) is found through the zoom pass, at 96 px
    image = read_image(read_list(data_dir / "testImageList.txt").records[0])
    h, w = image.shape[:2]
    canvas = np.zeros((h * 3, w * 3, 3), np.uint8)
    canvas[h : 2 * h, w : 2 * w] = image
    found = small.detect(canvas)
    assert found and w <= found[0].box[0] < found[0].box[2] <= 2 * w and found[0].width * 96 / (3 * w) < small.zoom_below * 96


@pytest.mark.usefixtures("detector_models")
def test_a_file_or_grids_of_another_kind_are_refused_clearly():
    from edgemark.detect.model_files import model_path

    # the full-range file (192 px, stride 4) does not run at 96 px under XNNPACK
    variant = BlazeFaceVariant("blazeface-96", "face_detection_full_range_sparse.tflite", 96, short_range_grids(96), 0.5, {})
    with pytest.raises(EdgemarkError, match="does not run at 96 px"):
        BlazeFaceDetector(variant, model_file=model_path("face_detection_full_range_sparse.tflite"))
    # grids that do not give the file's anchor count at this size
    variant = BlazeFaceVariant("blazeface-96", "face_detection_short_range.tflite", 96, ((12, 2),), 0.5, {})
    with pytest.raises(EdgemarkError, match="504 anchors at 96 px, but the blazeface-96 detector decodes 288"):
        BlazeFaceDetector(variant)
