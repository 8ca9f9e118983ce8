"""Face filters: overlays placed by a similarity transform (rotation, uniform scale,
translation) from two anchor points in the overlay to two landmarks of the face: the
5 labelled CUHK points (eye centres, mouth corners), from any scheme that labels them
(cuhk5, drive23)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..errors import EdgemarkError
from ..head_pose import FIVE_NAMES, labelled_five

ASSETS = Path(__file__).parent / "assets"


class FaceFilters:
    def __init__(self, scheme, names=("hat", "sunglasses", "moustache")):
        five = labelled_five(scheme)
        if five is None:
            raise EdgemarkError(f"the shipped filters are anchored on the 5 labelled CUHK points ({', '.join(FIVE_NAMES)}); "
                                f"this model's {scheme.num_points}-point {scheme.name} scheme does not label them "
                                "(cuhk5 and drive23 do)")
        anchors = json.loads((ASSETS / "anchors.json").read_text())
        self.overlays = []
        for name in names:
            image = cv2.imread(str(ASSETS / f"{name}.png"), cv2.IMREAD_UNCHANGED)
            if image is None or image.shape[2] != 4:
                raise EdgemarkError(f"{ASSETS / name}.png: missing or not an RGBA overlay")
            # anchors.json names points of the 5-point scheme: the same points of this one
            self.overlays.append((name, image, np.float32(anchors[name]["at"]), [five[i] for i in anchors[name]["points"]]))

    def apply(self, frame: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Blend every overlay into ``frame`` in place; only the region it covers is touched."""
        h, w = frame.shape[:2]
        for _, overlay, at, idx in self.overlays:
            m, _ = cv2.estimateAffinePartial2D(at, np.float32(points[idx]))
            if m is None:
                continue
            oh, ow = overlay.shape[:2]
            corners = np.float32([[0, 0], [ow, 0], [0, oh], [ow, oh]]) @ m[:, :2].T + m[:, 2]
            x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, [w, h])
            x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 1, 0, [w, h])
            if x1 <= x0 or y1 <= y0:
                continue
            shifted = m.copy()
            shifted[:, 2] -= (x0, y0)
            warped = cv2.warpAffine(overlay, shifted, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
            alpha = warped[:, :, 3:4].astype(np.float32) / 255.0
            roi = frame[y0:y1, x0:x1]
            roi[:] = (roi.astype(np.float32) * (1 - alpha) + warped[:, :, :3].astype(np.float32) * alpha).astype(np.uint8)
        return frame
