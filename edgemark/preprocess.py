"""The one preprocessing path: crop a face by its box with a margin, resize, normalise.

Training, evaluation, every runtime and the demo call these functions, so accuracy
differences between artifacts come only from format and precision.

Pixel convention (used everywhere in edgemark): pixel centres sit at integer
coordinates, as in OpenCV; pixel ``i`` covers ``[i - 0.5, i + 0.5]``. Landmarks inside
a crop are *crop-normalised*: ``u = (x_crop + 0.5) / size``, so 0 is the crop's left
edge and 1 its right edge, independent of the crop resolution.

The crop is a square centred on the box, side ``max(w, h) * (1 + margin)``, optionally
rotated by ``angle`` degrees (counter-clockwise in the image) about the box centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # left, top, right, bottom in image pixels


@dataclass(frozen=True)
class CropSpec:
    """How a model wants its input: stored in checkpoints and manifests."""

    size: int = 112
    margin: float = 0.2
    mean: tuple[float, float, float] = (127.5, 127.5, 127.5)  # RGB, on 0..255 values
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)

    def to_dict(self) -> dict:
        return {"size": self.size, "margin": self.margin, "mean": list(self.mean), "std": list(self.std),
                "color": "RGB", "pixel_convention": "centres at integer coordinates"}

    @classmethod
    def from_dict(cls, d: dict) -> "CropSpec":
        return cls(int(d["size"]), float(d["margin"]), tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))


def square_box(box: Box, margin: float) -> tuple[float, float, float]:
    """Centre x, centre y and side of the square crop region for ``box``."""
    left, top, right, bottom = box
    side = max(right - left, bottom - top) * (1.0 + margin)
    return (left + right) / 2.0, (top + bottom) / 2.0, side


def crop_matrix(box: Box, size: int, margin: float, angle: float = 0.0) -> np.ndarray:
    """2x3 affine matrix mapping image pixel coordinates to crop pixel coordinates."""
    cx, cy, side = square_box(box, margin)
    # plain floats (numpy's calls on scalars cost more than the arithmetic), each the value numpy
    # had: the scale in the box's own precision (float32 boxes give a float32 scale), the rest in
    # float64 (a Python float times a numpy float32 would stay float32)
    scale, cx, cy = float(size / side), float(cx), float(cy)
    a = math.radians(angle)
    cos, sin = math.cos(a) * scale, math.sin(a) * scale
    centre = (size - 1) / 2.0  # the crop centre in integer-centre coordinates
    # rotate about the box centre, scale, then move the box centre to the crop centre
    return np.array([[cos, sin, centre - cos * cx - sin * cy],
                     [-sin, cos, centre + sin * cx - cos * cy]], np.float64)


def invert_affine(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(m, np.float64))


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, np.float64)
    return points @ m[:, :2].T + m[:, 2]


def crop_face(image_bgr: np.ndarray, box: Box, size: int, margin: float, angle: float = 0.0,
              to_rgb: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Cut the square face crop (uint8, HxWx3, RGB by default) and return it with the
    image->crop matrix. When the crop shrinks the image more than 2x, the region is first
    reduced with area averaging so that the bilinear warp does not alias."""
    m = crop_matrix(box, size, margin, angle)
    scale = float(np.hypot(m[0, 0], m[0, 1]))
    src, src_from_image = image_bgr, None
    if scale < 0.5:
        src, src_from_image = _area_reduce(image_bgr, m, size, scale)
    warp = m if src_from_image is None else _compose(m, invert_affine(src_from_image))
    crop = cv2.warpAffine(src, warp, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    if to_rgb:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
    return crop, m


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """outer after inner, both 2x3 (the top rows of their 3x3 product, without building it)."""
    a = outer[:, :2]
    return np.concatenate([a @ inner[:, :2], (a @ inner[:, 2] + outer[:, 2])[:, None]], axis=1)


def _area_reduce(image: np.ndarray, m: np.ndarray, size: int, scale: float):
    """Shrink the image region under the crop by area averaging over k x k pixel blocks,
    k = floor(1 / scale) (the bilinear warp then shrinks by less than 2x more, without
    aliasing). A whole-number factor takes OpenCV's fast area path (15x faster than a
    fractional one). Returns the reduced region and the image->region matrix."""
    k = int(1.0 / scale)
    corners = apply_affine(invert_affine(m), np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]]))
    h, w = image.shape[:2]
    clip = lambda v, lo, hi: min(max(v, lo), hi)  # noqa: E731  (plain Python on scalars: np.clip costs 4 us a call)
    (xmin, ymin), (xmax, ymax) = corners.min(axis=0).tolist(), corners.max(axis=0).tolist()
    x0 = int(clip(math.floor(xmin) - 2, 0, w - 1))
    y0 = int(clip(math.floor(ymin) - 2, 0, h - 1))
    x1 = int(clip(math.ceil(xmax) + 3, x0 + 1, w))
    y1 = int(clip(math.ceil(ymax) + 3, y0 + 1, h))
    new_w, new_h = max(1, (x1 - x0) // k), max(1, (y1 - y0) // k)
    x1, y1 = min(w, x0 + new_w * k), min(h, y0 + new_h * k)  # whole blocks only
    reduced = cv2.resize(image[y0:y1, x0:x1], (new_w, new_h), interpolation=cv2.INTER_AREA)
    fx, fy = new_w / (x1 - x0), new_h / (y1 - y0)
    # continuous edges scale: x_r + 0.5 = (x - x0 + 0.5) * fx
    to_region = np.array([[fx, 0, (0.5 - x0) * fx - 0.5], [0, fy, (0.5 - y0) * fy - 0.5]], np.float64)
    return reduced, to_region


def normalise(crops_rgb: np.ndarray, mean, std, channels_last: bool = False) -> np.ndarray:
    """uint8 crops (N, H, W, 3) or (H, W, 3) -> float32 (N, 3, H, W), or (N, H, W, 3) with
    ``channels_last`` (a model that takes NHWC input)."""
    crops = np.asarray(crops_rgb)
    if crops.ndim == 3:
        crops = crops[None]
    x = (crops.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return x if channels_last else np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def image_to_normalised(points: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """Image pixel landmarks -> crop-normalised landmarks (0..1 across the crop)."""
    return ((apply_affine(m, points) + 0.5) / size).astype(np.float32)


def normalised_to_image(uv: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """Crop-normalised landmarks -> image pixel landmarks (one ``cv2.transform`` by the inverse
    matrix, in float64: the same numbers as ``apply_affine``, bit for bit, in 2/3 the time)."""
    points = np.asarray(uv, np.float64) * size - 0.5
    if points.size == 0:
        return points.astype(np.float32)
    return cv2.transform(points.reshape(-1, 1, 2), invert_affine(m)).reshape(points.shape).astype(np.float32)


def box_from_landmarks(points: np.ndarray, rule: dict) -> Box:
    """A face box around landmarks, by the rule measured on the training set:
    centre offset (dx, dy) and side, all in units of the landmarks' extent."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    extent = float(max(hi[0] - lo[0], hi[1] - lo[1], 1.0))
    cx = (lo[0] + hi[0]) / 2 + rule["dx"] * extent
    cy = (lo[1] + hi[1]) / 2 + rule["dy"] * extent
    half = rule["side"] * extent / 2
    return (cx - half, cy - half, cx + half, cy + half)


def roll_angle(left_eye, right_eye) -> float:
    """Degrees the eye line turns from horizontal (image left eye to image right eye): the
    ``angle`` that makes ``crop_face`` cut an upright face."""
    dx, dy = np.asarray(right_eye, np.float64) - np.asarray(left_eye, np.float64)
    return float(np.degrees(np.arctan2(dy, dx)))


def upright_box_from_landmarks(points: np.ndarray, rule: dict, eyes: tuple[int, int]) -> tuple[Box, float]:
    """``box_from_landmarks`` in the face's own upright frame: the box (a square about the
    face centre, in image pixels) and the angle to crop it by, so that the crop shows the
    face with its eyes level, as the model was trained to see faces.

    Plain Python floats on one face's few points (float64, as numpy's version was): the
    tracker calls this every frame, and a dozen numpy calls on five points cost 4x the
    arithmetic (0.016 against 0.004 ms)."""
    pts = np.asarray(points, np.float64).tolist()
    (lx, ly), (rx, ry) = pts[eyes[0]], pts[eyes[1]]
    angle = math.degrees(math.atan2(ry - ly, rx - lx))  # roll_angle
    a = math.radians(angle)
    cos, sin = math.cos(a), math.sin(a)
    n = len(pts)
    cx, cy = sum(p[0] for p in pts) / n, sum(p[1] for p in pts) / n
    # the points about their centre, turned upright (rotation by -angle)
    us = [cos * (x - cx) + sin * (y - cy) for x, y in pts]
    vs = [-sin * (x - cx) + cos * (y - cy) for x, y in pts]
    ulo, uhi, vlo, vhi = min(us), max(us), min(vs), max(vs)
    extent = max(uhi - ulo, vhi - vlo, 1.0)  # box_from_landmarks in the upright frame
    bu = (ulo + uhi) / 2 + rule["dx"] * extent
    bv = (vlo + vhi) / 2 + rule["dy"] * extent
    half = rule["side"] * extent / 2
    bx, by = cos * bu - sin * bv + cx, sin * bu + cos * bv + cy  # the box centre back in the image frame
    return (bx - half, by - half, bx + half, by + half), angle


def measure_box_rule(boxes: np.ndarray, points: np.ndarray) -> dict:
    """Median relation between given boxes (N, 4: l, t, r, b) and landmarks (N, K, 2)."""
    lo, hi = points.min(axis=1), points.max(axis=1)
    extent = np.maximum(np.maximum(hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1]), 1.0)
    bcx, bcy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return {"dx": float(np.median((bcx - (lo[:, 0] + hi[:, 0]) / 2) / extent)),
            "dy": float(np.median((bcy - (lo[:, 1] + hi[:, 1]) / 2) / extent)),
            "side": float(np.median(side / extent))}
