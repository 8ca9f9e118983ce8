"""What every face detector returns: a ``Detection`` per face, in image pixels (pixel
centres at integer coordinates, as in ``edgemark.preprocess``), largest first.

A detector's box is its own convention (tighter, higher or wider than the boxes the
landmark model was trained on). Each detector therefore carries a *training-box rule*,
measured on the CUHK training list (``python -m edgemark.detect.measure``), that maps
its output to the box convention of the training set: from the keypoints when it gives
them (more stable than its box), else from the box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..preprocess import Box, box_from_landmarks, upright_box_from_landmarks


@dataclass
class Detection:
    box: Box  # left, top, right, bottom in image pixels, as the detector drew it
    score: float
    keypoints: np.ndarray | None = None  # (P, 2) image pixels, or None
    keypoint_names: tuple[str, ...] = field(default=())
    # the training-box rule of the detector that found this face, when a detector combines
    # detectors whose rules differ (``FallbackDetector``); None: the detector's own rule
    box_rule: dict | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


def holds(box: Box, point) -> bool:
    """Whether the box (left, top, right, bottom) holds the point (x, y)."""
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def box_rule_from_box(box: Box, rule: dict) -> Box:
    """A training-convention box from a detector box: centre moved by (dx, dy) and side
    scaled by ``side``, all in units of the detector box's width."""
    left, top, right, bottom = box
    w = right - left
    cx, cy = (left + right) / 2 + rule["dx"] * w, (top + bottom) / 2 + rule["dy"] * w
    half = rule["side"] * w / 2
    return (cx - half, cy - half, cx + half, cy + half)


def training_box(detection: Detection, rule: dict, upright: bool = False) -> tuple[Box, float]:
    """The box to crop by, in the training set's convention, and the crop angle.
    ``rule["from"]`` says what the rule is measured from: ``keypoints`` (the indices in
    ``rule["keypoints"]``, through ``edgemark.preprocess.box_from_landmarks``) or ``box``.
    With ``upright`` and eye keypoints (``rule["eyes"]``, indices into the chosen keypoints),
    the box is laid out in the face's own frame and the angle levels the eyes."""
    if rule["from"] == "keypoints" and detection.keypoints is not None:
        points = detection.keypoints[list(rule["keypoints"])]
        if upright and rule.get("eyes"):
            return upright_box_from_landmarks(points, rule, tuple(rule["eyes"]))
        return box_from_landmarks(points, rule), 0.0
    return box_rule_from_box(detection.box, rule), 0.0


def largest_first(detections: list[Detection]) -> list[Detection]:
    return sorted(detections, key=lambda d: -d.width)
