"""OpenCV's Haar cascade (2001): the dependency-free fallback detector, shipped inside
opencv-python before 5.0. It misses turned and small faces and gives no keypoints."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import EdgemarkError
from .detection import Detection, largest_first


class HaarDetector:
    name = "haar"
    description = "OpenCV Haar cascade (frontal face)"
    # the CUHK training box from a Haar box: centre (-0.011, +0.061) Haar widths away, side 0.765
    # Haar widths (medians over the 588 of 600 random CUHK training faces that Haar found)
    default_refine = 1  # a box-only crop: one refinement pass, NME 4.14 -> 3.98 % (benchmarks/pipeline_study.md)
    training_box_rule = {"from": "box", "dx": -0.011, "dy": 0.061, "side": 0.765}

    def __init__(self, min_size: int = 40):
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise EdgemarkError(f"cannot load the Haar cascade {path} (opencv-python ships it in versions before 5)")
        self.min_size = min_size

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        grey = frame_bgr if frame_bgr.ndim == 2 else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        found = self.cascade.detectMultiScale3(cv2.equalizeHist(grey), scaleFactor=1.1, minNeighbors=5,
                                               minSize=(self.min_size, self.min_size), outputRejectLevels=True)
        faces, weights = found[0], found[2]
        return largest_first([Detection((x - 0.5, y - 0.5, x + w - 0.5, y + h - 0.5), float(s)) for (x, y, w, h), s
                              in zip(np.asarray(faces, float).reshape(-1, 4), np.asarray(weights, float).reshape(-1))])
