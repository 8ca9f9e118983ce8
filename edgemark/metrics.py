"""Landmark accuracy: NME normalised by inter-ocular distance, failure rate and AUC of
the cumulative error distribution (CED), the figures of the CUHK/MTFL literature."""

from __future__ import annotations

import numpy as np


def point_errors(pred: np.ndarray, truth: np.ndarray, interocular: tuple[int, int]) -> np.ndarray:
    """(N, K) per-point Euclidean error divided by each face's inter-ocular distance."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    a, b = interocular
    iod = np.linalg.norm(truth[:, a] - truth[:, b], axis=1)
    if np.any(iod <= 0):
        raise ValueError("a face has zero inter-ocular distance")
    return np.linalg.norm(pred - truth, axis=2) / iod[:, None]


def ced_auc(nme_per_face: np.ndarray, threshold: float = 0.10, steps: int = 1000) -> float:
    """Area under the CED curve from 0 to ``threshold``, divided by ``threshold`` (0..1)."""
    xs = np.linspace(0, threshold, steps + 1)
    ced = (np.asarray(nme_per_face)[None, :] <= xs[:, None]).mean(axis=1)
    return float(np.trapezoid(ced, xs) / threshold)


def summarize(pred: np.ndarray, truth: np.ndarray, interocular: tuple[int, int], threshold: float = 0.10) -> dict:
    errors = point_errors(pred, truth, interocular)
    per_face = errors.mean(axis=1)
    return {
        "faces": int(len(per_face)),
        "nme": float(per_face.mean()),
        "failure_rate": float((per_face > threshold).mean()),
        "auc": ced_auc(per_face, threshold),
        "threshold": threshold,
        "nme_per_point": [float(v) for v in errors.mean(axis=0)],
    }
