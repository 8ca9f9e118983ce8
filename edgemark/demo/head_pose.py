"""Head pose (yaw, pitch, roll in degrees) from the 5 points with ``cv2.solvePnP`` and a
generic 3D face. Camera intrinsics come from the frame size unless given: focal length
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
