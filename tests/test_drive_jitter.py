"""Drive mode on the shipped drive23 model's own jitter (issue 31, item 1): still CUHK
test faces, each frame cropped with a small random shift and scale (1 % of the face box)
and sensor noise (Gaussian, 3 grey levels), run through the exported int8 model. Open
eyes, narrow ones included (faces the model gives an open-eye EAR near ``shut_ear``),
raise no event over a minute; the shut eyes of the drive clip still raise eyes_closed and
perclos on time.

The faces: line 54 (ordinary open eyes, the drive clip's), and 1208, 1751, 285, 505, 339:
open eyes that the shipped model measures narrow (EAR 0.16-0.18, against 0.29 for the
median test face), the narrowest open eyes among the test faces (looked at, smiling or
squinting, eyes open) whose teacher EAR (MediaPipe's mesh) is at least 0.2: a teacher's
shut eye is 0.10-0.14. Lines 99 and 1087: shut eyes (tests/drive_clip.py). The teacher's
figures are checked here again before the faces are trusted."""

from pathlib import Path

import numpy as np
import pytest

from edgemark.demo.drive import DriveConfig, DriveMonitor
from edgemark.face_measures import eye_aspect_ratio

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "exported" / "mobilenetv2_96_drive23" / "tflite-int8"
OPEN, NARROW, SHUT = 54, (1208, 1751, 285, 505, 339), (99, 1087)
FPS, POOL = 10, 120  # frames per second of the sequences; jittered predictions per face (frames draw from them)
FRONT = (0.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def pools(data_dir):
    """For each face: POOL predictions of the shipped model under crop jitter and noise."""
    from edgemark.data.images import read_image
    from edgemark.data.lists import read_list
    from edgemark.predictors.load import load_predictor
    from edgemark.preprocess import roll_angle

    if not (MODEL / "manifest.json").is_file():
        pytest.fail(f"{MODEL} is not exported")
    model = load_predictor(MODEL, threads=1)
    teacher = load_predictor("mediapipe:drive23", threads=1)
    records = read_list(data_dir / "testImageList.txt").records
    rng = np.random.default_rng(31)
    pools, teacher_ear = {}, {}
    for line in (OPEN, *NARROW, *SHUT):
        r = records[line - 1]
        image, angle = read_image(r), roll_angle(r.landmarks[0], r.landmarks[1])
        p = teacher.predict(image, r.box, angle)
        teacher_ear[line] = float(np.mean([eye_aspect_ratio(p, e) for e in teacher.scheme.eyes]))
        box = np.array(r.box, np.float64)
        side = box[2] - box[0]
        # the part of the photo any jittered crop can reach, where the noise goes
        x0, y0 = np.maximum(np.floor(box[:2] - side).astype(int), 0)
        x1, y1 = np.ceil(box[2:] + side).astype(int)
        region = image[y0:y1, x0:x1].astype(np.float32)
        out = []
        for _ in range(POOL):
            centre = (box[:2] + box[2:]) / 2 + rng.normal(0, 0.01 * side, 2) - (x0, y0)
            half = side / 2 * (1 + rng.normal(0, 0.01))
            noisy = np.clip(region + rng.normal(0, 3.0, region.shape), 0, 255).astype(np.uint8)
            out.append(model.predict(noisy, tuple(np.r_[centre - half, centre + half]), angle) + (x0, y0))
        pools[line] = np.array(out)
    return model.scheme, pools, teacher_ear


def sequence(pools, spans, seed: int = 0) -> list:
    """(points, pose) frames at FPS from (seconds, line) spans, each frame a random draw
    from that face's jittered predictions."""
    rng = np.random.default_rng(seed)
    return [(pools[line][rng.integers(POOL)], FRONT) for seconds, line in spans for _ in range(int(seconds * FPS))]


def run(monitor, frames) -> list[dict]:
    events = []
    for i, (points, pose) in enumerate(frames):
        events += monitor.update(i / FPS, i, points, pose)
    return events


def test_the_faces_are_what_the_teacher_says(pools):
    _, _, teacher_ear = pools
    for line in (OPEN, *NARROW):
        assert teacher_ear[line] >= 0.2, (line, teacher_ear[line])
    for line in SHUT:
        assert teacher_ear[line] < 0.14, (line, teacher_ear[line])


def test_the_model_jitters_and_sees_these_eyes_narrow(pools):
    """What the test stands on: the model's EAR on these still faces moves by a few per cent
    from frame to frame, and on the narrow faces its open-eye EAR is near shut_ear."""
    scheme, pools, _ = pools
    shut_ear = DriveConfig().shut_ear
    medians = {}
    for line in (OPEN, *NARROW):
        ear = np.mean([eye_aspect_ratio(pools[line], e) for e in scheme.eyes], axis=0)
        medians[line] = float(np.median(ear))
        assert 0.01 < ear.std() / ear.mean() < 0.15, line
    assert medians[OPEN] > 0.25
    near = [line for line in NARROW if medians[line] < shut_ear + 0.02]
    assert len(near) >= 2, f"no longer narrow for the shipped model: {medians} (pick other faces)"


@pytest.mark.parametrize("line", (OPEN, *NARROW))
def test_open_eyes_raise_nothing_on_the_models_jitter(pools, line):
    """A minute of the still face, each frame jittered: no blink, no closure, no event
    (before the fix, 1208 alone gave 123 blinks and a perclos alarm)."""
    scheme, pools, _ = pools
    monitor = DriveMonitor(scheme)
    events = run(monitor, sequence(pools, [(60, line)], seed=line))
    assert events == [], (line, monitor.eyes.baseline)
    assert monitor.eyes.blinks == 0 and monitor.status["perclos"] == 0.0, (line, monitor.eyes.baseline)


def test_shut_eyes_still_raise_eyes_closed_and_perclos(pools):
    """The drive clip's layout (tests/drive_clip.py) on jittered predictions: eyes_closed
    1 s into each shut segment, perclos once the window holds 30 s of face."""
    scheme, pools, _ = pools
    spans = [(8, OPEN), (3, SHUT[0]), (4, OPEN), (3, SHUT[1]), (3, OPEN), (19, OPEN)]
    events = run(DriveMonitor(scheme), sequence(pools, spans, seed=1))
    closed = [e["frame"] for e in events if e["kind"] == "eyes_closed"]
    assert closed == [8 * FPS + FPS - 1, 15 * FPS + FPS - 1]
    perclos = [e for e in events if e["kind"] == "perclos"]
    assert len(perclos) == 1 and perclos[0]["frame"] == (5 + 30) * FPS - 1
    assert [e["kind"] for e in events] == ["eyes_closed", "eyes_open", "eyes_closed", "eyes_open", "perclos"]


@pytest.mark.usefixtures("detector_models")
@pytest.mark.parametrize("line", [1208, 505])
def test_narrow_open_eyes_through_the_demo_raise_nothing(data_dir, tmp_path, line):
    """The whole demo (detector, tracking, smoothing, drive mode) on a minute of a still
    narrow-eyed face, each frame with sensor noise and a pixel of drift, written as MP4 (its
    compression adds its own noise): no event."""
    import cv2

    from drive_clip import frame_of
    from edgemark import load_pipeline
    from edgemark.data.lists import read_list
    from edgemark.demo.runner import DemoOptions, run_demo

    r = read_list(data_dir / "testImageList.txt").records[line - 1]
    still = frame_of(r, cv2.imread(str(r.image_path))).astype(np.float32)
    clip, rng = tmp_path / f"{line}.mp4", np.random.default_rng(line)
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (640, 480))
    for i in range(60 * FPS):
        shifted = np.roll(still, (i % 3) - 1, axis=1)
        writer.write(np.clip(shifted + rng.normal(0, 3.0, still.shape), 0, 255).astype(np.uint8))
    writer.release()
    events = tmp_path / f"{line}.jsonl"
    summary = run_demo(load_pipeline(MODEL, threads=1), str(clip), DemoOptions(events=events))
    assert summary["frames_with_face"] == 60 * FPS and summary["eye_baseline"] is not None
    assert events.read_text() == "", (summary["eye_baseline"], events.read_text()[:500])
    assert summary["blinks"] == 0
