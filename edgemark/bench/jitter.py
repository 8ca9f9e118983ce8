"""Jitter: the landmarks' frame-to-frame noise on a still face. Each test face becomes a short
"still clip": the same photo in every frame with fresh sensor noise (Gaussian, sigma in grey
levels) and the face box moved by a random sub-pixel offset (a tracker's box never lands twice
on the same pixel). The face does not move, so every frame-to-frame move of a predicted point
(mapped back to the photo) is jitter. Reported in inter-ocular distances (IOD, the model's own
pair of points) per point, and, for schemes with eyelid contours, as the frame-to-frame change
of the eye aspect ratio."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgemarkError

FRAMES, NOISE_SIGMA, SHIFT_PX, SEED = 8, 2.0, 0.5, 0


def still_clips(faces, crop, frames: int = FRAMES, noise_sigma: float = NOISE_SIGMA, shift_px: float = SHIFT_PX,
                seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB crops (N, F, S, S, 3) and image->crop matrices (N, F, 2, 3): F frames of each
    face of ``faces`` (a FaceList), each with its own noise and box offset (seeded)."""
    from ..data.images import read_image, record_box
    from ..preprocess import crop_face

    if frames < 2:
        raise EdgemarkError(f"jitter needs at least 2 frames per face, got {frames}")
    rng = np.random.default_rng(seed)
    n = len(faces.records)
    crops = np.zeros((n, frames, crop.size, crop.size, 3), np.uint8)
    mats = np.zeros((n, frames, 2, 3), np.float64)
    for i, record in enumerate(faces.records):
        image = read_image(record)
        left, top, right, bottom = record_box(record, image)
        for f in range(frames):
            noisy = np.clip(image + rng.normal(0.0, noise_sigma, image.shape), 0, 255).astype(np.uint8)
            dx, dy = rng.uniform(-shift_px, shift_px, 2)
            crops[i, f], mats[i, f] = crop_face(noisy, (left + dx, top + dy, right + dx, bottom + dy), crop.size, crop.margin)
    return crops, mats


def measure_jitter(predictor, crops: np.ndarray, mats: np.ndarray) -> dict:
    """Frame-to-frame jitter of ``predictor`` on still clips from ``still_clips``: the RMS move
    of each point between consecutive frames over the face's IOD (``points_iod``, per point of
    the scheme), their mean (``iod``), and with eyelid contours the RMS frame-to-frame change of
    each eye's EAR (``ear``), also as a share of the mean EAR (``ear_relative``)."""
    from ..preprocess import normalised_to_image

    n, frames = crops.shape[:2]
    scheme = predictor.scheme
    points = np.zeros((n, frames, scheme.num_points, 2), np.float64)
    for i in range(n):
        uv = predictor.predict_crops(crops[i])
        for f in range(frames):
            points[i, f] = normalised_to_image(uv[f], mats[i, f], predictor.crop.size)
    a, b = scheme.interocular
    iod = np.linalg.norm(points[:, :, a].mean(axis=1) - points[:, :, b].mean(axis=1), axis=-1)  # (N,) the face's own IOD
    if not np.all(iod > 0):
        raise EdgemarkError("jitter: a face's predicted inter-ocular distance is zero")
    moves = np.linalg.norm(np.diff(points, axis=1), axis=-1) / iod[:, None, None]  # (N, F-1, K)
    per_point = np.sqrt((moves ** 2).mean(axis=(0, 1)))
    result = {"iod": float(per_point.mean()), "points_iod": [float(v) for v in per_point], "faces": int(n), "frames": int(frames),
              "ear": None, "ear_relative": None}
    if len(scheme.eyes) == 2:
        from ..face_measures import eye_aspect_ratio

        ears = np.stack([eye_aspect_ratio(points, eye) for eye in scheme.eyes], axis=-1)  # (N, F, 2)
        change = np.diff(ears, axis=1)
        result["ear"] = float(np.sqrt((change ** 2).mean()))
        result["ear_relative"] = float(result["ear"] / ears.mean())
    return result


def settings(faces: int, frames: int = FRAMES, noise_sigma: float = NOISE_SIGMA, shift_px: float = SHIFT_PX, seed: int = SEED) -> dict:
    return {"faces": faces, "frames": frames, "noise_sigma": noise_sigma, "shift_px": shift_px, "seed": seed,
            "method": (f"each of {faces} test faces as a still clip of {frames} frames: sensor noise sigma {noise_sigma:g} grey "
                       f"levels and the face box moved by up to +-{shift_px:g} px per frame; jitter = RMS frame-to-frame move of "
                       "each point in the photo over the face's inter-ocular distance (IOD), the mean over the points; EAR "
                       "jitter = RMS frame-to-frame change of each eye's aspect ratio (eyelid schemes)")}


