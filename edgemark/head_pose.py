"""Head pose (yaw, pitch, roll in degrees) with ``cv2.solvePnP`` and a generic 3D face.

Which points (``pose_model``): a scheme that names the rigid iBUG 300-W points
(``RIGID_68``: eye corners, nose bridge and base, outer mouth corners; dense68, ibug68)
is solved on them with ``GENERIC_FACE_RIGID``; any other from 5 reference points (eye
centres, nose tip, mouth corners) with ``GENERIC_FACE_5``: a 5-point model gives them as
they are; a scheme with more points gives them by ``pose_reference`` (the mean of each
eye contour, the nose tip, the outer mouth corners). Camera intrinsics come from the frame size unless given: focal length
= frame width, principal point = frame centre, no distortion.

Signs: yaw > 0 when the face turns towards the image's right (the nose moves right),
pitch > 0 when the head tilts down (nose moves down), roll > 0 clockwise in the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# A generic adult face in millimetres, camera axes (x right, y down, z away from the camera)
# for a face looking straight at the camera; the nose tip is the origin.
GENERIC_FACE_5 = np.array([
    [-32.0, -35.0, 30.0],  # left eye centre (smaller x in the image)
    [32.0, -35.0, 30.0],  # right eye centre
    [0.0, 0.0, 0.0],  # nose tip
    [-25.0, 30.0, 22.0],  # left mouth corner
    [25.0, 30.0, 22.0],  # right mouth corner
])


# The rigid points of the 68 (names of the dense68 and ibug68 schemes): eye corners 36/39
# and 42/45, nose bridge 27-30, nose base 31-35, outer mouth corners 48/54. Left out: the
# jaw (the visible contour slides over the face as it turns), brows and lips (they move),
# the eyelids (blinks).
RIGID_68 = ("eye_l_0", "eye_l_3", "eye_r_0", "eye_r_3", "nose_bridge_0", "nose_bridge_1", "nose_bridge_2",
            "nose_bridge_3", "nose_base_0", "nose_base_1", "nose_base_2", "nose_base_3", "nose_base_4",
            "mouth_outer_0", "mouth_outer_6")
# RIGID_68's points on a generic face, millimetres, GENERIC_FACE_5's axes, frame and scale:
# the mean of MediaPipe's 3-D face mesh over the near-frontal CUHK training faces
# (Procrustes-aligned), its 5 reference points rotated onto GENERIC_FACE_5, eye centres
# 64 mm apart, nose tip at the origin. Printed by tools/dense_pose_face.py (its docstring
# says how) from runs/pseudo/trainImageList.mesh468.npy, 2026-12-04.
# BEGIN GENERIC_FACE_RIGID
GENERIC_FACE_RIGID = np.array([
    [-45.2, -30.3, 46.9],  # eye_l_0 (iBUG 36)
    [-17.7, -29.5, 41.8],  # eye_l_3 (iBUG 39)
    [17.7, -29.3, 41.8],  # eye_r_0 (iBUG 42)
    [45.3, -30.0, 46.9],  # eye_r_3 (iBUG 45)
    [0.0, -35.5, 25.5],  # nose_bridge_0 (iBUG 27)
    [0.0, -21.5, 15.0],  # nose_bridge_1 (iBUG 28)
    [0.0, -11.8, 6.0],  # nose_bridge_2 (iBUG 29)
    [0.0, 0.0, 0.0],  # nose_bridge_3 (iBUG 30)
    [-13.5, 9.6, 20.6],  # nose_base_0 (iBUG 31)
    [-7.9, 13.2, 18.2],  # nose_base_1 (iBUG 32)
    [0.0, 13.3, 16.5],  # nose_base_2 (iBUG 33)
    [8.0, 13.2, 18.2],  # nose_base_3 (iBUG 34)
    [13.5, 9.6, 20.6],  # nose_base_4 (iBUG 35)
    [-26.8, 35.2, 35.4],  # mouth_outer_0 (iBUG 48)
    [27.0, 35.0, 35.4],  # mouth_outer_6 (iBUG 54)
])
# END GENERIC_FACE_RIGID

# Each of the 5 reference points as the mean of named points, for each scheme family
# (data, matched on the scheme's point names, so a scheme file under another name works
# too). "left" is the point with the smaller x in the image, in every scheme here.
POSE_REFERENCES = (
    # cuhk5, and drive23 (the CUHK points first)
    (("left_eye",), ("right_eye",), ("nose_tip",), ("mouth_left",), ("mouth_right",)),
    # ibug68: eye contours 36-41 and 42-47, nose tip 30, outer mouth corners 48 and 54
    (tuple(f"eye_l_{i}" for i in range(6)), tuple(f"eye_r_{i}" for i in range(6)), ("nose_bridge_3",),
     ("mouth_outer_0",), ("mouth_outer_6",)),
    # wflw98: eye contours 60-67 and 68-75, nose tip 54, outer mouth corners 76 and 82
    (tuple(f"eye_{i}" for i in range(8)), tuple(f"eye_{i}" for i in range(8, 16)), ("nose_3",), ("mouth_0",), ("mouth_6",)),
)


# The 5 labelled CUHK points, in cuhk5's order.
FIVE_NAMES = ("left_eye", "right_eye", "nose_tip", "mouth_left", "mouth_right")


def labelled_five(scheme) -> tuple[int, ...] | None:
    """The indices of the 5 CUHK points (eye centres, nose tip, mouth corners, in cuhk5's
    order) when they are the scheme's human-labelled points (its ``labelled`` field; every
    point of a scheme without one): cuhk5, and drive23 whose first five are those; None
    for any other scheme. What is anchored on the 5 labelled points (the demo's filters)
    takes any such scheme."""
    labelled = sorted(scheme.names[i] for i in scheme.label_points)
    if labelled != sorted(FIVE_NAMES):
        return None
    index = {name: i for i, name in enumerate(scheme.names)}
    return tuple(index[name] for name in FIVE_NAMES)


def pose_reference(scheme) -> tuple[tuple[int, ...], ...] | None:
    """For each of the 5 reference points, the indices of the scheme's points whose mean
    it is; None when the scheme names no such points (no head pose then)."""
    index = {name: i for i, name in enumerate(scheme.names)}
    for groups in POSE_REFERENCES:
        if all(name in index for group in groups for name in group):
            return tuple(tuple(index[name] for name in group) for group in groups)
    return None


def reference_points(points: np.ndarray, reference: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """The (5, 2) reference points of one face's landmarks."""
    points = np.asarray(points, np.float64)
    return np.array([points[list(group)].mean(axis=0) for group in reference])


def camera_matrix(width: int, height: int, focal: float | None = None) -> np.ndarray:
    f = focal or float(width)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], np.float64)


