"""Draw the face-filter overlays (RGBA PNGs) shipped in ``edgemark/demo/assets``.

Run ``python -m edgemark.demo.make_assets`` to draw them again. Each overlay comes with
anchor points: where, in the overlay's pixels, two landmarks of the 5-point scheme go.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

ASSETS = Path(__file__).parent / "assets"


def sunglasses() -> np.ndarray:
    im = np.zeros((80, 220, 4), np.uint8)
    for cx in (60, 160):
        cv2.ellipse(im, (cx, 40), (44, 30), 0, 0, 360, (30, 30, 30, 235), -1, cv2.LINE_AA)
        cv2.ellipse(im, (cx - 12, 30), (12, 7), -20, 0, 360, (120, 120, 120, 200), -1, cv2.LINE_AA)
        cv2.ellipse(im, (cx, 40), (44, 30), 0, 0, 360, (10, 10, 10, 255), 4, cv2.LINE_AA)
    cv2.line(im, (104, 34), (116, 34), (10, 10, 10, 255), 5, cv2.LINE_AA)
    cv2.line(im, (16, 32), (2, 26), (10, 10, 10, 255), 4, cv2.LINE_AA)
    cv2.line(im, (204, 32), (218, 26), (10, 10, 10, 255), 4, cv2.LINE_AA)
    return im


def moustache() -> np.ndarray:
    im = np.zeros((60, 180, 4), np.uint8)
    for sign in (-1, 1):
        pts = np.array([[90, 18], [90 + sign * 30, 12], [90 + sign * 62, 22], [90 + sign * 82, 8],
                        [90 + sign * 76, 34], [90 + sign * 50, 44], [90 + sign * 20, 38], [90, 30]], np.int32)
        cv2.fillPoly(im, [pts], (25, 35, 60, 245), cv2.LINE_AA)
    return im


def hat() -> np.ndarray:
    im = np.zeros((200, 260, 4), np.uint8)
    cv2.rectangle(im, (60, 10), (200, 170), (20, 20, 20, 250), -1)
    cv2.rectangle(im, (60, 130), (200, 155), (40, 40, 170, 250), -1)
    cv2.ellipse(im, (130, 175), (128, 22), 0, 0, 360, (20, 20, 20, 250), -1, cv2.LINE_AA)
    return im


# overlay -> (landmark indices of the 5-point scheme, their positions in the overlay)
ANCHORS = {
    "sunglasses": {"points": [0, 1], "at": [[60, 40], [160, 40]]},
    "moustache": {"points": [3, 4], "at": [[35, 40], [145, 40]]},
    "hat": {"points": [0, 1], "at": [[75, 290], [185, 290]]},
}


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    for name, draw in (("sunglasses", sunglasses), ("moustache", moustache), ("hat", hat)):
        cv2.imwrite(str(ASSETS / f"{name}.png"), draw())
    (ASSETS / "anchors.json").write_text(json.dumps(ANCHORS, indent=2) + "\n")


if __name__ == "__main__":
    main()
