"""Build a drowsiness test clip from real CUHK test photos: a face with open eyes held
for seconds, then faces whose eyes are shut, and a face with a wide-open mouth, each held
for seconds, at 10 frames per second on a 640x480 frame.

The faces were chosen by MediaPipe's face mesh (the drive23 model's teacher: `edgemark
data pseudo-label` on testImageList.txt, runs/pseudo/testImageList.drive23.json), never
by the model under test: lines 99 and 1087 have shut eyes (teacher EAR 0.10-0.13 both
eyes, mouth aspect ratio 0.22-0.25), line 2 a mouth opened wide (MAR 0.53, eyes open 0.26),
line 54 open eyes and a closed mouth (EAR 0.31, MAR 0.01). The test checks these teacher
figures again before it trusts the clip.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgemark.data.lists import read_list

FPS = 10
OPEN, SHUT_A, SHUT_B, YAWN = 54, 99, 1087, 2  # test-list line numbers
# (seconds, test-list line): 8 s open (the monitor learns the driver's open eyes over the
# first 5 s), 3 s shut, 4 s open, 3 s shut, 3 s open, 3 s mouth wide open, 16 s open (PERCLOS
# counts from the learnt baseline on and speaks once its window holds 30 s of face).
DROWSY = [(8, OPEN), (3, SHUT_A), (4, OPEN), (3, SHUT_B), (3, OPEN), (3, YAWN), (16, OPEN)]
ALERT = [(40, OPEN)]


def segment_starts(segments) -> list[tuple[int, int]]:
    """(first frame, line) of each segment."""
    out, frame = [], 0
    for seconds, line in segments:
        out.append((frame, line))
        frame += int(seconds * FPS)
    return out


def frame_of(record, image: np.ndarray) -> np.ndarray:
    canvas = np.full((480, 640, 3), 90, np.uint8)
    scale = 360 / max(image.shape[:2])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    y, x = (480 - h) // 2, (640 - w) // 2
    canvas[y : y + h, x : x + w] = small
    return canvas


def build_clip(data_dir: Path, path: Path, segments=DROWSY) -> Path:
    records = read_list(Path(data_dir) / "testImageList.txt").records
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (640, 480))
    for seconds, line in segments:
        r = records[line - 1]
        frame = frame_of(r, cv2.imread(str(r.image_path)))
        for _ in range(int(seconds * FPS)):
            writer.write(frame)
    writer.release()
    return path
