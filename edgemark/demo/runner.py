"""The demo loop: read a frame, find the face and its landmarks (the pipeline's detector
and landmark model, tracked between detections), smooth, estimate head pose, run the mode
(drive or filters), draw, write the annotated video and the event log.

Time: a camera, or a network stream that states no length, is timed by the wall clock; a
file (a path or file://, with or without a frame count: a raw MJPEG states none) and a
recorded clip reached by URL are timed by their own frame rate, frame i at i / fps, so a
clip gives the same events however fast it is processed.

Outputs are written under temporary names and renamed when the run ends, so a file
named as asked is always complete; a killed run leaves its ``.partial`` files."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import EdgemarkError
from ..head_pose import camera_matrix, pose_model
from .drive import DriveConfig, DriveMonitor
from .filters import FaceFilters
from .hud import draw_face, draw_hud, status_lines, unreadable_frame
from .smoothing import OneEuroFilter
from .tracker import FaceTracker

NEW_FACE_IOU = 0.3  # a new track whose box overlaps the last face's less than this is another face
MAX_UNREADABLE = 10  # consecutive unreadable frames inside a file before the run stops


@dataclass
class DemoOptions:
    mode: str = "drive"  # drive | filters
    filters: tuple[str, ...] = ()  # filters mode: these filters (default: the ones the model's scheme takes)
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

    Live (timed by the wall clock) means a camera, or a stream URL that states no length
    (RTSP, a live HTTP stream). A file is never live, even when it states no frame count
    (a raw MJPEG): it is timed by its frame rate, as a recorded clip reached by URL is."""
    if source.startswith("file://"):
        from urllib.parse import unquote, urlparse

        source = unquote(urlparse(source).path)
    is_index = source.isdigit()
    is_file = not is_index and "://" not in source
    if is_file and not Path(source).exists():
        raise EdgemarkError(f"{source}: video file not found")
    cap = cv2.VideoCapture(int(source) if is_index else source)
    if not cap.isOpened():
        raise EdgemarkError(f"{source}: cannot open this video source (not a video OpenCV can decode, or no such camera)")
    fps = cap.get(cv2.CAP_PROP_FPS)
    count = -1 if is_index else int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    live = is_index or (not is_file and count <= 0)
    return cap, live, (fps if fps and fps > 0 else 30.0), count


def read_frames(cap, live: bool, frame_count: int, max_frames: int | None):
    """(index, frame, readable) for each frame. A frame the decoder cannot read inside a
    file of known length keeps its place in the timeline (a blank frame, readable False);
    elsewhere (a camera, a stream, a file that states no length, past the end) a failed
    read ends the run."""
    index = failures = 0
    shape = None
    while max_frames is None or index < max_frames:
        ok, frame = cap.read()
        if ok:
            failures, shape = 0, frame.shape
            yield index, frame, True
        else:
            if live or frame_count < 0 or index >= frame_count or failures >= MAX_UNREADABLE or shape is None:
                return
            failures += 1
            yield index, unreadable_frame(shape), False
        index += 1


