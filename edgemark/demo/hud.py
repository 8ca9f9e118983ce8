"""What the demo draws on each frame: landmarks, box, FPS, per-stage times, the model's
format and precision, pose and alerts."""

from __future__ import annotations

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


def text(frame, line: str, row: int, color=(255, 255, 255)) -> None:
    y = 18 + 18 * row
    cv2.putText(frame, line, (8, y), FONT, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(frame, line, (8, y), FONT, 0.5, color, 1, cv2.LINE_AA)


def draw_face(frame, box, points, detected: bool) -> None:
    if box is not None:
        l, t, r, b = (int(round(v)) for v in box)
        cv2.rectangle(frame, (l, t), (r, b), (0, 200, 255) if detected else (120, 120, 120), 1)
    if points is not None:
        for x, y in points:
            cv2.circle(frame, (int(round(x)), int(round(y))), 3, (0, 255, 0), -1, cv2.LINE_AA)


def draw_hud(frame, model_label: str, fps: float, stages: dict, lines: list[tuple[str, tuple]]) -> None:
    text(frame, f"{model_label}  {fps:5.1f} FPS", 0)
    text(frame, "  ".join(f"{k} {v:.1f} ms" for k, v in stages.items()), 1)
    for i, (line, color) in enumerate(lines):
        text(frame, line, 2 + i, color)


def unreadable_frame(shape) -> np.ndarray:
    frame = np.zeros(shape, np.uint8)
    text(frame, "unreadable frame", 2, (0, 0, 255))
    return frame
