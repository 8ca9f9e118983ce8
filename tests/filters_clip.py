"""Build a face-filters test clip from real CUHK test photos: a face with a closed mouth
drifting right, a face with a wide-open mouth drifting left, a face turned to the image's
left, each held for 1.5 s at 10 frames per second on a 640x480 frame.

The faces were chosen by MediaPipe's face mesh (the dense68 model's teacher, as in
``tests/drive_clip.py``), never by a model under test: line 54 has a closed mouth (mouth
aspect ratio 0.01), line 2 a mouth opened wide (0.53), line 1856 a head turned about 60
degrees (file name ``_-60_...``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgemark.data.lists import read_list

FPS = 10
CLOSED, OPEN, TURNED = 54, 2, 1856  # test-list line numbers
DRIFT = 3  # pixels a frame
# (test-list line, frames, horizontal drift in pixels a frame)
SEGMENTS = [(CLOSED, 15, DRIFT), (OPEN, 15, -DRIFT), (TURNED, 15, 0)]
TOTAL = sum(n for _, n, _ in SEGMENTS)


def segment_of(frame: int) -> tuple[int, int]:
    """(test-list line, frame index inside its segment) of a clip frame."""
    for line, n, _ in SEGMENTS:
        if frame < n:
            return line, frame
        frame -= n
    raise IndexError(frame)


def frame_of(image: np.ndarray, dx: int) -> np.ndarray:
    """The photo on a 640x480 grey frame, shifted ``dx`` pixels (the demo clip's placement)."""
    from demo_video import _place

    return _place(image, np.zeros((0, 2)), dx)[0]


def build_clip(data_dir: Path, path: Path) -> Path:
    """The clip as an MJPG AVI (near-lossless at quality 95: the tests compare pixels)."""
    records = read_list(Path(data_dir) / "testImageList.txt").records
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (640, 480))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    for line, n, drift in SEGMENTS:
        image = cv2.imread(str(records[line - 1].image_path))
        for i in range(n):
            writer.write(frame_of(image, (i - n // 2) * drift))
    writer.release()
    return path
