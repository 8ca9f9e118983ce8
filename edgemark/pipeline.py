"""From a photo or a frame to landmarks: detect every face, crop each by the detector's
training-box rule (from its keypoints where it gives them), predict landmarks, then
refine: re-crop from those landmarks with the model's own box rule (the one the training
set shows between boxes and landmarks) and predict again, ``refine`` times. The demo's
tracker runs the same steps, the next frame's box coming from this frame's landmarks
(MediaPipe's scheme: detector keypoints -> ROI -> landmarks -> next ROI).

    from edgemark import load_pipeline
    pipe = load_pipeline("mobilenetv2_96")         # a shipped model by name, or an artifact folder
    faces = pipe(image_bgr)                      # every face, largest first; [] when there is none
    faces = pipe(image_bgr, box=(l, t, r, b))    # a given box instead of the detector

Torch-free: the device runner uses it as is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .detect import DEFAULT_DETECTOR, Detection, load_detector, training_box
from .errors import EdgemarkError
from .preprocess import Box, box_from_landmarks, roll_angle, upright_box_from_landmarks

# Chosen on the validation faces of the CUHK training list (benchmarks/pipeline_study.md).
# Refinement passes after the first landmark pass: each detector states its own
# (``default_refine``: 0 after BlazeFace's keypoint crop, which already matches the training
# boxes; 1 after Haar's box); a given box, whose convention is unknown, gets 2 (a box 1.6x
# too large: 11.0 % NME unrefined, 4.5 % after 1 pass, 4.2 % after 2).
GIVEN_BOX_REFINE = 2
# Upright crops (turned so that the eyes are level): 30 degrees of roll 8.0 -> 3.9 % NME,
# 60 degrees 67 -> 4.0 %, upright faces unchanged.
DEFAULT_UPRIGHT = True
# An upright crop whose landmarks still show the eye line turned by more than this many
# degrees was cut at the wrong angle (a detector's eye keypoints drift on faces rolled past
# ~75 degrees): crop again by those landmarks, up to ROLL_RETRIES more passes. Costs nothing
# on faces that come out level.
ROLL_TOLERANCE = 10.0
ROLL_RETRIES = 3


@dataclass
class Face:
    box: Box  # the detector's box (or the given box), image pixels
    score: float  # the detector's score (1.0 for a given box)
    landmarks: np.ndarray  # (K, 2) image pixels
    crop_box: Box  # the box of the last landmark pass (training-box convention)
    crop_angle: float = 0.0  # and its angle (degrees; upright crops of rolled faces)
    keypoints: np.ndarray | None = None  # the detector's keypoints, image pixels

    def to_dict(self, names) -> dict:
        r = lambda v: round(float(v), 2)  # noqa: E731
        return {"box": [r(v) for v in self.box], "score": round(self.score, 4),
                "landmarks": {n: [r(x), r(y)] for n, (x, y) in zip(names, self.landmarks)}}


def check_box(box, image_shape=None) -> Box:
    """A usable box (left < right, top < bottom, finite) overlapping the image, or an error."""
    try:
        box = tuple(float(v) for v in box)
    except (TypeError, ValueError):
        raise EdgemarkError(f"box {box!r}: expected four numbers left, top, right, bottom") from None
    if len(box) != 4 or not all(np.isfinite(box)):
        raise EdgemarkError(f"box {box!r}: expected four finite numbers left, top, right, bottom")
    left, top, right, bottom = box
    if right - left < 1 or bottom - top < 1:
        raise EdgemarkError(f"box {box!r}: right must exceed left and bottom exceed top (by a pixel at least)")
    if image_shape is not None:
        from .data.lists import box_problem

        problem = box_problem(box, image_shape[1], image_shape[0])
        if problem:
            raise EdgemarkError(f"--box: {problem}")
    return box


class Pipeline:
    def __init__(self, predictor, detector, refine: int | None = None, upright: bool = DEFAULT_UPRIGHT):
        """``refine``: passes for every face (None: the measured defaults, see above)."""
        if refine is not None and refine < 0:
            raise EdgemarkError(f"refine must be 0 or more passes, not {refine}")
        self.predictor, self.detector, self.upright = predictor, detector, upright
        self.box_refine = GIVEN_BOX_REFINE if refine is None else refine
        self.refine = (getattr(detector, "default_refine", 1) if detector is not None else 0) if refine is None else refine
        self.box_rule = getattr(predictor, "box_rule", None) or {}
        self.scheme = predictor.scheme

    def __call__(self, image_bgr: np.ndarray, box: Box | None = None) -> list[Face]:
        """Every face in the image, largest first ([] when there is none); with ``box``,
        the one face in that box (the detector does not run)."""
        if box is not None:
            box = check_box(box, image_bgr.shape)
            points, roi = self.landmarks(image_bgr, (box, 0.0), self.box_refine)
            return [Face(box, 1.0, points, *roi)]
        if self.detector is None:
            raise EdgemarkError("this pipeline has no face detector: pass a box")
        return [self.face(image_bgr, d) for d in self.detector.detect(image_bgr)]

    def face(self, image_bgr: np.ndarray, detection: Detection, refine: int | None = None) -> Face:
        """Landmarks of one detection: crop by the detector's rule, then refine."""
        start = training_box(detection, detection.box_rule or self.detector.training_box_rule, self.upright)
        points, roi = self.landmarks(image_bgr, start, self.refine if refine is None else refine)
        return Face(detection.box, detection.score, points, *roi, keypoints=detection.keypoints)

    def landmarks(self, image_bgr: np.ndarray, roi: tuple[Box, float], refine: int) -> tuple[np.ndarray, tuple[Box, float]]:
        """Landmarks from the crop ``roi`` = (box, angle) after ``refine`` re-crops by the
        model's box rule, and the last (box, angle) used."""
        points = self.predictor.predict(image_bgr, *roi)
        for _ in range(refine if self.box_rule else 0):
            roi = self.next_roi(points)
            points = self.predictor.predict(image_bgr, *roi)
        if self.upright and self.box_rule:
            for _ in range(ROLL_RETRIES):
                io = self.scheme.interocular
                turned = (roll_angle(points[io[0]], points[io[1]]) - roi[1] + 180) % 360 - 180
                if abs(turned) <= ROLL_TOLERANCE:
                    break
                roi = self.next_roi(points)
                points = self.predictor.predict(image_bgr, *roi)
        return points, roi

    def next_roi(self, points: np.ndarray) -> tuple[Box, float]:
        """The box (and crop angle) the model was trained on around these landmarks: for
        refinement, and for the next frame while tracking."""
        if self.upright:
            return upright_box_from_landmarks(points, self.box_rule, self.scheme.interocular)
        return box_from_landmarks(points, self.box_rule), 0.0


def load_pipeline(model, detector: str | None = DEFAULT_DETECTOR, refine: int | None = None, upright: bool = DEFAULT_UPRIGHT,
                  threads: int | None = None, detector_file=None, device: str = "cpu", tta: str | None = None) -> Pipeline:
    """A pipeline for an exported artifact folder (or a checkpoint) with a face detector
    by name (``edgemark.detect.DETECTORS``; default BlazeFace short range; None: boxes are
    always given)."""
    from .predictors.load import load_predictor

    predictor = load_predictor(model, threads=threads, device=device, tta=tta)
    face_detector = load_detector(detector, threads=threads or 1, model_file=detector_file) if detector else None
    return Pipeline(predictor, face_detector, refine, upright)
