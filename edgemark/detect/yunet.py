"""YuNet (``cv2.FaceDetectorYN``, OpenCV Zoo, MIT licence) when the user gives its ONNX
file: a small CNN detector with five keypoints (eyes, nose tip, mouth corners)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import EdgemarkError
from .detection import Detection, largest_first

KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")  # the subject's right first (image left)


class YuNetDetector:
    name = "yunet"
    description = "YuNet (OpenCV FaceDetectorYN)"
    # Not measured here (no YuNet model file on this machine): the eyes, nose and mouth
    # corners span about the same face as the CUHK 5 points, so the landmark model's own
    # box rule is a close start, and refinement re-crops from its landmarks.
    default_refine = 1
    training_box_rule = {"from": "keypoints", "keypoints": [0, 1, 2, 3, 4], "eyes": [0, 1], "dx": -0.017, "dy": -0.016, "side": 1.78}

    def __init__(self, model_file: Path, score_threshold: float = 0.7):
        if not Path(model_file).is_file():
            raise EdgemarkError(f"{model_file}: YuNet model file not found (face_detection_yunet_2023mar.onnx from the OpenCV Zoo)")
        try:
            self.net = cv2.FaceDetectorYN.create(str(model_file), "", (320, 320), score_threshold)
        except cv2.error as e:
            raise EdgemarkError(f"{model_file}: not a YuNet model OpenCV can load ({str(e).strip().splitlines()[-1]})") from None

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        h, w = frame_bgr.shape[:2]
        self.net.setInputSize((w, h))
        _, faces = self.net.detect(frame_bgr)
        if faces is None:
            return []
        return largest_first([Detection((f[0], f[1], f[0] + f[2], f[1] + f[3]), float(f[14]),
                                        np.asarray(f[4:14], np.float32).reshape(5, 2), KEYPOINTS) for f in faces])
