"""Head pose (yaw, pitch, roll in degrees) from 5 reference points (eye centres, nose
tip, mouth corners) with ``cv2.solvePnP`` and a generic 3D face. A 5-point model gives
them as they are; a scheme with more points gives them by ``pose_reference`` (the mean
of each eye contour, the nose tip, the outer mouth corners). Camera intrinsics come from the frame size unless given: focal length
= frame width, principal point = frame centre, no distortion.

Signs: yaw > 0 when the face turns towards the image's right (the nose moves right),
pitch > 0 when the head tilts down (nose moves down), roll > 0 clockwise in the image.
"""

from __future__ import annotations

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


def head_pose(points: np.ndarray, camera: np.ndarray) -> tuple[float, float, float] | None:
    """(yaw, pitch, roll) in degrees, or None when solvePnP fails."""
    image_points = np.asarray(points, np.float64).reshape(-1, 1, 2)
    ok, rvec, tvec = cv2.solvePnP(GENERIC_FACE_5, image_points, camera, None, flags=cv2.SOLVEPNP_EPNP)
    if not ok:
        return None
    ok, rvec, tvec = cv2.solvePnP(GENERIC_FACE_5, image_points, camera, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE)
    if not ok or tvec[2, 0] <= 0:
        return None
    r, _ = cv2.Rodrigues(rvec)
    # R = Rz(roll) @ Ry(yaw) @ Rx(pitch) in camera axes
    yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1, 1)))
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return float(-yaw), float(pitch), float(roll)
