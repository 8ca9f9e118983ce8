"""Face filters, chosen by the model's landmark scheme (``assets/dense.json`` and
``assets/anchors.json``, written by ``make_assets``):

- stickers (hat, sunglasses, moustache): overlays placed by a similarity transform
  (rotation, uniform scale, translation) from two anchor points in the overlay to two of
  the 5 labelled CUHK points (eye centres, mouth corners), from any scheme that labels them
  (cuhk5, drive23, dense68);
- dense filters, for a scheme that names the 68 iBUG points (dense68, ibug68), each naming
  the points it follows: ``warp`` (the face paint: a texture drawn on a canonical face,
  warped triangle by triangle, piecewise affine over its Delaunay triangulation, so it
  follows the jaw and the mouth; the mouth's opening and the eyes stay uncovered),
  ``affine`` (the glasses, by the nose bridge and the outer eye corners: three points, a
  full affine map that shears as the head turns) and ``fill`` (the lip tint: the outer lip
  contour less the inner one, so an open mouth stays untinted).

Without names, a scheme with the dense filters' points gets ``dense.json``'s default set,
any other the stickers."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..errors import EdgemarkError
from ..head_pose import FIVE_NAMES, labelled_five

ASSETS = Path(__file__).parent / "assets"
STICKERS = ("hat", "sunglasses", "moustache")


def _read_overlay(name: str) -> np.ndarray:
    image = cv2.imread(str(ASSETS / name), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3 or image.shape[2] != 4:
        raise EdgemarkError(f"{ASSETS / name}: missing or not an RGBA overlay")
    return image


def _blend(frame: np.ndarray, layer: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> None:
    """Blend a BGR layer with its alpha (0..1, H x W x 1) into ``frame`` at (x0, y0), in place."""
    h, w = layer.shape[:2]
    roi = frame[y0 : y0 + h, x0 : x0 + w]
    roi[:] = (roi.astype(np.float32) * (1 - alpha) + layer.astype(np.float32) * alpha).astype(np.uint8)


def _region(points: np.ndarray, shape, pad: int = 2):
    """The frame's pixel box (x0, y0, x1, y1) around points, clipped; None when empty."""
    h, w = shape[:2]
    x0, y0 = np.clip(np.floor(points.min(axis=0)).astype(int) - pad, 0, [w, h])
    x1, y1 = np.clip(np.ceil(points.max(axis=0)).astype(int) + pad + 1, 0, [w, h])
    return None if x1 <= x0 or y1 <= y0 else (int(x0), int(y0), int(x1), int(y1))


class Sticker:
    """An RGBA overlay placed by a similarity transform from two anchor points."""

    def __init__(self, name: str, image: np.ndarray, at, idx):
        self.name, self.image, self.at, self.idx = name, image, np.float32(at), list(idx)

    def apply(self, frame: np.ndarray, points: np.ndarray) -> None:
        m, _ = cv2.estimateAffinePartial2D(self.at, np.float32(points[self.idx]))
        if m is not None:
            _place(frame, self.image, m)


