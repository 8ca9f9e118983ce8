"""Build a real test video from CUHK faces whose file names encode the head yaw
(``_-60_...`` turned one way, ``_60_...`` the other): each face held for a while with a
small drift, frames without a face, and one frame whose bytes are destroyed in the file.

Faces are chosen by their ground-truth landmarks (head pose solved on the annotation)
and by the Haar detector finding them, never by the model under test."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgemark.data.lists import read_list
from edgemark.detect.haar import HaarDetector
from edgemark.head_pose import camera_matrix, head_pose

FPS = 10
# (first frame, frames, kind)
SEGMENTS = [(0, 20, "frontal"), (20, 25, "-60"), (45, 15, "none"), (60, 10, "frontal"), (70, 25, "60")]
CORRUPT_FRAME = 65
TOTAL = 95


def _place(image: np.ndarray, points: np.ndarray, dx: int = 0):
    canvas = np.full((480, 640, 3), 90, np.uint8)
    scale = 360 / max(image.shape[:2])
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    y, x = (480 - h) // 2, (640 - w) // 2 + dx
    canvas[y : y + h, x : x + w] = image
    return canvas, points * scale + [x, y]


def pick_face(data_dir: Path, kind: str, skip: int = 0):
    """A face of the given yaw tag whose annotated pose agrees with the tag and that Haar finds."""
    detector, camera = HaarDetector(), camera_matrix(640, 480)
    records = read_list(data_dir / "testImageList.txt").records
    found = 0
    for r in records:
        name = r.image_path.name
        if kind == "frontal" and (name.startswith("_") or name.split("_")[1] != "0"):
            continue
        if kind != "frontal" and not name.startswith(f"_{kind}_"):
            continue
        frame, points = _place(cv2.imread(str(r.image_path)), r.landmarks)
        pose = head_pose(points, camera)
        if pose is None or not detector.detect(frame):
            continue
        yaw, pitch = pose[0], pose[1]
        wanted = abs(yaw) < 10 and abs(pitch) < 15 if kind == "frontal" else yaw * int(kind) > 0 and abs(yaw) > 40 and abs(pitch) < 15
        if wanted:
            if found == skip:
                return r
            found += 1
    raise RuntimeError(f"no {kind} face found")


def build_video(data_dir: Path, path: Path) -> Path:
    """An MJPEG AVI of TOTAL frames at FPS; frame CORRUPT_FRAME's JPEG bytes are destroyed."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (640, 480))
    frontal_seen = 0
    for _, n, kind in SEGMENTS:
        if kind == "none":
            for _ in range(n):
                writer.write(np.full((480, 640, 3), 90, np.uint8))
            continue
        r = pick_face(data_dir, kind, skip=frontal_seen if kind == "frontal" else 0)
        frontal_seen += kind == "frontal"
        image = cv2.imread(str(r.image_path))
        for i in range(n):
            writer.write(_place(image, r.landmarks, dx=(i % 5) - 2)[0])  # a small drift keeps the tracker honest
    writer.release()
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 3) if data[i] == 0xFF and data[i + 1] == 0xD8 and data[i + 2] == 0xFF]
    s = starts[CORRUPT_FRAME]
    end = starts[CORRUPT_FRAME + 1] if CORRUPT_FRAME + 1 < len(starts) else len(data)
    data[s : s + (end - s) // 2] = bytes((end - s) // 2)
    path.write_bytes(bytes(data))
    return path
