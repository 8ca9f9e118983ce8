"""The demo on a real video built from dataset faces, run headless with the shipped
exported model; plus its parts (head pose, smoothing, detector boxes, eye closure)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from demo_video import CORRUPT_FRAME, TOTAL, build_video
from edgemark import load_pipeline
from edgemark.detect.haar import HaarDetector
from edgemark.demo.drive import DriveMonitor, eye_aspect_ratio
from edgemark.head_pose import GENERIC_FACE_5, camera_matrix, head_pose
from edgemark.demo.runner import DemoOptions, run_demo
from edgemark.demo.smoothing import OneEuroFilter
from edgemark.scheme import load_scheme

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("detector_models")
MODEL = ROOT / "exported" / "mobilenetv2_96" / "tflite-int8"
DRIVE23 = ROOT / "exported" / "mobilenetv2_96_drive23" / "tflite-int8"


@pytest.fixture(scope="module")
def video(data_dir, tmp_path_factory):
    return build_video(data_dir, tmp_path_factory.mktemp("video") / "drive.avi")


def frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def test_drive_mode_end_to_end(video, tmp_path):
    out, events = tmp_path / "annotated.mp4", tmp_path / "events.jsonl"
    done = subprocess.run([sys.executable, "-m", "edgemark", "demo", "--model", str(MODEL), "--source", str(video),
                           "--out", str(out), "--events", str(events), "--no-window"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert frame_count(out) == TOTAL  # the unreadable frame keeps its place in the timeline
    log = [json.loads(line) for line in events.read_text().splitlines()]
    by_kind = {}
    for e in log:
        by_kind.setdefault(e["kind"], []).append(e)
        assert {"time", "frame", "kind"} <= set(e)
    # head turned (yaw tag -60) from frame 20: distraction after 1.5 s (15 frames) and a few frames to settle
    first, second = by_kind["distraction"][:2]
    assert 34 <= first["frame"] < 45 and first["yaw"] < -30
    # no face from frame 45: lost after 1 s; back at frame 60
    assert 54 <= by_kind["face_lost"][0]["frame"] < 60
    assert by_kind["face_back"][0]["frame"] == 60
    assert [e["frame"] for e in by_kind["unreadable_frame"]] == [CORRUPT_FRAME]
    # turned the other way (yaw tag +60) from frame 70
    assert 84 <= second["frame"] < TOTAL and second["yaw"] > 30
    assert "eye closure: off" in done.stdout


def test_yaw_sign_follows_the_faces(video):
    summary = run_demo(load_pipeline(MODEL), str(video), DemoOptions())
    yaw = summary["yaw"]
    assert summary["frames"] == TOTAL and summary["unreadable_frames"] == 1

    def median(a, b):
        values = [v for v in yaw[a:b] if v is not None]
        assert len(values) > (b - a) // 2
        return float(np.median(values))

    assert abs(median(0, 20)) < 25
    assert median(25, 45) < -25  # file names _-60_: turned towards the image's left
    assert median(75, 95) > 25  # _60_: towards the right
    assert all(v is None for v in yaw[55:59])  # no face


def test_filters_mode_draws_overlays_on_the_face(video, tmp_path):
    out = tmp_path / "filters.mp4"
    summary = run_demo(load_pipeline(MODEL), str(video), DemoOptions(mode="filters", out=out))
    assert summary["frames"] == TOTAL
    original, filtered = cv2.VideoCapture(str(video)), cv2.VideoCapture(str(out))
    for _ in range(11):
        _, a = original.read()
        _, b = filtered.read()
    diff = np.abs(a.astype(int) - b.astype(int)).sum(axis=2)
    changed = diff > 60
    ys, xs = np.nonzero(changed[60:])  # below the text lines
    assert changed.mean() > 0.02  # hat, sunglasses and moustache cover a visible area
    assert 200 < np.median(xs) < 440  # on the face, in the middle of the frame


def filtered_pixels(original: Path, filtered: Path, frame: int = 10) -> np.ndarray:
    """Where the filters changed a frame (below the HUD's text lines)."""
    a_cap, b_cap = cv2.VideoCapture(str(original)), cv2.VideoCapture(str(filtered))
    for _ in range(frame + 1):
        _, a = a_cap.read()
        _, b = b_cap.read()
    changed = np.abs(a.astype(int) - b.astype(int)).sum(axis=2) > 60
    changed[:100] = False
    return changed


def test_filters_take_the_drive23_model_and_draw_where_the_5_point_model_does(video, tmp_path):
    """Issue 29, item 6: drive23's first five points are the labelled CUHK five, so the
    filters take it (the CLI stopped with "anchored on the 5-point scheme"); its overlays
    land where the 5-point model's do."""
    if not (DRIVE23 / "manifest.json").is_file():
        pytest.fail(f"{DRIVE23} is not exported")
    out23, out5 = tmp_path / "filters23.mp4", tmp_path / "filters5.mp4"
    done = subprocess.run([sys.executable, "-m", "edgemark", "demo", "--model", str(DRIVE23), "--source", str(video), "--mode",
                           "filters", "--out", str(out23), "--no-window", "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert frame_count(out23) == TOTAL
    run_demo(load_pipeline(MODEL), str(video), DemoOptions(mode="filters", out=out5))
    for frame in (5, 10, 15):  # the frontal segment
        a, b = filtered_pixels(video, out5, frame), filtered_pixels(video, out23, frame)
        assert a.mean() > 0.02 and b.mean() > 0.02, frame
        centre_a, centre_b = (np.array(np.nonzero(m)).mean(axis=1) for m in (a, b))
        assert np.linalg.norm(centre_a - centre_b) < 15, (frame, centre_a, centre_b)  # px, on a face about 200 px wide
        assert (a & b).sum() / (a | b).sum() > 0.6, frame


def test_filters_refuse_a_scheme_without_the_five_labelled_points():
    """(ibug68 takes the dense filters since issue 33: tests/test_filters68.py.)"""
    from edgemark.demo.filters import FaceFilters
    from edgemark.errors import EdgemarkError

    FaceFilters(load_scheme("drive23"))
    with pytest.raises(EdgemarkError, match="anchored on the 5 labelled CUHK points.*98-point wflw98.*dense filters"):
        FaceFilters(load_scheme("wflw98"))


def no_face_clip(path: Path, frames: int = 30) -> Path:
    """A clip of a blank frame: an AVI at 10 fps, or a raw MJPEG (concatenated JPEGs: no
    frame rate, no frame count)."""
    blank = np.full((480, 640, 3), 90, np.uint8)
    if path.suffix == ".mjpeg":
        path.write_bytes(cv2.imencode(".jpg", blank)[1].tobytes() * frames)
    else:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
        for _ in range(frames):
            writer.write(blank)
        writer.release()
    return path


def test_a_raw_mjpeg_file_is_timed_by_its_frames_not_as_a_camera(tmp_path):
    """Issue 31, item 8: a file that states no frame count (a raw MJPEG) was timed by the
    processing speed, as a camera: the no-face clip gave face_lost as .avi and nothing as
    .mjpeg. A file is timed by its own frame rate (FFmpeg reads a raw MJPEG at 25 fps)."""
    from edgemark.demo.runner import open_source

    found = {}
    for name in ("clip.avi", "clip.mjpeg"):
        clip = no_face_clip(tmp_path / name)
        cap, live, fps, _ = open_source(str(clip))
        cap.release()
        assert not live, name
        events = tmp_path / f"{name}.jsonl"
        summary = run_demo(load_pipeline(MODEL), str(clip), DemoOptions(events=events))
        assert summary["frames"] == 30, name
        found[name] = (fps, [e for e in map(json.loads, events.read_text().splitlines())])
    for name, (fps, log) in found.items():
        lost = [e for e in log if e["kind"] == "face_lost"]
        assert len(lost) == 1 and lost[0]["frame"] == round(fps) and lost[0]["time"] == 1.0, (name, log)
    assert found["clip.mjpeg"][0] == 25


def test_a_new_face_elsewhere_is_learnt_again(data_dir, tmp_path):
    """A face, half a second without one, then another face elsewhere in the frame: the
    runner's new track is another driver (relearn, reason "new face"); the same face
    coming back to its place is not."""
    from demo_video import _place, pick_face

    def clip(path, second_dx):
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
        for record, dx, n in ((pick_face(data_dir, "frontal"), -140, 20), (None, 0, 5),
                              (pick_face(data_dir, "frontal", skip=1 if second_dx else 0), second_dx, 20)):
            frame = np.full((480, 640, 3), 90, np.uint8) if record is None else _place(cv2.imread(str(record.image_path)), record.landmarks, dx)[0]
            for _ in range(n):
                writer.write(frame)
        writer.release()
        return path

    for second_dx, expected in ((140, ["relearn"]), (-140, [])):
        events = tmp_path / f"{second_dx}.jsonl"
        run_demo(load_pipeline(MODEL), str(clip(tmp_path / f"{second_dx}.avi", second_dx)), DemoOptions(events=events))
        log = [json.loads(line) for line in events.read_text().splitlines()]
        relearn = [e for e in log if e["kind"] == "relearn"]
        assert [e["kind"] for e in relearn] == expected, log
        if relearn:
            assert relearn[0]["reason"] == "new face" and 25 <= relearn[0]["frame"] <= 27


def test_the_hud_fps_says_what_it_counts():
    from edgemark.demo.hud import fps_line

    line = fps_line("tflite int8", 12.34, 250.0)
    assert "12.3 FPS end to end" in line and "pipeline only 250 FPS" in line
    assert "- FPS end to end" in fps_line("tflite int8", 0.0, 250.0)  # before a second frame


def test_bad_sources_give_clear_errors(tmp_path):
    def demo(*args):
        return subprocess.run([sys.executable, "-m", "edgemark", "demo", "--model", str(MODEL), *args], capture_output=True, text=True)

    done = demo("--source", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o.mp4"), "--no-window")
    assert done.returncode == 2 and "video file not found" in done.stderr and "Traceback" not in done.stderr
    junk = tmp_path / "junk.mp4"
    junk.write_text("this is not a video")
    done = demo("--source", str(junk), "--out", str(tmp_path / "o.mp4"), "--no-window")
    assert done.returncode == 2 and ("cannot open this video source" in done.stderr or "no frame could be read" in done.stderr)
    assert not (tmp_path / "o.mp4").exists()
    done = demo("--source", str(junk), "--no-window")
    assert done.returncode == 2 and "nothing to write" in done.stderr
    done = demo("--source", str(junk), "--no-window", "--out", str(tmp_path / "o.mp4"), "--detector", "yunet",
                "--detector-model", str(tmp_path / "face_detection_yunet.onnx"))
    assert done.returncode == 2 and "YuNet model file not found" in done.stderr
    done = demo("--source", str(junk), "--window")  # no display here: said, not silently skipped
    said = done.stdout.replace("\n", " ")
    assert done.returncode == 2 and ("has no GUI" in said or "no display" in said) and "nothing to write" in done.stderr


def test_head_pose_recovers_known_rotations():
    camera = camera_matrix(640, 480)
    for yaw, pitch, roll in [(0, 0, 0), (30, 0, 0), (-35, 0, 0), (0, 20, 0), (0, 0, 15), (20, -10, 5)]:
        y, p, r = np.radians([-yaw, pitch, roll])  # positive yaw = nose towards the image's right
        ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
        rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
        rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
        points3 = GENERIC_FACE_5 @ (rz @ ry @ rx).T + [0, 0, 600]
        uv = points3[:, :2] / points3[:, 2:] * 640 + [320, 240]
        np.testing.assert_allclose(head_pose(uv, camera), (yaw, pitch, roll), atol=0.5)
        if yaw:
            assert np.sign(uv[2, 0] - uv[:2, 0].mean()) == np.sign(yaw)  # the nose moves the way yaw says


def test_one_euro_smooths_jitter_and_follows_a_step():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    raw, smooth = [], []
    for i in range(60):
        x = np.array([[100.0, 50.0]]) + rng.normal(0, 2, (1, 2))
        raw.append(x)
        smooth.append(f(x, i / 30))
    assert np.std(np.array(smooth[20:])[:, 0, 0]) < 0.5 * np.std(np.array(raw[20:])[:, 0, 0])
    for i in range(60, 90):
        out = f(np.array([[200.0, 50.0]]), i / 30)
    assert abs(out[0, 0] - 200) < 5  # a large move is followed within a second


def test_haar_boxes_map_to_training_boxes(data_dir):
    from edgemark.data.lists import read_list
    from edgemark.detect import training_box

    detector, ious = HaarDetector(), []
    for r in read_list(data_dir / "testImageList.txt").records[:80]:
        boxes = [training_box(d, detector.training_box_rule)[0] for d in detector.detect(cv2.imread(str(r.image_path)))]
        if not boxes:
            continue
        a = np.array(r.box)
        b = np.array(min(boxes, key=lambda b: abs(b[0] - a[0]) + abs(b[1] - a[1])))
        inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
        ious.append(inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter))
    assert len(ious) > 60 and np.median(ious) > 0.7


def test_eye_closure_only_with_eyelid_points():
    """(The drowsiness logic in detail: tests/test_drive.py.)"""
    assert not DriveMonitor(load_scheme("cuhk5")).eye_closure_available
    scheme = load_scheme("ibug68")
    monitor = DriveMonitor(scheme)
    assert monitor.eye_closure_available
    points = np.zeros((68, 2))
    for eye, cx in zip(scheme.eyes, (100, 160)):
        # p1..p6 around an eye 30 px wide; open: lids 10 px apart, closed: 1 px (90 % closed)
        points[list(eye)] = [[cx - 15, 0], [cx - 5, -5], [cx + 5, -5], [cx + 15, 0], [cx + 5, 5], [cx - 5, 5]]
    assert eye_aspect_ratio(points, scheme.eyes[0]) == pytest.approx(10 / 30)
    closed = points.copy()
    for eye in scheme.eyes:
        closed[list(eye), 1] *= 0.1
    events = []
    for i in range(100):  # open for 6 s (the open-eye EAR is learnt over the first 5 s), then closed
        events += monitor.update(i / 10, i, points if i < 60 else closed, (0.0, 0.0, 0.0))
    kinds = [e["kind"] for e in events]
    assert kinds == ["eyes_closed"] and events[0]["frame"] == 69  # closed from frame 60: 1 s on its 10th closed frame
    assert monitor.status["perclos"] > 0.5


def test_a_missed_redetection_keeps_a_plausible_track(video):
    """The detector misses a face (as it does on a turned head) at a scheduled re-detection:
    the track goes on while its landmarks look like a face; a frame without one ends it."""
    from edgemark.demo.tracker import FaceTracker

    pipe = load_pipeline(MODEL)
    tracker = FaceTracker(pipe, detect_every=3)
    cap = cv2.VideoCapture(str(video))
    frames = [cap.read()[1] for _ in range(12)]  # the frontal segment
    points, _, detected = tracker.step(frames[0])
    assert points is not None and detected
    pipe.detector.score_threshold = pipe.detector.candidate_threshold = 0.99999  # from here on it finds nothing
    assert pipe.detector.detect(frames[3]) == []
    ran = 0
    for frame in frames[1:]:
        points, box, detected = tracker.step(frame)
        ran += detected
        assert points is not None and box is not None
    assert ran >= 3  # re-detections ran and missed, and the face was kept
    assert tracker.step(np.full_like(frames[0], 90))[0] is None


@pytest.mark.skipif(shutil.which("Xvfb") is None or shutil.which("xwininfo") is None,
                    reason="needs Xvfb and xwininfo for a virtual display (apt-get install xvfb x11-utils; .ci/run does)")
def test_demo_opens_a_window_on_a_desktop(video, tmp_path):
    """After the README's install (opencv-python, with its GUI) a user with a display gets a
    window without asking for one; here the display is a virtual X server."""
    longer = tmp_path / "longer.avi"  # four passes of the clip: the window stays up a few seconds
    cap, writer = cv2.VideoCapture(str(video)), cv2.VideoWriter(str(longer), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    frames = [f for ok, f in iter(cap.read, (False, None)) if ok]
    for _ in range(4):
        for f in frames:
            writer.write(f)
    writer.release()
    display = f":{90 + os.getpid() % 100}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "800x600x24"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        env = {**os.environ, "DISPLAY": display}
        time.sleep(1.0)
        demo = subprocess.Popen([sys.executable, "-m", "edgemark", "demo", "--model", str(MODEL), "--source", str(longer),
                                 "--events", str(tmp_path / "events.jsonl")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = False
        while demo.poll() is None and not seen:
            tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True).stdout
            seen = "edgemark demo" in tree
            time.sleep(0.05)
        out, err = demo.communicate(timeout=120)
        assert demo.returncode == 0, err
        assert seen, "no demo window appeared on the display"
        assert "no window" not in out
    finally:
        xvfb.kill()


def test_a_recorded_clip_gives_the_same_events_by_path_file_url_and_http(video, tmp_path):
    """A clip is timed by its frame rate however it is reached; only a camera or a stream
    without a length is timed by the wall clock (the demo runs faster than real time, so
    wall-clock timing would move every event)."""
    import functools
    import http.server
    import threading

    clip = tmp_path / "clip.avi"  # the clip without its damaged frame (a network stream stops there)
    cap, writer = cv2.VideoCapture(str(video)), cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for _ in range(60):
        ok, frame = cap.read()
        writer.write(frame)
    writer.release()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        runs = {}
        for name, source in [("path", str(clip)), ("file", clip.as_uri()), ("http", f"http://127.0.0.1:{server.server_address[1]}/clip.avi")]:
            events = tmp_path / f"{name}.jsonl"
            summary = run_demo(load_pipeline(MODEL), source, DemoOptions(events=events))
            assert summary["frames"] == 60, name
            runs[name] = [(e["frame"], e["kind"], e["time"]) for e in map(json.loads, events.read_text().splitlines())]
    finally:
        server.shutdown()
    assert any(kind == "distraction" for _, kind, _ in runs["path"])
    assert runs["file"] == runs["path"] and runs["http"] == runs["path"]


class _QuietHandler(__import__("http.server").server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
