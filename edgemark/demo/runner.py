"""The demo loop: read a frame, find the face and its landmarks (the pipeline's detector
and landmark model, tracked between detections), smooth, estimate head pose, run the mode (drive or filters), draw, write
the annotated video and the event log.

Outputs are written under temporary names and renamed when the run ends, so a file
named as asked is always complete; a killed run leaves its ``.partial`` files."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from ..errors import EdgemarkError
from .drive import DriveConfig, DriveMonitor
from .filters import FaceFilters
from .head_pose import camera_matrix, head_pose, pose_reference, reference_points
from .hud import draw_face, draw_hud, status_lines, unreadable_frame
from .smoothing import OneEuroFilter
from .tracker import FaceTracker


@dataclass
class DemoOptions:
    mode: str = "drive"  # drive | filters
    detect_every: int = 10
    smooth: bool = True
    min_cutoff: float = 1.5
    beta: float = 0.02
    out: Path | None = None
    events: Path | None = None
    window: bool = False
    max_frames: int | None = None
    focal: float | None = None
    drive: DriveConfig = DriveConfig()


def open_source(source: str):
    """(capture, is_live, fps, frame_count) for a webcam index, a file or a stream URL.

    Live (timed by the wall clock) means a camera, or a stream that states no length
    (RTSP, a live HTTP stream); a recorded clip is timed by its own frame rate wherever it
    comes from (a path, file://, or a URL to a file), so it gives the same events."""
    if source.startswith("file://"):
        from urllib.parse import unquote, urlparse

        source = unquote(urlparse(source).path)
    is_index = source.isdigit()
    if not is_index and "://" not in source and not Path(source).exists():
        raise EdgemarkError(f"{source}: video file not found")
    cap = cv2.VideoCapture(int(source) if is_index else source)
    if not cap.isOpened():
        raise EdgemarkError(f"{source}: cannot open this video source (not a video OpenCV can decode, or no such camera)")
    fps = cap.get(cv2.CAP_PROP_FPS)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if not is_index else -1
    live = is_index or count <= 0
    return cap, live, (fps if fps and fps > 0 else 30.0), count


class _PartialFile:
    """A path written as NAME.partial.EXT and renamed to NAME.EXT on success."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.partial = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def commit(self) -> None:
        if self.partial.exists():
            os.replace(self.partial, self.path)


def run_demo(pipeline, source: str, options: DemoOptions, on_frame=None) -> dict:
    """Run ``pipeline`` (``edgemark.pipeline.Pipeline``: detector + landmark model) over a
    video source."""
    predictor, scheme = pipeline.predictor, pipeline.scheme
    manifest = getattr(predictor, "manifest", {}) or {}
    label = f"{manifest.get('format', 'torch')} {manifest.get('precision', 'fp32')}"
    cap, live, fps, frame_count = open_source(source)
    tracker = FaceTracker(pipeline, options.detect_every)
    smoother = OneEuroFilter(options.min_cutoff, options.beta) if options.smooth else None
    monitor = DriveMonitor(scheme, options.drive) if options.mode == "drive" else None
    filters = FaceFilters(scheme) if options.mode == "filters" else None
    reference = pose_reference(scheme)  # the 5 points of the head pose, from any scheme that has them
    video = _PartialFile(options.out) if options.out else None
    log = _PartialFile(options.events) if options.events else None
    log_file = open(log.partial, "w") if log else None
    writer, window = None, options.window
    stage_ms = {"detect": 0.0, "landmarks": 0.0, "total": 0.0}
    summary = {"source": source, "model": label, "detector": pipeline.detector.name, "frames": 0, "unreadable_frames": 0, "detector_runs": 0, "frames_with_face": 0,
               "events": 0, "yaw": [], "event_kinds": {}}
    failures, index, start, fps_ema, shape = 0, 0, time.perf_counter(), 0.0, None
    stage_sum, timed = {"detect": 0.0, "landmarks": 0.0, "total": 0.0}, 0
    try:
        while options.max_frames is None or index < options.max_frames:
            ok, frame = cap.read()
            if not ok:
                if live or frame_count < 0 or index >= frame_count or failures >= 10 or shape is None:
                    break
                failures += 1  # a frame the decoder could not read, inside the file: keep the timeline
                frame = unreadable_frame(shape)
                summary["unreadable_frames"] += 1
                events = [{"time": round(index / fps, 3), "frame": index, "kind": "unreadable_frame"}]
                points = box = pose = None
                detected = False
            else:
                failures, shape = 0, frame.shape
                t = (time.perf_counter() - start) if live else index / fps
                t0 = time.perf_counter()
                points, box, detected = tracker.step(frame)
                t2 = time.perf_counter()
                t1 = t0 + tracker.detect_ms / 1000  # detector time; the rest of the step is landmarks
                summary["detector_runs"] += int(detected)
                if points is None:
                    if smoother:
                        smoother.reset()
                else:
                    summary["frames_with_face"] += 1
                    if smoother:
                        points = smoother(points, t)
                camera = camera_matrix(frame.shape[1], frame.shape[0], options.focal)
                pose = head_pose(reference_points(points, reference), camera) if points is not None and reference else None
                summary["yaw"].append(None if pose is None else round(pose[0], 2))
                events = monitor.update(t, index, points, pose) if monitor else []
                if filters and points is not None:
                    filters.apply(frame, points)
                t3 = time.perf_counter()
                for key, value in (("detect", t1 - t0), ("landmarks", t2 - t1), ("total", t3 - t0)):
                    stage_ms[key] = 0.9 * stage_ms[key] + 0.1 * value * 1000 if index else value * 1000
                    stage_sum[key] += value * 1000
                timed += 1
                fps_ema = 1000.0 / max(stage_ms["total"], 1e-3)
                draw_face(frame, box, None if filters else points, detected)
                draw_hud(frame, label, fps_ema, stage_ms, status_lines(monitor, pose, options.mode))
            for e in events:
                summary["events"] += 1
                summary["event_kinds"][e["kind"]] = summary["event_kinds"].get(e["kind"], 0) + 1
                if log_file:
                    log_file.write(json.dumps(e) + "\n")
                    log_file.flush()
            if video:
                if writer is None:
                    writer = cv2.VideoWriter(str(video.partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
                    if not writer.isOpened():
                        raise EdgemarkError(f"{options.out}: cannot write a video there")
                writer.write(frame)
            if window:
                shown = _show(frame)
                if shown == "quit":
                    index += 1
                    summary["frames"] = index
                    break
                window = shown == "ok"
            if on_frame:
                on_frame(index, frame_count)
            index += 1
            summary["frames"] = index
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        if log_file:
            log_file.close()
        if window:
            cv2.destroyAllWindows()
    if index == 0:
        raise EdgemarkError(f"{source}: no frame could be read")
    if video:
        video.commit()
    if log:
        log.commit()
    summary["stage_ms"] = {k: v / max(timed, 1) for k, v in stage_sum.items()}  # means over readable frames
    if monitor:
        summary["drive_off"] = list(monitor.off)
        if monitor.eyes:
            summary["blinks"] = monitor.eyes.blinks
            summary["eye_baseline"] = monitor.eyes.baseline
        if monitor.mouth:
            summary["yawns"] = monitor.mouth.yawns
    summary["wall_fps"] = index / (time.perf_counter() - start)
    return summary


def _show(frame) -> str:
    try:
        cv2.imshow("edgemark demo (q to quit)", frame)
        return "quit" if (cv2.waitKey(1) & 0xFF) == ord("q") else "ok"
    except cv2.error:
        return "nogui"  # an OpenCV build without GUI support (opencv-python-headless): go on headless