class _PartialFile:
    """A path written as NAME.partial.EXT and renamed to NAME.EXT on success."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.partial = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def commit(self) -> None:
        if self.partial.exists():
            os.replace(self.partial, self.path)


class _Outputs:
    """The annotated video, the event log (one JSON line per event) and the window."""

    def __init__(self, options: DemoOptions, fps: float):
        self.options, self.fps = options, fps
        self.video = _PartialFile(options.out) if options.out else None
        self.log = _PartialFile(options.events) if options.events else None
        self.log_file = open(self.log.partial, "w") if self.log else None
        self.writer, self.window = None, options.window

    def events(self, events: list[dict]) -> None:
        if self.log_file:
            for e in events:
                self.log_file.write(json.dumps(e) + "\n")
            self.log_file.flush()

    def frame(self, frame) -> bool:
        """Write and show the frame; False when the user quit the window."""
        if self.video:
            if self.writer is None:
                h, w = frame.shape[:2]
                self.writer = cv2.VideoWriter(str(self.video.partial), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
                if not self.writer.isOpened():
                    raise EdgemarkError(f"{self.options.out}: cannot write a video there")
            self.writer.write(frame)
        if self.window:
            shown = _show(frame)
            self.window = shown == "ok"
            return shown != "quit"
        return True

    def close(self, complete: bool) -> None:
        if self.writer is not None:
            self.writer.release()
        if self.log_file:
            self.log_file.close()
        if self.window:
            cv2.destroyAllWindows()
        if complete:
            for f in (self.video, self.log):
                if f:
                    f.commit()


def _iou(a, b) -> float:
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    union = np.prod(np.subtract(a[2:], a[:2])) + np.prod(np.subtract(b[2:], b[:2])) - inter
    return float(inter / union) if union > 0 else 0.0


class _Demo:
    """One run's state: the tracker, smoothing, head pose, the mode, the stage timings and
    the summary."""

    def __init__(self, pipeline, source: str, options: DemoOptions):
        predictor, scheme = pipeline.predictor, pipeline.scheme
        manifest = getattr(predictor, "manifest", {}) or {}
        self.label = f"{manifest.get('format', 'torch')} {manifest.get('precision', 'fp32')}"
        self.options = options
        self.tracker = FaceTracker(pipeline, options.detect_every)
        self.smoother = OneEuroFilter(options.min_cutoff, options.beta) if options.smooth else None
        self.monitor = DriveMonitor(scheme, options.drive) if options.mode == "drive" else None
        self.filters = FaceFilters(scheme, options.filters) if options.mode == "filters" else None
        self.pose = pose_model(scheme)  # the rigid points of the 68, else the 5 reference points (None: no pose)
        self.last_box = None  # the last tracked face's box
        self.stage_ms = {"detect": 0.0, "landmarks": 0.0, "total": 0.0}  # moving averages, for the HUD
        self.stage_sum, self.timed = {"detect": 0.0, "landmarks": 0.0, "total": 0.0}, 0
        self.loop_fps, self.last_start = 0.0, None  # frames per second of the whole loop, for the HUD
        self.summary = {"source": source, "model": self.label, "detector": pipeline.detector.name, "frames": 0,
                        "unreadable_frames": 0, "detector_runs": 0, "frames_with_face": 0, "events": 0, "yaw": [],
                        "event_kinds": {}}

    def tick(self) -> None:
        """A frame starts: the loop rate over everything (capture, decoding, inference,
        drawing, writing) since the previous one."""
        now = time.perf_counter()
        if self.last_start is not None:
            fps = 1.0 / max(now - self.last_start, 1e-6)
            self.loop_fps = fps if self.loop_fps == 0 else 0.9 * self.loop_fps + 0.1 * fps
        self.last_start = now

    def unreadable(self, index: int, t: float) -> list[dict]:
        self.summary["unreadable_frames"] += 1
        return [{"time": round(t, 3), "frame": index, "kind": "unreadable_frame"}]

    def landmarks(self, frame, t: float):
        """The tracked face's landmarks (smoothed), its box and whether the detector ran;
        tells the drive monitor when a new track is another face."""
        tracking = self.tracker.roi is not None
        t0 = time.perf_counter()
        points, box, detected = self.tracker.step(frame)
        t2 = time.perf_counter()
        t1 = t0 + self.tracker.detect_ms / 1000  # detector time; the rest of the step is landmarks
        self._time_stages(("detect", t1 - t0), ("landmarks", t2 - t1))
        self.summary["detector_runs"] += int(detected)
        if points is None:
            if self.smoother:
                self.smoother.reset()
            return None, box, detected
        self.summary["frames_with_face"] += 1
        if self.monitor and not tracking and self.last_box is not None and _iou(box, self.last_box) < NEW_FACE_IOU:
            self.monitor.new_face()
        self.last_box = box
        return (self.smoother(points, t) if self.smoother else points), box, detected

    def process(self, frame, index: int, t: float) -> list[dict]:
        """Landmarks, head pose, the mode, and the drawing, on one readable frame."""
        t0 = time.perf_counter()
        points, box, detected = self.landmarks(frame, t)
        pose = None
        if points is not None and self.pose:
            camera = camera_matrix(frame.shape[1], frame.shape[0], self.options.focal)
            pose = self.pose(points, camera)
        self.summary["yaw"].append(None if pose is None else round(pose[0], 2))
        events = self.monitor.update(t, index, points, pose) if self.monitor else []
        if self.filters and points is not None:
            self.filters.apply(frame, points)
        self._time_stages(("total", time.perf_counter() - t0))
        self.timed += 1
        draw_face(frame, box, None if self.filters else points, detected)
        pipeline_fps = 1000.0 / max(self.stage_ms["total"], 1e-3)
        draw_hud(frame, self.label, self.loop_fps, pipeline_fps, self.stage_ms,
                 status_lines(self.monitor, pose, self.options.mode))
        return events

    def _time_stages(self, *stages) -> None:
        for key, seconds in stages:
            ms = seconds * 1000
            self.stage_ms[key] = 0.9 * self.stage_ms[key] + 0.1 * ms if self.timed else ms
            self.stage_sum[key] += ms

    def count(self, events: list[dict]) -> None:
        for e in events:
            self.summary["events"] += 1
            self.summary["event_kinds"][e["kind"]] = self.summary["event_kinds"].get(e["kind"], 0) + 1

    def finish(self, frames: int, seconds: float) -> dict:
        s = self.summary
        s["frames"] = frames
        s["stage_ms"] = {k: v / max(self.timed, 1) for k, v in self.stage_sum.items()}  # means over readable frames
        if self.monitor:
            s["drive_off"] = list(self.monitor.off)
            if self.monitor.eyes:
                s["blinks"] = self.monitor.blinks
                s["eye_baseline"] = self.monitor.eyes.baseline
            if self.monitor.mouth:
                s["yawns"] = self.monitor.mouth.yawns
        s["wall_fps"] = frames / seconds
        return s


def run_demo(pipeline, source: str, options: DemoOptions, on_frame=None) -> dict:
    """Run ``pipeline`` (``edgemark.pipeline.Pipeline``: detector + landmark model) over a
    video source; return the run's summary."""
    cap, live, fps, frame_count = open_source(source)
    demo = _Demo(pipeline, source, options)
    outputs, frames, start, complete = None, 0, time.perf_counter(), False
    try:
        outputs = _Outputs(options, fps)
        for index, frame, readable in read_frames(cap, live, frame_count, options.max_frames):
            demo.tick()
            t = (time.perf_counter() - start) if live else index / fps
            events = demo.process(frame, index, t) if readable else demo.unreadable(index, t)
            demo.count(events)
            outputs.events(events)
            frames = index + 1
            if not outputs.frame(frame):
                break
            if on_frame:
                on_frame(index, frame_count)
        complete = frames > 0
    finally:
        cap.release()
        if outputs:
            outputs.close(complete)
    if frames == 0:
        raise EdgemarkError(f"{source}: no frame could be read")
    return demo.finish(frames, time.perf_counter() - start)


def _show(frame) -> str:
    try:
        cv2.imshow("edgemark demo (q to quit)", frame)
        return "quit" if (cv2.waitKey(1) & 0xFF) == ord("q") else "ok"
    except cv2.error:
        return "nogui"  # an OpenCV build without GUI support (opencv-python-headless): go on headless
