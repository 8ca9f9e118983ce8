"""The robustness suite: each condition moves the labels with the photo, the suite's
given-box path is what `edgemark eval` measures, and the CLI writes its table and curves.
Real photos from the CUHK test list, the shipped int8 TFLite model, the pinned BlazeFace."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgemark import load_pipeline
from edgemark import pipeline as pipeline_module
from edgemark.data.lists import read_list
from edgemark.robustness import Condition, apply, head_turn

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "exported" / "mobilenetv2_96" / "tflite-int8"
pytestmark = pytest.mark.usefixtures("detector_models")


def nme(pred, truth):
    return float(np.linalg.norm(pred - truth, axis=1).mean() / np.linalg.norm(truth[0] - truth[1]))


@pytest.mark.parametrize("condition", [Condition("roll", 90), Condition("roll", 35), Condition("small", 16),
                                       Condition("scale", 1.8), Condition("shift", 0.2)])
def test_conditions_move_the_labels_with_the_photo(condition):
    """A dot drawn on each labelled point lands, after the change, where the changed labels say."""
    image = np.zeros((240, 320, 3), np.uint8)
    truth = np.array([[120.0, 100.0], [180.0, 104.0], [150.0, 140.0], [128.0, 170.0], [176.0, 172.0]])
    box = (100.0, 70.0, 200.0, 190.0)
    changed, new_box, new_truth = apply(condition, image, box, truth, (0, 1), np.random.default_rng(0), 1)
    for k, p in enumerate(truth):
        dotted = image.copy()
        cv2.circle(dotted, (int(p[0]), int(p[1])), 3, (255, 255, 255), -1)
        moved, _, _ = apply(condition, dotted, box, truth, (0, 1), np.random.default_rng(0), 1)
        ys, xs = np.nonzero(moved[..., 0] > 60)
        centre = np.array([np.average(xs, weights=moved[ys, xs, 0]), np.average(ys, weights=moved[ys, xs, 0])])
        assert np.linalg.norm(centre - new_truth[k]) < 1.5, (condition, k)
    if condition.group in ("scale", "shift"):
        side = lambda b: b[2] - b[0]  # noqa: E731
        assert changed is image and np.array_equal(new_truth, truth)
        assert side(new_box) == pytest.approx(side(box) * (condition.value if condition.group == "scale" else 1))
    if condition.group == "roll":  # the eye line turns by the angle
        turned = np.degrees(np.arctan2(*(new_truth[1] - new_truth[0])[::-1])) - np.degrees(np.arctan2(*(truth[1] - truth[0])[::-1]))
        assert abs((turned + condition.value + 180) % 360 - 180) < 0.5  # cv2 turns counter-clockwise


def test_head_turn_grows_with_the_nose_offset_along_the_eye_line():
    frontal = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 6.0], [1.0, 10.0], [9.0, 10.0]])
    turned = frontal.copy()
    turned[2, 0] += 3.0
    c, s = np.cos(0.7), np.sin(0.7)
    rolled = turned @ np.array([[c, -s], [s, c]]).T  # rolling the face does not change its turn
    assert head_turn(frontal, (0, 1), 2) == pytest.approx(0.0)
    assert head_turn(turned, (0, 1), 2) == pytest.approx(0.3) == head_turn(rolled, (0, 1), 2)


def test_a_crop_cut_at_the_wrong_angle_is_cut_again(data_dir, monkeypatch):
    """Upright crops turned 50 degrees off (a detector's eye keypoints drift on faces on
    their side): the landmarks show the eye line still turned, and the pipeline crops again."""
    records = read_list(data_dir / "testImageList.txt").records[1:7]
    pipe = load_pipeline(MODEL, detector=None, threads=1)

    def mean_nme():
        errors = []
        for r in records:
            roi = pipe.next_roi(r.landmarks)
            points, last = pipe.landmarks(cv2.imread(str(r.image_path)), (roi[0], roi[1] + 50), refine=0)
            errors.append(nme(points, r.landmarks))
        return float(np.mean(errors))

    fixed = mean_nme()
    monkeypatch.setattr(pipeline_module, "ROLL_RETRIES", 0)
    kept = mean_nme()
    assert fixed < 0.05 and kept > 2 * fixed


def test_robustness_suite_cli(small_lists, tmp_path):
    """What a user types: the suite on the first faces of a list, with the shipped model."""
    out = tmp_path / "rob"
    done = subprocess.run([sys.executable, "-m", "edgemark", "robustness", "--model", str(MODEL), "--list",
                           str(small_lists / "testImageList.txt"), "--faces", "6", "--threads", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=os.environ)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "robustness.json").read_text())
    rows = {(r["group"], r["value"]): r for r in result["rows"]}
    assert result["faces"] == 6
    groups = {g for g, _ in rows}
    assert groups == {"none", "scale", "shift", "roll", "small", "jpeg", "motion_blur", "defocus", "gamma", "occlusion", "detector"}
    assert set(rows[("none", 0)]) >= {"box", "refined", "detector"} and "detector" not in rows[("scale", 2.0)]
    assert {v for g, v in rows if g == "detector"} == {"blazeface-full", "haar"}
    # the given-box path is what `edgemark eval` measures on the same faces
    from edgemark.evaluate import evaluate
    from edgemark.predictors.load import load_predictor

    faces = read_list(small_lists / "testImageList.txt")
    faces.records = faces.records[:6]
    assert rows[("none", 0)]["box"]["nme"] == pytest.approx(evaluate(load_predictor(MODEL, threads=1), faces)["nme"], abs=1e-6)
    # a box twice too large: refinement recovers what one pass loses
    assert rows[("scale", 2.0)]["refined"]["nme"] < 0.5 * rows[("scale", 2.0)]["box"]["nme"]
    assert result["turn_bins"] and sum(b["faces"] for b in result["turn_bins"]) == 6
    table = (out / "robustness.md").read_text()
    assert "| roll 90 |" in table and "Command: `edgemark robustness" in table
    for group in ("scale", "roll", "small", "jpeg", "gamma"):
        assert cv2.imread(str(out / f"robustness_{group}.png")) is not None


@pytest.mark.parametrize("quarter", [1, 2, 3])
def test_anyroll_detector_finds_faces_on_their_side(data_dir, quarter):
    """A photo turned by 90, 180 or 270 degrees: the any-roll detector maps the keypoints of
    its best run back onto the eyes, and the pipeline's landmarks hold."""
    r = read_list(data_dir / "testImageList.txt").records[5]
    image = cv2.imread(str(r.image_path))
    h, w = image.shape[:2]
    turned = np.ascontiguousarray(np.rot90(image, quarter))
    truth = r.landmarks.astype(np.float64)
    for _ in range(quarter):  # a counter-clockwise turn: (x, y) -> (y, W - 1 - x)
        truth = np.stack([truth[:, 1], (w if _ % 2 == 0 else h) - 1 - truth[:, 0]], axis=1)
    pipe = load_pipeline(MODEL, detector="blazeface-anyroll", threads=1)
    faces = pipe(turned)
    assert faces
    best = min(faces, key=lambda f: nme(f.landmarks, truth))
    assert nme(best.landmarks, truth) < 0.08
    eyes = best.keypoints[:2]  # BlazeFace: the subject's right eye (image left) first
    assert np.linalg.norm(eyes - truth[:2], axis=1).max() < 0.35 * np.linalg.norm(truth[0] - truth[1])
