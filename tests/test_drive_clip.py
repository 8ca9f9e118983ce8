"""The driver-monitoring model on a clip of real photos: eyes_closed, perclos and yawn land
on the expected frames, and a clip of open eyes raises none of them. The clip's faces were
chosen by the teacher (MediaPipe's mesh), checked again here, never by the model."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgemark.demo.drive import DriveConfig

from drive_clip import ALERT, DROWSY, FPS, OPEN, SHUT_A, SHUT_B, YAWN, build_clip, segment_starts

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "exported" / "mobilenetv2_96_drive23" / "tflite-int8"
pytestmark = pytest.mark.usefixtures("detector_models")


def run_drive(model, clip: Path, tmp_path: Path) -> list[dict]:
    events = tmp_path / f"{clip.stem}.jsonl"
    done = subprocess.run([sys.executable, "-m", "edgemark", "demo", "--model", str(model), "--source", str(clip), "--mode", "drive",
                           "--events", str(events), "--no-window", "--threads", "1"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in events.read_text().splitlines()]


def test_the_clip_faces_are_what_the_teacher_says(data_dir):
    import numpy as np

    from edgemark.data.lists import read_list
    from edgemark.face_measures import eye_aspect_ratio, mouth_aspect_ratio
    from edgemark.data.images import read_image
    from edgemark.predictors.load import load_predictor
    from edgemark.preprocess import roll_angle

    teacher = load_predictor("mediapipe:drive23", threads=1)
    records = read_list(data_dir / "testImageList.txt").records
    for line in (OPEN, SHUT_A, SHUT_B, YAWN):
        r = records[line - 1]
        p = teacher.predict(read_image(r), r.box, roll_angle(r.landmarks[0], r.landmarks[1]))
        ear = np.mean([eye_aspect_ratio(p, e) for e in teacher.scheme.eyes])
        mar = mouth_aspect_ratio(p, teacher.scheme.mouth)
        if line in (SHUT_A, SHUT_B):
            assert ear < 0.14 and mar < 0.3, line
        elif line == YAWN:
            assert mar > 0.5 and ear > 0.24, line
        else:
            assert ear > 0.28 and mar < 0.05, line


@pytest.mark.parametrize("model", [MODEL, "mediapipe:drive23"], ids=["drive23-tflite-int8", "teacher"])
def test_drowsy_clip_raises_eyes_closed_perclos_and_yawn_on_their_frames(data_dir, tmp_path, model):
    if model == MODEL and not (MODEL / "manifest.json").is_file():
        pytest.fail(f"{MODEL} is not exported")
    log = run_drive(model, build_clip(data_dir, tmp_path / "drowsy.mp4"), tmp_path)
    starts = dict((line, frame) for frame, line in reversed(segment_starts(DROWSY)))  # first start of each line
    shut_b = [f for f, line in segment_starts(DROWSY) if line == SHUT_B][0]
    closed = [e for e in log if e["kind"] == "eyes_closed"]
    # one second into each shut segment (a frame of tolerance for the tracker and smoothing)
    assert [e["frame"] for e in closed] == pytest.approx([starts[SHUT_A] + FPS, shut_b + FPS], abs=3)
    yawns = [e for e in log if e["kind"] == "yawn"]
    assert [e["frame"] for e in yawns] == pytest.approx([starts[YAWN] + int(1.5 * FPS)], abs=3)
    perclos = [e for e in log if e["kind"] == "perclos"]
    # 6 s of shut eyes: PERCLOS 0.2 once the window holds 30 s of face after the 5 s the open eyes are learnt in
    # (learning counts only frames whose head pose looks ahead: up to a second more)
    c = DriveConfig()
    expected = (c.baseline_seconds + c.perclos_min_seconds) * FPS
    assert len(perclos) == 1 and expected - 1 <= perclos[0]["frame"] <= expected + FPS
    assert perclos[0]["perclos"] > c.perclos_limit
    assert not [e for e in log if e["kind"] in ("face_lost", "distraction")]


@pytest.mark.parametrize("model", [MODEL, "mediapipe:drive23"], ids=["drive23-tflite-int8", "teacher"])
def test_alert_clip_raises_nothing(data_dir, tmp_path, model):
    if model == MODEL and not (MODEL / "manifest.json").is_file():
        pytest.fail(f"{MODEL} is not exported")
    assert run_drive(model, build_clip(data_dir, tmp_path / "alert.mp4", ALERT), tmp_path) == []