def euler_angles(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a rotation (face model -> camera axes), signs as
    the module says."""
    # R = Rz(roll) @ Ry(yaw) @ Rx(pitch) in camera axes
    yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1, 1)))
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return float(-yaw), float(pitch), float(roll)


def head_pose(points: np.ndarray, camera: np.ndarray, face: np.ndarray = GENERIC_FACE_5) -> tuple[float, float, float] | None:
    """(yaw, pitch, roll) in degrees of image ``points`` (K, 2) of the generic 3D ``face``
    (K, 3), or None when solvePnP fails."""
    image_points = np.asarray(points, np.float64).reshape(-1, 1, 2)
    face = np.asarray(face, np.float64)
    ok, rvec, tvec = cv2.solvePnP(face, image_points, camera, None, flags=cv2.SOLVEPNP_EPNP)
    if not ok:
        return None
    ok, rvec, tvec = cv2.solvePnP(face, image_points, camera, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE)
    if not ok or tvec[2, 0] <= 0:
        return None
    r, _ = cv2.Rodrigues(rvec)
    return euler_angles(r)


@dataclass(frozen=True)
class PoseModel:
    """How one scheme's landmarks give a head pose: each point of the generic ``face`` is
    the mean of the scheme points of its group in ``reference``."""

    kind: str  # "rigid68" or "five"
    reference: tuple[tuple[int, ...], ...]
    face: np.ndarray

    def __call__(self, points: np.ndarray, camera: np.ndarray) -> tuple[float, float, float] | None:
        return head_pose(reference_points(points, self.reference), camera, self.face)


# (kind, point names, generic face): tried in order before the 5 reference points
DENSE_POSE_MODELS = (("rigid68", RIGID_68, GENERIC_FACE_RIGID),)


def pose_model(scheme, dense: bool = True) -> PoseModel | None:
    """The head pose of this scheme: from the rigid points of the 68 when it names them all
    (and ``dense``), else from the 5 reference points (``pose_reference``); None when it has
    neither."""
    index = {name: i for i, name in enumerate(scheme.names)}
    for kind, names, face in DENSE_POSE_MODELS if dense else ():
        if all(name in index for name in names):
            return PoseModel(kind, tuple((index[name],) for name in names), face)
    reference = pose_reference(scheme)
    return None if reference is None else PoseModel("five", reference, GENERIC_FACE_5)