def _place(frame: np.ndarray, overlay: np.ndarray, m: np.ndarray) -> None:
    """Warp an RGBA overlay by the 2x3 map ``m`` and blend it where it lands."""
    oh, ow = overlay.shape[:2]
    corners = np.float32([[0, 0], [ow, 0], [0, oh], [ow, oh]]) @ m[:, :2].T + m[:, 2]
    box = _region(corners, frame.shape, 0)
    if box is None:
        return
    x0, y0, x1, y1 = box
    shifted = m.copy()
    shifted[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(overlay, shifted, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    _blend(frame, warped[:, :, :3], warped[:, :, 3:4].astype(np.float32) / 255.0, x0, y0)


class AffineOverlay:
    """An RGBA overlay placed by a full affine map from three anchor points (left, middle,
    right: the outer two set its width and tilt, the middle one where its middle goes, so
    the far half narrows as the head turns); left out when one side is under
    ``min_side_ratio`` of the other (a head turned so far that it would fold)."""

    def __init__(self, name: str, image: np.ndarray, at, idx, min_side_ratio: float = 0.0):
        self.name, self.image, self.at, self.idx = name, image, np.float32(at), list(idx)
        self.min_side_ratio = float(min_side_ratio)

    def apply(self, frame: np.ndarray, points: np.ndarray) -> None:
        dst = np.float32(points[self.idx])
        if abs(np.cross(dst[1] - dst[0], dst[2] - dst[0])) < 1.0:  # the three points in a line: no map
            return
        line = dst[2] - dst[0]
        width = float(np.linalg.norm(line))
        along = float(np.dot(dst[1] - dst[0], line)) / width  # where the middle point sits between the outer two
        if min(along, width - along) < self.min_side_ratio * max(along, width - along):
            return
        # The middle point's height over the line is a few pixels: a map through it would shear
        # wildly with their noise. Its third point instead stands up from the middle one,
        # perpendicular to the outer two, at the overlay's own scale.
        lift = 0.5 * float(np.linalg.norm(self.at[2] - self.at[0]))
        up = np.float32([line[1], -line[0]]) / width * lift * width / float(np.linalg.norm(self.at[2] - self.at[0]))
        src = np.float32([self.at[0], self.at[2], self.at[1] + (0, -lift)])
        _place(frame, self.image, cv2.getAffineTransform(src, np.float32([dst[0], dst[2], dst[1] + up])))


class WarpOverlay:
    """A texture drawn on a canonical face, warped onto the face triangle by triangle
    (piecewise affine); triangles that fold over (the far side of a turned head) are left
    out, and the holes (the mouth's opening, the eyes) stay uncovered."""

    def __init__(self, name: str, image: np.ndarray, at, idx, triangles, holes):
        self.name, self.image, self.idx = name, image, list(idx)
        self.at = np.float32(at)
        self.triangles = np.int32(triangles)
        self.holes = [list(h) for h in holes]
        a, b, c = (self.at[self.triangles[:, k]] for k in range(3))
        self.orientation = np.sign(np.cross(b - a, c - a))  # of each canonical triangle

    def layer(self, shape, points: np.ndarray):
        """The warped texture over the face's box: (BGR layer, alpha 0..1 (H, W, 1), x0, y0),
        or None where the face is off the frame."""
        p = np.float32(points[self.idx])
        box = _region(p, shape)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        q = p - (x0, y0)
        out = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
        a, b, c = (q[self.triangles[:, k]] for k in range(3))
        keep = np.sign(np.cross(b - a, c - a)) == self.orientation
        for tri in self.triangles[keep]:
            src, dst = self.at[tri], q[tri]
            sx0, sy0 = np.floor(src.min(axis=0)).astype(int)
            sx1, sy1 = np.ceil(src.max(axis=0)).astype(int) + 1
            tx0, ty0 = np.clip(np.floor(dst.min(axis=0)).astype(int), 0, None)
            tx1, ty1 = np.minimum(np.ceil(dst.max(axis=0)).astype(int) + 1, [x1 - x0, y1 - y0])
            if tx1 <= tx0 or ty1 <= ty0:
                continue
            m = cv2.getAffineTransform(np.float32(src - (sx0, sy0)), np.float32(dst - (tx0, ty0)))
            patch = cv2.warpAffine(self.image[sy0:sy1, sx0:sx1], m, (int(tx1 - tx0), int(ty1 - ty0)), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
            mask = np.zeros((ty1 - ty0, tx1 - tx0), np.uint8)
            cv2.fillConvexPoly(mask, np.int32(np.round(dst - (tx0, ty0))), 1)
            region = out[ty0:ty1, tx0:tx1]
            region[mask > 0] = patch[mask > 0]
        for hole in self.holes:
            cv2.fillPoly(out, [np.int32(np.round(q[hole]))], (0, 0, 0, 0))
        return out[:, :, :3], out[:, :, 3:4].astype(np.float32) / 255.0, x0, y0

    def apply(self, frame: np.ndarray, points: np.ndarray) -> None:
        warped = self.layer(frame.shape, points)
        if warped is not None:
            _blend(frame, *warped)


class Fill:
    """A colour filled between an outer contour and its holes (the lip tint), edges softened."""

    def __init__(self, name: str, idx, outer, holes, color, alpha: float):
        self.name, self.idx = name, list(idx)
        self.outer, self.holes = [self.idx[i] for i in outer], [[self.idx[i] for i in h] for h in holes]
        self.color, self.alpha = np.float32(color), float(alpha)

    def mask(self, shape, points: np.ndarray):
        """(mask 0..1 (H, W), x0, y0) over the contour's box, or None."""
        box = _region(np.float32(points[self.outer]), shape, 3)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.int32(np.round(points[self.outer] - (x0, y0)))], 255, cv2.LINE_AA)
        for hole in self.holes:
            cv2.fillPoly(mask, [np.int32(np.round(points[hole] - (x0, y0)))], 0, cv2.LINE_AA)
        return cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32) / 255.0, x0, y0

    def apply(self, frame: np.ndarray, points: np.ndarray) -> None:
        got = self.mask(frame.shape, points)
        if got is None:
            return
        mask, x0, y0 = got
        h, w = mask.shape
        roi = frame[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
        # tint: keep the lips' shading (luminance), take the colour's hue
        shade = roi.mean(axis=2, keepdims=True) / 128.0
        tinted = np.clip(self.color * shade, 0, 255)
        _blend(frame, tinted, mask[:, :, None] * self.alpha, x0, y0)


def dense_definitions() -> dict:
    return json.loads((ASSETS / "dense.json").read_text())


def _missing(scheme, names) -> list[str]:
    have = set(scheme.names)
    return [n for n in names if n not in have]


def default_filters(scheme) -> tuple[str, ...]:
    """The dense set when the scheme names every point it follows, else the stickers."""
    dense = dense_definitions()
    if all(not _missing(scheme, dense["filters"][n]["points"]) for n in dense["default"]):
        return tuple(dense["default"])
    return STICKERS


def available_filters() -> tuple[str, ...]:
    return STICKERS + tuple(dense_definitions()["filters"])


class FaceFilters:
    """The filters ``names`` (default: ``default_filters(scheme)``), applied in that order."""

    def __init__(self, scheme, names=None):
        names = tuple(names) if names else default_filters(scheme)
        dense = dense_definitions()["filters"]
        unknown = [n for n in names if n not in dense and n not in STICKERS]
        if unknown:
            raise EdgemarkError(f"unknown filter(s) {', '.join(unknown)}; choose from {', '.join(available_filters())}")
        self.names = names
        self.overlays = []
        anchors = None
        for name in names:
            if name in STICKERS:
                five = labelled_five(scheme)
                if five is None:
                    dense_hint = ("; the dense filters (" + ", ".join(dense) + ") follow the 68 iBUG points by name "
                                  "(dense68, ibug68)") if _missing(scheme, dense["face_paint"]["points"]) else ""
                    raise EdgemarkError(f"the shipped filters are anchored on the 5 labelled CUHK points ({', '.join(FIVE_NAMES)}); "
                                        f"this model's {scheme.num_points}-point {scheme.name} scheme does not label them "
                                        f"(cuhk5, drive23 and dense68 do){dense_hint}")
                anchors = anchors or json.loads((ASSETS / "anchors.json").read_text())
                # anchors.json names points of the 5-point scheme: the same points of this one
                self.overlays.append(Sticker(name, _read_overlay(f"{name}.png"), anchors[name]["at"],
                                             [five[i] for i in anchors[name]["points"]]))
                continue
            d = dense[name]
            missing = _missing(scheme, d["points"])
            if missing:
                raise EdgemarkError(f"filter {name!r} follows the 68 iBUG points by name; this model's {scheme.num_points}-point "
                                    f"{scheme.name} scheme lacks {', '.join(missing[:4])}{'...' if len(missing) > 4 else ''} "
                                    "(dense68 and ibug68 name them)")
            idx = [scheme.names.index(n) for n in d["points"]]
            if d["kind"] == "warp":
                self.overlays.append(WarpOverlay(name, _read_overlay(d["image"]), d["at"], idx, d["triangles"], d["holes"]))
            elif d["kind"] == "affine":
                self.overlays.append(AffineOverlay(name, _read_overlay(d["image"]), d["at"], idx, d.get("min_side_ratio", 0.0)))
            elif d["kind"] == "fill":
                self.overlays.append(Fill(name, idx, d["outer"], d["holes"], d["color"], d["alpha"]))
            else:
                raise EdgemarkError(f"{ASSETS / 'dense.json'}: filter {name!r} of unknown kind {d['kind']!r}")

    def apply(self, frame: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Blend every overlay into ``frame`` in place; only the region it covers is touched."""
        points = np.asarray(points, np.float32)
        for overlay in self.overlays:
            overlay.apply(frame, points)
        return frame
