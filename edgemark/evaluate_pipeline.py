"""Evaluation as a user meets the model: the whole pipeline (detector, crop, landmarks,
refinement) on full photos, never the list's boxes. Each labelled face is matched to the
found face whose landmarks lie nearest; it counts as found when a detector box holds the
centre of its labelled landmarks. A missed face is a failure (its NME counts as
infinite in the failure rate and the CED); NME is reported over the found faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data.images import read_image
from .data.lists import FaceList
from .detect.detection import holds
from .io import write_json_atomic
from .metrics import ced_auc, point_errors


def match_face(faces, truth: np.ndarray):
    """The found face of a labelled one (the nearest landmarks) and whether a detector box holds it."""
    if not faces:
        return None, False
    nearest = min(faces, key=lambda f: float(np.linalg.norm(f.landmarks - truth, axis=1).mean()))
    centre = truth.mean(axis=0)
    return nearest, any(holds(f.box, centre) for f in faces)


def evaluate_pipeline(pipe, faces: FaceList, out_dir: Path | None = None, progress=None, label: str = "",
                      threshold: float = 0.10) -> dict:
    truth = np.stack([r.landmarks for r in faces.records]).astype(np.float64)
    pred = np.full_like(truth, np.nan)
    found = np.zeros(len(faces), bool)
    detections = np.zeros(len(faces), int)
    cache: dict[str, list] = {}  # photos holding several labelled faces run once
    for i, r in enumerate(faces.records):
        key = str(r.image_path)
        if key not in cache:
            cache = {key: pipe(read_image(r))}
        result = cache[key]
        detections[i] = len(result)
        face, found[i] = match_face(result, r.landmarks)
        if found[i]:
            pred[i] = face.landmarks
        if progress is not None and (i % 64 == 63 or i == len(faces) - 1):
            progress(i + 1, len(faces))
    io = pipe.scheme.interocular
    errors = np.full(truth.shape[:2], np.inf)
    if found.any():
        errors[found] = point_errors(pred[found], truth[found], io)
    per_face = errors.mean(axis=1)
    result = {"faces": int(len(faces)), "found": int(found.sum()), "missed": int((~found).sum()),
              "detection_rate": float(found.mean()),
              "nme": float(per_face[found].mean()) if found.any() else None,
              "failure_rate": float((per_face > threshold).mean()), "auc": ced_auc(per_face, threshold),
              "threshold": threshold,
              "nme_per_point": [float(v) for v in errors[found].mean(axis=0)] if found.any() else [],
              "photos_with_several_faces": int((detections > 1).sum()),
              "list": faces.path, "box": "detector", "detector": pipe.detector.description, "refine": pipe.refine,
              "model": label, "predictor": pipe.predictor.description,
              "note": "boxes from the project's own detector on the full photos; a missed face counts as a failure in FR and AUC"}
    if out_dir is not None:
        from .plots import plot_ced

        out_dir = Path(out_dir)
        write_json_atomic(out_dir / "metrics.json", result)
        np.savez_compressed(out_dir / "predictions.npz", pred=pred, truth=truth, nme=per_face, found=found)
        plot_ced({label or "model": per_face}, out_dir / "ced.png", threshold,
                 f"CED, {pipe.detector.name} boxes on {Path(faces.path).name} ({len(faces)} faces)")
    return result
