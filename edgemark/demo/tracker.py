"""Detect-then-track: the detector runs on the first frame, every ``detect_every``
frames, and whenever tracking is lost; in between, the next box is derived from the
last landmarks by the box rule stored in the model's manifest (the same rule the
training set shows between boxes and landmarks)."""

from __future__ import annotations

import numpy as np

from ..preprocess import box_from_landmarks


def textured(frame: np.ndarray, box, min_std: float = 12.0) -> bool:
    """Whether the box covers something with detail; a blank wall or a covered lens does
    not. The landmark model always answers, so tracking needs this check to notice that
    the face has gone between two detections."""
    h, w = frame.shape[:2]
    l, t, r, b = (int(round(v)) for v in box)
    region = frame[max(0, t) : min(h, b), max(0, l) : min(w, r)]
    return region.size > 0 and float(region.std()) >= min_std


def plausible(points: np.ndarray, box, interocular: tuple[int, int]) -> bool:
    """Landmarks that still look like a face in this box: eyes apart by a sane share of
    the box, the box centre near the landmarks."""
    side = max(box[2] - box[0], box[3] - box[1])
    a, b = interocular
    iod = float(np.linalg.norm(points[a] - points[b]))
    centre = points.mean(axis=0)
    inside = (box[0] <= centre[0] <= box[2]) and (box[1] <= centre[1] <= box[3])
    return inside and 0.12 * side < iod < 0.8 * side


class FaceTracker:
    def __init__(self, detector, box_rule: dict, interocular: tuple[int, int], detect_every: int = 10):
        self.detector, self.box_rule, self.interocular = detector, box_rule, interocular
        self.detect_every = max(1, detect_every)
        self.box = None
        self.since_detect = 0

    def next_box(self, frame) -> tuple[tuple | None, bool]:
        """The box for this frame and whether the detector ran for it."""
        if self.box is None or self.since_detect >= self.detect_every or not self.box_rule:
            boxes = self.detector.detect(frame)
            self.since_detect = 0
            self.box = boxes[0] if boxes else None  # the detector decides whether a face is there
            return self.box, True
        self.since_detect += 1
        return self.box, False

    def update(self, frame: np.ndarray, points: np.ndarray | None, box) -> bool:
        """Feed this frame's landmarks; False (and a fresh detection next) when lost."""
        if points is None or not plausible(points, box, self.interocular) or not textured(frame, box):
            self.box = None
            return False
        if self.box_rule:
            self.box = box_from_landmarks(points, self.box_rule)
        return True
