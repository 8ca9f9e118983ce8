"""Evaluation of any predictor on a landmark list: NME, failure rate, AUC, per-point NME,
per-source figures, a CED plot and a grid of the worst faces (prediction green, truth red)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data.images import read_image, record_box
from .data.lists import FaceList, source_of
from .face_measures import head_turns, turn_bins
from .io import write_json_atomic
from .metrics import point_errors, summarize
from .predictors.base import Predictor
from .preprocess import CropSpec, apply_affine, crop_face, normalised_to_image


def crop_list(faces: FaceList, crop: CropSpec, box_mode: str = "given", box_rule: dict | None = None,
              progress=None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB crops (N, H, W, 3) and image->crop matrices (N, 2, 3) of every face."""
    crops = np.zeros((len(faces), crop.size, crop.size, 3), np.uint8)
    mats = np.zeros((len(faces), 2, 3), np.float64)
    for i, r in enumerate(faces.records):
        image = read_image(r)
        crops[i], mats[i] = crop_face(image, record_box(r, image, box_mode, box_rule), crop.size, crop.margin)
        if progress is not None and (i % 64 == 63 or i == len(faces) - 1):
            progress(i + 1, len(faces))
    return crops, mats


def predict_list(predictor: Predictor, crops: np.ndarray, mats: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Landmarks (N, K, 2) in image pixels from prepared crops."""
    out = np.zeros((len(crops), predictor.scheme.num_points, 2), np.float32)
    for start in range(0, len(crops), batch_size):
        uv = predictor.predict_crops(crops[start : start + batch_size])
        for i, m in enumerate(mats[start : start + batch_size]):
            out[start + i] = normalised_to_image(uv[i], m, predictor.crop.size)
    return out


def evaluate(predictor: Predictor, faces: FaceList, out_dir: Path | None = None, box_mode: str = "given",
             box_rule: dict | None = None, worst: int = 24, progress=None, label: str = "",
             prepared: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Figures of ``predictor`` on ``faces``; ``prepared`` = crop_list(...) output to reuse."""
    truth = np.stack([r.landmarks for r in faces.records])
    crops, mats = prepared if prepared is not None else crop_list(faces, predictor.crop, box_mode, box_rule, progress)
    pred = predict_list(predictor, crops, mats)
    io = predictor.scheme.interocular
    result = summarize(pred, truth, io)
    result.update(list=faces.path, box=box_mode, model=label, predictor=predictor.description)
    result.update(scheme_parts(pred, truth, predictor.scheme))
    per_face = point_errors(pred, truth, io).mean(axis=1)
    sources = np.array([source_of(r) for r in faces.records])
    iod = np.linalg.norm(truth[:, io[0]] - truth[:, io[1]], axis=1)
    result["per_source"] = {}
    for s in sorted(set(sources)):
        sel = sources == s
        bias = ((pred[sel] - truth[sel]) / iod[sel, None, None]).mean(axis=(0, 1))  # mean signed error / IOD
        result["per_source"][s] = {"faces": int(sel.sum()), "nme": float(per_face[sel].mean()),
                                   "failure_rate": float((per_face[sel] > result["threshold"]).mean()),
                                   "bias_x": float(bias[0]), "bias_y": float(bias[1])}
    turns = head_turns(truth, predictor.scheme)  # by the labels; None for a scheme without eyes and nose
    if turns is not None:
        result["per_head_turn"] = [{"bin": [lo, hi], "faces": int(sel.sum()), "nme": float(per_face[sel].mean()),
                                    "failure_rate": float((per_face[sel] > result["threshold"]).mean())}
                                   for lo, hi, sel in turn_bins(turns)]
    if out_dir is not None:
        from .plots import plot_ced, write_image

        out_dir = Path(out_dir)
        write_json_atomic(out_dir / "metrics.json", result)
        np.savez_compressed(out_dir / "predictions.npz", pred=pred, truth=truth, nme=per_face)
        plot_ced({label or "model": per_face}, out_dir / "ced.png", result["threshold"],
                 f"CED on {Path(faces.path).name} ({len(faces)} faces)")
        write_image(out_dir / "worst.png", worst_grid(faces, pred, per_face, worst, box_mode, box_rule))
    return result


def scheme_parts(pred: np.ndarray, truth: np.ndarray, scheme) -> dict:
    """For a scheme whose points are partly a teacher's (``labelled``): NME over the human
    labels and over the teacher's points apart; with eyelids, how the eye aspect ratio
    follows the truth's (Pearson r over both eyes, and open/closed agreement at the drive
    mode's default: mean EAR below ``closed_ratio`` times the truth's median, or below
    ``ear_floor``); with a mouth, the same r for the mouth aspect ratio."""
    from .face_measures import eye_aspect_ratio, mouth_aspect_ratio

    out, io = {}, scheme.interocular
    if scheme.labelled:
        for name, points in (("labelled_points", scheme.label_points), ("teacher_points", scheme.teacher_points)):
            errors = point_errors(pred, truth, io)[:, list(points)].mean(axis=1)
            out[name] = {"points": len(points), "nme": float(errors.mean()), "failure_rate": float((errors > 0.10).mean())}
    if scheme.has_eyelids:
        from .face_measures import CLOSED_RATIO, EAR_FLOOR

        ear_p = np.stack([eye_aspect_ratio(pred, e) for e in scheme.eyes], axis=1)
        ear_t = np.stack([eye_aspect_ratio(truth, e) for e in scheme.eyes], axis=1)
        limit = CLOSED_RATIO * float(np.median(ear_t.mean(axis=1)))
        closed_p = (ear_p.mean(axis=1) < limit) | (ear_p.mean(axis=1) < EAR_FLOOR)
        closed_t = (ear_t.mean(axis=1) < limit) | (ear_t.mean(axis=1) < EAR_FLOOR)
        out["eyes"] = {"ear_pearson_r": float(np.corrcoef(ear_p.ravel(), ear_t.ravel())[0, 1]),
                       "ear_mean_abs_diff": float(np.abs(ear_p - ear_t).mean()), "closed_limit": limit,
                       "closed_truth": int(closed_t.sum()), "closed_predicted": int(closed_p.sum()),
                       "closed_found": int((closed_p & closed_t).sum()),
                       "open_closed_agreement": float((closed_p == closed_t).mean())}
    if getattr(scheme, "has_mouth", False):
        mar_p, mar_t = mouth_aspect_ratio(pred, scheme.mouth), mouth_aspect_ratio(truth, scheme.mouth)
        out["mouth"] = {"mar_pearson_r": float(np.corrcoef(mar_p, mar_t)[0, 1]), "mar_mean_abs_diff": float(np.abs(mar_p - mar_t).mean())}
    return out


def worst_grid(faces: FaceList, pred: np.ndarray, per_face: np.ndarray, n: int, box_mode: str, box_rule) -> np.ndarray:
    from .plots import GREEN, RED, draw_points, tile

    images, captions = [], []
    for i in np.argsort(-per_face)[:n]:
        r = faces.records[i]
        image = read_image(r)
        box = record_box(r, image, box_mode, box_rule)
        crop, m = crop_face(image, box, 160, 0.3, to_rgb=False)
        # draw in crop pixels: map both point sets through the same crop matrix
        draw_points(crop, apply_affine(m, r.landmarks), RED)
        draw_points(crop, apply_affine(m, pred[i]), GREEN)
        images.append(crop)
        captions.append(f"{per_face[i] * 100:.1f}% {r.image_path.name[:14]}")
    return tile(images, 160, 8, captions)
