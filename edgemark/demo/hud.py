"""What the demo draws on each frame: landmarks, box, FPS (end to end, and the pipeline's
alone), per-stage times, the model's format and precision, pose and alerts."""

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


def fps_line(model_label: str, loop_fps: float, pipeline_fps: float) -> str:
    """The HUD's first line: the frame rate of the whole loop (capture, decoding, detector,
    landmarks, drive or filters, drawing, writing, showing) and, labelled apart, that of the
    pipeline alone (detector, landmarks, smoothing, head pose, drive or filters: the
    ``total`` of the stage line), which is what the model allows."""
    loop = "-" if loop_fps <= 0 else f"{loop_fps:.1f}"
    return f"{model_label}  {loop} FPS end to end  (pipeline only {pipeline_fps:.0f} FPS)"


def draw_hud(frame, model_label: str, loop_fps: float, pipeline_fps: float, stages: dict, lines: list[tuple[str, tuple]]) -> None:
    text(frame, fps_line(model_label, loop_fps, pipeline_fps), 0)
    text(frame, "  ".join(f"{k} {v:.1f} ms" for k, v in stages.items()), 1)
    for i, (line, color) in enumerate(lines):
        text(frame, line, 2 + i, color)


def unreadable_frame(shape) -> np.ndarray:
    frame = np.zeros(shape, np.uint8)
    text(frame, "unreadable frame", 2, (0, 0, 255))
    return frame


RED, GREEN, GREY, WHITE = (0, 0, 255), (0, 220, 0), (200, 200, 200), (255, 255, 255)


def status_lines(monitor, pose, mode: str) -> list[tuple[str, tuple]]:
    """The HUD's text under the FPS lines: head pose, then (drive mode) attention, eyes,
    mouth, and what this model's scheme cannot give."""
    lines = []
    if pose is not None:
        lines.append((f"yaw {pose[0]:+5.1f}  pitch {pose[1]:+5.1f}  roll {pose[2]:+5.1f}", WHITE))
    if mode != "drive" or monitor is None:
        return lines
    s, c = monitor.status, monitor.config
    if not s.get("face", False):
        lines.append(("NO FACE" if monitor.face_missing else "looking for a face", RED if monitor.face_missing else GREY))
    elif s.get("distracted"):
        lines.append(("DISTRACTED: eyes on the road", RED))
    else:
        lines.append(("attentive", GREEN))
    if s.get("eyes") == "learning":
        lines.append((f"EAR {s['ear']:.2f}  learning your open eyes {s['learnt_seconds']:.0f}/{c.baseline_seconds:.0f} s", GREY))
    elif s.get("eyes") == "on":
        closed = s["eyes_closed"]
        lines.append((f"{'EYES CLOSED  ' if closed else ''}EAR {s['ear_left']:.2f}/{s['ear_right']:.2f} "
                      f"(open {s['baseline'][0]:.2f}/{s['baseline'][1]:.2f})  closure {s['closure'] * 100:.0f}%",
                      RED if closed else (WHITE if s["closed"] else GREY)))
        warming = s["perclos_seconds"] < c.perclos_min_seconds
        rate = "-" if s["blink_rate"] is None else f"{s['blink_rate']:.0f}/min"
        last = "" if s["last_blink"] is None else f" last {s['last_blink']:.2f} s"
        lines.append((f"PERCLOS {s['perclos'] * 100:.0f}%{' (warming up)' if warming else ''}  blinks {s['blinks']} {rate}{last}",
                      RED if monitor.eyes.perclos_high else GREY))
    if "mar" in s:
        lines.append((f"{'YAWN  ' if s['yawning'] else ''}MAR {s['mar']:.2f}  yawns {s['yawns']}", RED if s["yawning"] else GREY))
    for line in monitor.off:
        lines.append((line, GREY))
    return lines
