"""Eye and mouth opening from landmarks, as ratios that do not depend on face size.

Both take points (K, 2), or a batch (N, K, 2), and a contour of the scheme
(``scheme.eyes[i]``, ``scheme.mouth``); a batch gives an array, one face a float.

- Eye aspect ratio (Soukupova & Cech 2016), p1..p6 = corner, upper lid, upper lid,
  corner, lower lid, lower lid: ``(|p2-p6| + |p3-p5|) / (2 |p1-p4|)``. An open eye
  is about 0.25-0.35, a closed one under about 0.15.
- Mouth aspect ratio, p1..p8 = left corner, three upper inner-lip points left to right,
  right corner, three lower inner-lip points right to left: the mean inner-lip gap
  over the mouth width, ``(|p2-p8| + |p3-p7| + |p4-p6|) / (3 |p1-p5|)`` (the same
  mean-gap-over-width form as the eye ratio). A closed mouth is near 0, a yawn 0.5+.
- Head turn: how far the nose sits from the eye midpoint along the eye line, in
  inter-ocular distances (0 frontal; about 0.3 and more for a strongly turned head).
"""

from __future__ import annotations

import numpy as np

from .head_pose import pose_reference, reference_points

_EPS = 1e-9


def _gaps(points: np.ndarray, contour, pairs) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(points, np.float64)[..., list(contour), :]
    gaps = sum(np.linalg.norm(p[..., a, :] - p[..., b, :], axis=-1) for a, b in pairs)
    return gaps, p


def _scalar_or_array(x: np.ndarray):
    return float(x) if np.ndim(x) == 0 else x


def eye_aspect_ratio(points: np.ndarray, eye) -> float | np.ndarray:
    """(|p2-p6| + |p3-p5|) / (2 |p1-p4|) of the six points ``eye`` indexes."""
    if len(eye) != 6:
        raise ValueError(f"an eye contour has six points (p1..p6), got {len(eye)}")
    gaps, p = _gaps(points, eye, ((1, 5), (2, 4)))
    width = np.linalg.norm(p[..., 0, :] - p[..., 3, :], axis=-1)
    return _scalar_or_array(gaps / (2 * width + _EPS))


def mouth_aspect_ratio(points: np.ndarray, mouth) -> float | np.ndarray:
    """(|p2-p8| + |p3-p7| + |p4-p6|) / (3 |p1-p5|) of the eight points ``mouth`` indexes."""
    if len(mouth) != 8:
        raise ValueError(f"a mouth contour has eight points (p1..p8), got {len(mouth)}")
    gaps, p = _gaps(points, mouth, ((1, 7), (2, 6), (3, 5)))
    width = np.linalg.norm(p[..., 0, :] - p[..., 4, :], axis=-1)
    return _scalar_or_array(gaps / (3 * width + _EPS))


# Closed eyes from the eye aspect ratio, for drive mode (``demo.drive.DriveConfig``, where
# the sources are) and the evaluation's open/closed agreement: both eyes' EAR below
# CLOSED_RATIO of the same person's open-eye EAR, or the mean EAR below EAR_FLOOR whatever
# the open-eye EAR. 0.7 was chosen on the 951 validation faces of the drive23 model's
# training list (benchmarks/drive23.md).
CLOSED_RATIO = 0.7
EAR_FLOOR = 0.1


def eyes_closed_by_ear(ears, open_ears, closed_ratio: float = CLOSED_RATIO, ear_floor: float = EAR_FLOOR):
    """Whether the eyes are closed: ``ears`` (..., 2) both eyes' EAR, ``open_ears`` the
    person's open-eye EAR (a scalar, or (..., 2) per eye). Both eyes below ``closed_ratio``
    of their open EAR (a wink is not closed eyes), or the mean below ``ear_floor``."""
    ears = np.asarray(ears, np.float64)
    ratios = ears / np.maximum(np.asarray(open_ears, np.float64), 1e-6)
    closed = (ratios.max(axis=-1) < closed_ratio) | (ears.mean(axis=-1) < ear_floor)
    return bool(closed) if closed.ndim == 0 else closed


def head_turn(points: np.ndarray, eyes: tuple[int, int], nose: int) -> float:
    """How far the nose sits from the eye midpoint along the eye line, in inter-ocular
    distances (0 on a frontal face; grows as the head turns left or right)."""
    left, right = points[eyes[0]], points[eyes[1]]
    axis = right - left
    iod = float(np.linalg.norm(axis)) or 1.0
    return abs(float(np.dot(points[nose] - (left + right) / 2, axis / iod))) / iod


# The head-turn bins of every report (eval, the robustness suite): frontal to strongly turned
TURN_BINS = (0.0, 0.05, 0.1, 0.2, 0.3, np.inf)


def head_turns(points: np.ndarray, scheme) -> np.ndarray | None:
    """Each face's head turn (N,) from its landmarks (N, K, 2): eye centres and nose tip by
    name (``head_pose.pose_reference``); None when the scheme names no such points."""
    reference = pose_reference(scheme)
    if reference is None:
        return None
    return np.array([head_turn(reference_points(p, reference), (0, 1), 2) for p in points])


def turn_bins(turns: np.ndarray):
    """(low, high or None, the faces in that bin) for each non-empty bin of TURN_BINS."""
    for lo, hi in zip(TURN_BINS[:-1], TURN_BINS[1:]):
        sel = (turns >= lo) & (turns < hi)
        if sel.any():
            yield lo, None if np.isinf(hi) else hi, sel
