"""5-point vs dense (rigid points of the 68) head pose on the same clips (issue 33, item 4).

The dense68 model runs on each clip frame as the demo runs it (``FaceTracker``: detect,
then track), no smoothing. On every frame with a face, three poses:
- five: the model's 5 labelled points, GENERIC_FACE_5 (the cuhk5/drive23 path);
- rigid68: the model's rigid iBUG points, GENERIC_FACE_RIGID (``pose_model``'s dense path);
- mesh: the teacher (MediaPipe's face mesh) on the crop the model's points give
  (``Pipeline.next_roi``), solvePnP on all 468 vertices with mean_mesh468_mm.npy (made
  with GENERIC_FACE_RIGID by tools/dense_pose_face.py: the same mean face, the same frame).

Jitter: mean |frame-to-frame change| of yaw, pitch, roll inside still segments (one photo
held, drifting a few pixels at most), the first 2 frames of each segment left out (the
tracker settles). Agreement: mean |pose - mesh pose| per angle, on the turned segments
(~60 degree yaw) and on the frontal ones.

    EDGEMARK_DATA=/work/shared/datasets/cuhk_facepoint .venv/bin/python benchmarks/dense-pose-2026-12-04/measure.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))

import demo_video  # noqa: E402
import drive_clip  # noqa: E402
import filters_clip  # noqa: E402

from edgemark.demo.tracker import FaceTracker  # noqa: E402
from edgemark.head_pose import (GENERIC_FACE_5, GENERIC_FACE_RIGID, RIGID_68, PoseModel, camera_matrix,  # noqa: E402
                                head_pose, pose_model)
from edgemark.predictors.mediapipe_mesh import mesh_to_scheme  # noqa: E402
from edgemark.pipeline import load_pipeline  # noqa: E402

SETTLE = 2
KINDS = ("frontal", "turned-60", "turned+60")
DRIVE = [(3, drive_clip.OPEN), (3, drive_clip.SHUT_A), (3, drive_clip.YAWN)]  # 9 s of the drowsy clip's faces


def clips(data: Path, tmp: Path):
    """(name, path, frames, [(first, n, kind)]) with kind frontal / turned-60 / turned+60
    (the CUHK file name's yaw tag) / none."""
    video = demo_video.build_video(data, tmp / "demo.avi")
    segs = [(a, n, {"frontal": "frontal", "-60": "turned-60", "60": "turned+60"}.get(k, "none")) for a, n, k in demo_video.SEGMENTS]
    yield "demo_video", video, demo_video.TOTAL, segs
    f = filters_clip.build_clip(data, tmp / "filters.avi")
    segs, first = [], 0
    for line, n, _ in filters_clip.SEGMENTS:
        segs.append((first, n, "turned-60" if line == filters_clip.TURNED else "frontal"))
        first += n
    yield "filters_clip", f, filters_clip.TOTAL, segs
    d = drive_clip.build_clip(data, tmp / "drive.mp4", DRIVE)
    segs = [(a, s * drive_clip.FPS, "frontal") for (a, _), (s, _) in zip(drive_clip.segment_starts(DRIVE), DRIVE)]
    yield "drive_clip", d, sum(s for s, _ in DRIVE) * drive_clip.FPS, segs


def poses_of(path: Path, frames: int, pipeline, teacher, mean_mesh, models) -> dict[str, np.ndarray]:
    """Each model's (frames, 3) pose, NaN where no face or no solution."""
    tracker = FaceTracker(pipeline, 10)
    out = {k: np.full((frames, 3), np.nan) for k in (*models, "mesh")}
    cap = cv2.VideoCapture(str(path))
    for i in range(frames):
        ok, frame = cap.read()
        if not ok or frame is None:
            continue
        points, _, _ = tracker.step(frame)
        if points is None:
            continue
        camera = camera_matrix(frame.shape[1], frame.shape[0])
        for k, model in models.items():
            out[k][i] = model(points, camera) or np.nan
        if teacher is not None:
            box, angle = pipeline.next_roi(points)
            mesh = teacher.predict(frame, box, angle)
            out["mesh"][i] = head_pose(mesh, camera, mean_mesh) or np.nan
    return out


def measure(data: Path, tmp: Path) -> dict:
    from edgemark.predictors.mediapipe_mesh import MediaPipeMesh

    pipeline = load_pipeline("dense68", threads=1)
    teacher = MediaPipeMesh("mesh468", threads=1)
    mean_mesh = np.load(HERE / "mean_mesh468_mm.npy").astype(np.float64)
    scheme = pipeline.scheme
    models = {"five": pose_model(scheme, dense=False), "rigid68": pose_model(scheme)}
    assert models["five"].kind == "five" and models["rigid68"].kind == "rigid68"
    assert np.array_equal(models["five"].face, GENERIC_FACE_5)
    # the same mean face's points by name (GENERIC_FACE_RIGID is these, rounded to 0.1 mm)
    face = mesh_to_scheme(mean_mesh[None], "dense68")[0].astype(np.float64)
    index = {n: i for i, n in enumerate(scheme.names)}
    assert np.abs(face[[index[n] for n in RIGID_68]] - GENERIC_FACE_RIGID).max() < 0.051
    # controls: the 5 labelled points on the mesh's mean face (a better 3D face, not more
    # points), and the rigid points with the brows (more points, some of which move)
    five = models["five"].reference
    models["five_meshface"] = PoseModel("five", five, face[[g[0] for g in five]])
    brows = RIGID_68 + tuple(f"brow_{s}_{i}" for s in "lr" for i in range(5))
    models["rigid68_brows"] = PoseModel("rigid68", tuple((index[n],) for n in brows), face[[index[n] for n in brows]])
    results = {}
    for name, path, frames, segs in clips(data, tmp):
        poses = poses_of(path, frames, pipeline, teacher, mean_mesh, models)
        row, solvers = {}, [k for k in poses if k != "mesh"]
        for k in poses:
            steps = []
            for first, n, kind in segs:
                if kind == "none":
                    continue
                p = poses[k][first + SETTLE : first + n]
                steps.append(np.abs(np.diff(p, axis=0)))
            steps = np.concatenate(steps)
            row[f"jitter_{k}"] = np.nanmean(steps, axis=0).round(3).tolist()
        for kind in KINDS:
            idx = np.concatenate([np.arange(a + SETTLE, a + n) for a, n, t in segs if t == kind] or [np.zeros(0, int)])
            if not len(idx):
                continue
            for k in solvers:
                err = np.abs(poses[k][idx] - poses["mesh"][idx])
                row[f"vs_mesh_{kind}_{k}"] = np.nanmean(err, axis=0).round(2).tolist()
            row[f"mesh_{kind}_mean"] = np.nanmean(poses["mesh"][idx], axis=0).round(1).tolist()
            row[f"frames_{kind}"] = int(np.isfinite(poses["mesh"][idx]).all(1).sum())
        results[name] = row
    return results


MODELS = ("five", "rigid68", "five_meshface", "rigid68_brows")


def table(results: dict) -> str:
    fmt = lambda v: " / ".join(f"{x:.1f}" for x in v)  # noqa: E731
    lines = ["Mean |pose - mesh pose|, yaw / pitch / roll in degrees:", "",
             "| clip | segment | frames | mesh pose | " + " | ".join(MODELS) + " |", "|---|---|---|---|" + "---|" * len(MODELS)]
    for clip, r in results.items():
        for kind in KINDS:
            if f"frames_{kind}" in r:
                lines.append(f"| {clip} | {kind} | {r[f'frames_{kind}']} | {fmt(r[f'mesh_{kind}_mean'])} | "
                             + " | ".join(fmt(r[f"vs_mesh_{kind}_{k}"]) for k in MODELS) + " |")
    fmt3 = lambda v: " / ".join(f"{x:.2f}" for x in v)  # noqa: E731
    lines += ["", "Jitter on still segments, mean |frame-to-frame change|, yaw / pitch / roll in degrees:", "",
              "| clip | " + " | ".join((*MODELS, "mesh")) + " |", "|---|" + "---|" * (len(MODELS) + 1)]
    for clip, r in results.items():
        lines.append(f"| {clip} | " + " | ".join(fmt3(r[f"jitter_{k}"]) for k in (*MODELS, "mesh")) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    data = Path(os.environ.get("EDGEMARK_DATA", "/work/shared/datasets/cuhk_facepoint"))
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(data, Path(tmp))
    (HERE / "pose.json")  # not results.json: that name is for what edgemark bench writes.write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
