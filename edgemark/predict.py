"""Landmarks for one image file: the first check on a device. Torch-free."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import EdgemarkError


def read_image_file(path) -> np.ndarray:
    data = np.fromfile(str(path), np.uint8) if Path(path).is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        raise EdgemarkError(f"{path}: not found or not an image OpenCV can decode")
    return image


def find_box(image: np.ndarray, box: tuple | None) -> tuple[tuple, str]:
    """The given box, else the largest Haar face, else the whole image."""
    if box is not None:
        return tuple(float(v) for v in box), "given"
    from .demo.detector import HaarDetector

    faces = HaarDetector().detect(image)
    if faces:
        return faces[0], "haar"
    h, w = image.shape[:2]
    return (-0.5, -0.5, w - 0.5, h - 0.5), "whole image"


def predict_image(predictor, path, box: tuple | None = None, out=None) -> dict:
    image = read_image_file(path)
    box, how = find_box(image, box)
    points = predictor.predict(image, box)
    if out is not None:
        drawn = image.copy()
        l, t, r, b = (int(round(v)) for v in box)
        cv2.rectangle(drawn, (l, t), (r, b), (0, 200, 255), 1)
        for x, y in points:
            cv2.circle(drawn, (int(round(x)), int(round(y))), 3, (0, 255, 0), -1, cv2.LINE_AA)
        if not cv2.imwrite(str(out), drawn):
            raise EdgemarkError(f"{out}: cannot write the drawn image there")
    return {"image": str(path), "box": [round(v, 2) for v in box], "box_from": how,
            "landmarks": {name: [round(float(x), 2), round(float(y), 2)] for name, (x, y) in zip(predictor.scheme.names, points)}}
