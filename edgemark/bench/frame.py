"""The frame the pipeline is timed on: 640x480 with one face, as a laptop camera sees a
person at arm's length (the first CUHK test photo scaled to 360 px high, centred on grey;
the eyes about 80 px apart). Detection time depends on the frame size, not on the data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FRAME_SIZE = (640, 480)


def place_in_frame(image: np.ndarray, height: int = 360, size=FRAME_SIZE) -> np.ndarray:
    w, h = size
    scale = height / image.shape[0]
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)[:h, :w]
    frame = np.full((h, w, 3), 100, np.uint8)
    y, x = (h - image.shape[0]) // 2, (w - image.shape[1]) // 2
    frame[y : y + image.shape[0], x : x + image.shape[1]] = image
    return frame


def bench_frame(data_dir: Path) -> np.ndarray:
    from ..data.images import read_image
    from ..data.lists import read_list

    return place_in_frame(read_image(read_list(Path(data_dir) / "testImageList.txt").records[0]))
