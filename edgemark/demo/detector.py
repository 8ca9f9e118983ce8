"""Face detectors, with their boxes mapped to the box convention the model was trained on.

Haar (the cascade shipped inside opencv-python) is the default; YuNet
(``cv2.FaceDetectorYN``) when the user passes its ONNX model file. A Haar box is tighter
and higher than a CUHK training box: measured on 588 of 600 random CUHK training faces
(Haar found the face), the CUHK box centre sits at (-0.011, +0.061) Haar widths from the
Haar centre and its side is 0.765 Haar widths (medians). ``to_training_box`` applies that.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import EdgemarkError

Box = tuple[float, float, float, float]
HAAR_TO_CUHK = {"dx": -0.011, "dy": 0.061, "side": 0.765}


def to_training_box(x: float, y: float, w: float, h: float, rule: dict) -> Box:
    cx, cy = x + w / 2 + rule["dx"] * w, y + h / 2 + rule["dy"] * w
    half = rule["side"] * w / 2
    return (cx - half, cy - half, cx + half, cy + half)


class HaarDetector:
    name = "haar"

    def __init__(self, min_size: int = 40):
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise EdgemarkError(f"cannot load the Haar cascade {path} (opencv-python ships it in versions before 5)")
        self.min_size = min_size

    def detect(self, frame_bgr: np.ndarray) -> list[Box]:
        grey = cv2.equalizeHist(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY))
        faces = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(self.min_size, self.min_size))
        boxes = [to_training_box(*map(float, f), HAAR_TO_CUHK) for f in faces]
        return sorted(boxes, key=lambda b: -(b[2] - b[0]))  # largest first


class YuNetDetector:
    """cv2.FaceDetectorYN; its boxes are mapped with the same rule as Haar's (the
    training-box relation for YuNet was not measured here)."""

    name = "yunet"

    def __init__(self, model_file: Path, score_threshold: float = 0.7):
        if not Path(model_file).is_file():
            raise EdgemarkError(f"{model_file}: YuNet model file not found")
        try:
            self.net = cv2.FaceDetectorYN.create(str(model_file), "", (320, 320), score_threshold)
        except cv2.error as e:
            raise EdgemarkError(f"{model_file}: not a YuNet model OpenCV can load ({str(e).strip().splitlines()[-1]})") from None

    def detect(self, frame_bgr: np.ndarray) -> list[Box]:
        h, w = frame_bgr.shape[:2]
        self.net.setInputSize((w, h))
        _, faces = self.net.detect(frame_bgr)
        if faces is None:
            return []
        boxes = [to_training_box(float(f[0]), float(f[1]), float(f[2]), float(f[3]), HAAR_TO_CUHK) for f in faces]
        return sorted(boxes, key=lambda b: -(b[2] - b[0]))