def add_jitter(results: dict, artifacts: list, faces, frames: int = FRAMES, progress=None) -> None:
    """Measure every artifact of ``results``' rows (once each, one thread, in this process) on
    still clips of ``faces`` and put ``jitter_iod``, ``jitter_points_iod``, ``ear_jitter`` and
    ``ear_jitter_relative`` in each of its rows; ``results['jitter_settings']`` says how."""
    from ..predictors.load import load_predictor

    by_name = {a.name: a for a in artifacts}
    names = list(dict.fromkeys(r["artifact"] for r in results["rows"] if "peer" not in r and r["artifact"] in by_name))
    clips = {}
    for k, name in enumerate(names):
        if progress:
            progress(f"jitter {name}", k, len(names))
        predictor = load_predictor(by_name[name], threads=1)
        key = (predictor.crop.size, predictor.crop.margin)
        if key not in clips:
            clips[key] = still_clips(faces, predictor.crop, frames)
        measured = measure_jitter(predictor, *clips[key])
        for r in results["rows"]:
            if r["artifact"] == name:
                r.update(jitter_iod=measured["iod"], jitter_points_iod=measured["points_iod"], ear_jitter=measured["ear"],
                         ear_jitter_relative=measured["ear_relative"])
    results["jitter_settings"] = settings(len(faces.records), frames)


def _moves(points: np.ndarray, present: np.ndarray, scheme) -> dict:
    """Jitter figures from a clip's points (T, K, 2), ``present`` (T,) the frames with a face."""
    a, b = scheme.interocular
    seen = points[present]
    iod = float(np.linalg.norm(seen[:, a].mean(axis=0) - seen[:, b].mean(axis=0)))
    pairs = present[1:] & present[:-1]  # consecutive frames that both found the face
    if iod <= 0 or not pairs.any():
        raise EdgemarkError("jitter: the clip has no two consecutive frames with a face")
    moves = np.linalg.norm(np.diff(points, axis=0), axis=-1)[pairs] / iod  # (pairs, K)
    per_point = np.sqrt((moves ** 2).mean(axis=0))
    result = {"iod": float(per_point.mean()), "points_iod": [float(v) for v in per_point], "ear": None, "ear_relative": None}
    if len(scheme.eyes) == 2:
        from ..face_measures import eye_aspect_ratio

        ears = np.stack([eye_aspect_ratio(points, eye) for eye in scheme.eyes], axis=-1)  # (T, 2)
        change = np.diff(ears, axis=0)[pairs]
        result["ear"] = float(np.sqrt((change ** 2).mean()))
        result["ear_relative"] = float(result["ear"] / ears[present].mean())
    return result


def clip_jitter(pipeline, clip, max_frames: int | None = None) -> dict:
    """Jitter of the whole pipeline (face detector, crop, landmarks, refinement) on a video of a
    still face: the largest face of every frame, its frame-to-frame moves as in measure_jitter."""
    import cv2

    capture = cv2.VideoCapture(str(clip))
    if not capture.isOpened():
        raise EdgemarkError(f"{clip}: not a readable video (a still clip of a face: MP4, AVI, ...)")
    points, present = [], []
    try:
        while max_frames is None or len(points) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            faces = pipeline(frame)
            present.append(bool(faces))
            points.append(faces[0].landmarks if faces else np.zeros((pipeline.scheme.num_points, 2)))
    finally:
        capture.release()
    if len(points) < 2:
        raise EdgemarkError(f"{clip}: {len(points)} frame(s) read; jitter needs a clip of two frames or more")
    present = np.asarray(present)
    if present.mean() < 0.5:
        raise EdgemarkError(f"{clip}: a face in {present.sum()} of {len(present)} frames only; jitter needs a still face in most")
    try:
        result = _moves(np.asarray(points, np.float64), present, pipeline.scheme)
    except EdgemarkError as e:
        raise EdgemarkError(f"{clip}: {e}") from None
    return {**result, "frames": len(points), "frames_with_face": int(present.sum())}


def add_clip_jitter(results: dict, artifacts: list, clip, detector: str = "blazeface", progress=None) -> None:
    """``clip_jitter_iod`` and ``clip_ear_jitter`` in each row of ``results``: every artifact's
    pipeline (``detector``, one thread) on the still clip ``clip``."""
    from ..pipeline import load_pipeline

    by_name = {a.name: a for a in artifacts}
    names = list(dict.fromkeys(r["artifact"] for r in results["rows"] if "peer" not in r and r["artifact"] in by_name))
    frames = None
    for k, name in enumerate(names):
        if progress:
            progress(f"clip jitter {name}", k, len(names))
        measured = clip_jitter(load_pipeline(by_name[name], detector=detector, threads=1), clip)
        frames = (measured["frames"], measured["frames_with_face"])
        for r in results["rows"]:
            if r["artifact"] == name:
                r.update(clip_jitter_iod=measured["iod"], clip_jitter_points_iod=measured["points_iod"],
                         clip_ear_jitter=measured["ear"], clip_ear_jitter_relative=measured["ear_relative"])
    results.setdefault("jitter_settings", {})["clip"] = {
        "file": str(clip), "detector": detector, "frames": frames[0] if frames else None, "frames_with_face": frames[1] if frames else None,
        "method": f"the whole pipeline ({detector}, crop, landmarks, refinement) on every frame of the still clip {Path(clip).name}; "
                  "RMS frame-to-frame move per point over the clip's IOD"}
