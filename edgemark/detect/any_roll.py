"""Faces at any roll: a detector run on the frame as it is and turned by 90, 180 and 270
degrees, the detections mapped back and merged (the best-scoring one of each face kept).

BlazeFace finds faces rolled up to about 75 degrees with usable eye keypoints, the crop
is then turned upright by them; past that its eye keypoints drift (errors of 40-150
degrees at 90), so a face on its side gets a crop cut at the wrong angle. Each quarter
turn shows such a face within 45 degrees of upright to one of the four runs, and that run
scores it highest. Four detector runs per frame instead of one: an option
(``--detector blazeface-anyroll``), not the default."""

from __future__ import annotations

import numpy as np

from .detection import Detection, largest_first


class AnyRollDetector:
    def __init__(self, inner, iou_threshold: float = 0.3):
        self.inner, self.iou_threshold = inner, iou_threshold
        self.name = f"{inner.name}-anyroll"
        self.training_box_rule = inner.training_box_rule
        self.default_refine = getattr(inner, "default_refine", 1)
        self.description = f"{inner.description}, any roll (frame turned 0/90/180/270 degrees)"

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        h, w = frame_bgr.shape[:2]
        found = []
        for quarter in range(4):
            turned = np.ascontiguousarray(np.rot90(frame_bgr, quarter))  # counter-clockwise
            for d in self.inner.detect(turned):
                found.append(_unturned(d, quarter, w, h))
        kept: list[Detection] = []
        for d in sorted(found, key=lambda d: -d.score):
            if all(_iou(d.box, k.box) <= self.iou_threshold for k in kept):
                kept.append(d)
        return largest_first(kept)


def _unturned(d: Detection, quarter: int, w: int, h: int) -> Detection:
    """A detection in a frame turned ``quarter`` times counter-clockwise, in the frame's own pixels."""
    points = [np.array([[d.box[0], d.box[1]], [d.box[2], d.box[3]]], np.float64)]
    if d.keypoints is not None:
        points.append(np.asarray(d.keypoints, np.float64))
    for step in range(quarter):  # undo one counter-clockwise turn at a time: (x, y) = (W - 1 - y', x')
        size_w = w if (quarter - step - 1) % 2 == 0 else h  # W: the width of the frame before that turn
        points = [np.stack([size_w - 1 - p[:, 1], p[:, 0]], axis=1) for p in points]
    corners = points[0]
    box = (float(corners[:, 0].min()), float(corners[:, 1].min()), float(corners[:, 0].max()), float(corners[:, 1].max()))
    keypoints = points[1].astype(np.float32) if d.keypoints is not None else None
    return Detection(box, d.score, keypoints, d.keypoint_names)


def _iou(a, b) -> float:
    lt = np.maximum(a[:2], b[:2])
    rb = np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(np.asarray(rb) - np.asarray(lt), 0, None)))
    area = lambda x: max(0.0, x[2] - x[0]) * max(0.0, x[3] - x[1])  # noqa: E731
    return inter / max(area(a) + area(b) - inter, 1e-9)
