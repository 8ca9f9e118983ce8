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
from ..preprocess import crop_face, normalised_to_image


def textured(frame: np.ndarray, box, min_std: float = 12.0) -> bool:
    """Whether the box covers something with detail; a blank wall or a covered lens does
    not. The landmark model always answers, so tracking needs this check to notice that
    the face has gone between two detections."""
    h, w = frame.shape[:2]
    l, t, r, b = (int(round(v)) for v in box)
    return _spread_at_least(frame, max(0, t), min(h, b), max(0, l), min(w, r), min_std)


def textured_crop(crop: np.ndarray, margin: float, min_std: float = 12.0) -> bool:
    """``textured`` on the landmark model's crop, over the box it was cut around (the
    central ``1 / (1 + margin)`` of the crop): the crop is small and in cache, the frame
    region is neither (0.004 against 0.018 ms for a 190 px face on a 640x480 frame)."""
    size = crop.shape[0]
    inset = int(round((size - size / (1.0 + margin)) / 2))
    return _spread_at_least(crop, inset, size - inset, inset, size - inset, min_std)


def _spread_at_least(image: np.ndarray, top: int, bottom: int, left: int, right: int, min_std: float) -> bool:
    """Whether the standard deviation over every pixel and channel of the region reaches
    ``min_std``: one OpenCV pass over the region seen as one channel (rows of w x channels
    values; numpy's std converts it to float64 first: 5x the time)."""
    if bottom <= top or right <= left:
        return False
    channels = 1 if image.ndim == 2 else image.shape[2]
    rows = image.reshape(image.shape[0], -1)[top:bottom, left * channels : right * channels]
    return float(cv2.meanStdDev(rows)[1][0, 0]) >= min_std


def plausible(points: np.ndarray, box, interocular: tuple[int, int]) -> bool:
    """Landmarks that still look like a face in this box: eyes apart by a sane share of
    the box, the box centre near the landmarks."""
    side = max(box[2] - box[0], box[3] - box[1])
    a, b = interocular
    pts = points.tolist()  # plain Python on one face's points: no numpy call overhead
    (ax, ay), (bx, by) = pts[a], pts[b]
    iod = math.hypot(ax - bx, ay - by)
    centre = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
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
        """``predictor.predict`` on the tracked crop, its three steps spelled out so that the
        texture check reads the crop while it is still in cache (after the model's invoke it
        is not: 0.003 against 0.010 ms)."""
        box, angle = self.roi
        predictor = self.pipeline.predictor
        size, margin = predictor.crop.size, predictor.crop.margin
        crop, m = crop_face(frame, box, size, margin, angle)
        has_texture = textured_crop(crop, margin)
        points = normalised_to_image(predictor.predict_crops(crop)[0], m, size)
        return self._keep(points, box, has_texture)

    def _keep(self, points, box, has_texture: bool):
        """Keep a face whose landmarks look like one on something textured; set the next
        frame's crop from them."""
        self.roi_box = box
        if not (has_texture and plausible(points, box, self.pipeline.scheme.interocular)):
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
            points = self._keep(face.landmarks, face.crop_box, textured(frame, face.crop_box))
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
