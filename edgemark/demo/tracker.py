"""Detect, then track (MediaPipe's scheme): the detector finds the face on the first
frame, every ``detect_every`` frames, and whenever tracking is lost; in between, each
frame's crop (box and angle, upright) comes from the last frame's landmarks by the
model's box rule (``Pipeline.next_roi``). A scheduled re-detection that finds nothing
does not end the track while the tracked landmarks still look like a face: detectors
miss turned heads, exactly when a driver looks away."""

from __future__ import annotations

import math
import time

import cv2
import numpy as np

from ..detect.detection import holds


def textured(frame: np.ndarray, box, min_std: float = 12.0) -> bool:
    """Whether the box covers something with detail; a blank wall or a covered lens does
    not. The landmark model always answers, so tracking needs this check to notice that
    the face has gone between two detections."""
    h, w = frame.shape[:2]
    l, t, r, b = (int(round(v)) for v in box)
    region = frame[max(0, t) : min(h, b), max(0, l) : min(w, r)]
    if region.size == 0:
        return False
    # the standard deviation over every pixel and channel, from OpenCV's per-channel mean and
    # deviation (one pass; numpy's std converts the region to float64 first: 5x the time)
    mean, dev = cv2.meanStdDev(region)
    mean, dev = mean.ravel().tolist(), dev.ravel().tolist()  # a few numbers: plain Python, no numpy call overhead
    overall = sum(mean) / len(mean)
    return sum(d * d + m * m for d, m in zip(dev, mean)) / len(mean) - overall ** 2 >= min_std ** 2


def plausible(points: np.ndarray, box, interocular: tuple[int, int]) -> bool:
    """Landmarks that still look like a face in this box: eyes apart by a sane share of
    the box, the box centre near the landmarks."""
    side = max(box[2] - box[0], box[3] - box[1])
    a, b = interocular
    (ax, ay), (bx, by) = points[a].tolist(), points[b].tolist()  # plain Python on two points: no numpy call overhead
    iod = math.hypot(ax - bx, ay - by)
    centre = points.mean(axis=0)
    return holds(box, centre) and 0.12 * side < iod < 0.8 * side


class FaceTracker:
    def __init__(self, pipeline, detect_every: int = 10):
        self.pipeline = pipeline
        self.detect_every = max(1, detect_every)
        self.roi = None  # (box, angle) for the next frame, from this frame's landmarks
        self.since_detect = 0
        self.detect_ms = 0.0  # detector time on the last frame (0 when it did not run)

    def step(self, frame: np.ndarray) -> tuple[np.ndarray | None, tuple | None, bool]:
        """Landmarks of the tracked face on this frame (None: no face), the box they came
        from, and whether the detector ran."""
        self.detect_ms = 0.0
        if self.roi is not None and self.since_detect < self.detect_every - 1:
            self.since_detect += 1
            points = self._follow(frame)
            if points is not None:
                return points, self.roi_box, False
        return self._detect(frame)

    def _follow(self, frame):
        box, angle = self.roi
        points = self.pipeline.predictor.predict(frame, box, angle)
        return self._keep(frame, points, box)

    def _keep(self, frame, points, box):
        """Keep a face whose landmarks look like one; set the next frame's crop from them."""
        self.roi_box = box
        if not (plausible(points, box, self.pipeline.scheme.interocular) and textured(frame, box)):
            self.roi = None
            return None
        self.roi = self.pipeline.next_roi(points) if self.pipeline.box_rule else (box, 0.0)
        return points

    def _detect(self, frame):
        t0 = time.perf_counter()
        detections = self.pipeline.detector.detect(frame)
        self.detect_ms = (time.perf_counter() - t0) * 1000
        self.since_detect = 0
        if detections:
            detection = self._pick(detections)
            face = self.pipeline.face(frame, detection)
            points = self._keep(frame, face.landmarks, face.crop_box)
            return points, face.crop_box, True
        if self.roi is not None:  # a re-detection missed the face: keep following while it looks like one
            points = self._follow(frame)
            return points, (self.roi_box if points is not None else None), True
        return None, None, True

    def _pick(self, detections):
        """The tracked face's detection (nearest to the current crop) or, with none, the largest."""
        if self.roi is None:
            return detections[0]
        (l, t, r, b), _ = self.roi
        cx, cy = (l + r) / 2, (t + b) / 2
        return min(detections, key=lambda d: np.hypot((d.box[0] + d.box[2]) / 2 - cx, (d.box[1] + d.box[3]) / 2 - cy))
