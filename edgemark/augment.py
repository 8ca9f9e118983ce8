"""Training augmentation: geometry (flip, rotation, box scale and shift jitter) and
photometry (colour, blur, JPEG noise, occlusion). The model will meet boxes from other
face detectors, so the box jitter is part of the job, not decoration."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .preprocess import Box


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5  # probability of a horizontal flip
    rotation: float = 20.0  # max degrees, uniform in [-rotation, rotation]
    scale: float = 0.12  # box side jitter: factor in [1 - scale, 1 + scale]
    shift: float = 0.08  # box centre jitter, fraction of the box side
    color: float = 0.3  # brightness/contrast/saturation strength
    blur: float = 0.2  # probability of a Gaussian blur
    jpeg: float = 0.2  # probability of JPEG re-encoding
    occlusion: float = 0.0  # probability of a random grey patch
    # probability that the box side is instead drawn log-uniformly from WIDE_SCALE: boxes of
    # another convention, or a first landmark pass far off, which refinement must recover from
    wide_scale: float = 0.0
    gamma: float = 0.0  # probability of an exposure change: gamma drawn log-uniformly from GAMMA


WIDE_SCALE = (0.6, 2.0)
GAMMA = (0.4, 2.5)  # < 1 brightens (over-exposed), > 1 darkens (a dark cabin at night)


def jitter_box(box: Box, rng: np.random.Generator, cfg: AugmentConfig) -> tuple[Box, float]:
    """A randomly scaled and shifted box and a rotation angle."""
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    side = max(w, h)
    cx = (left + right) / 2 + rng.uniform(-cfg.shift, cfg.shift) * side
    cy = (top + bottom) / 2 + rng.uniform(-cfg.shift, cfg.shift) * side
    s = rng.uniform(1 - cfg.scale, 1 + cfg.scale)
    if cfg.wide_scale > 0 and rng.random() < cfg.wide_scale:
        s = float(np.exp(rng.uniform(*np.log(WIDE_SCALE))))
    w, h = w * s, h * s
    angle = rng.uniform(-cfg.rotation, cfg.rotation) if cfg.rotation > 0 else 0.0
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), float(angle)


def flip_horizontal(crop: np.ndarray, uv: np.ndarray, flip_perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror a crop and its crop-normalised landmarks; swap left/right points."""
    return np.ascontiguousarray(crop[:, ::-1]), flip_points(uv, flip_perm)


def flip_points(uv: np.ndarray, flip_perm: np.ndarray) -> np.ndarray:
    """Crop-normalised landmarks of the mirrored crop (left/right points swapped)."""
    uv = uv.copy()
    uv[:, 0] = 1.0 - uv[:, 0]
    return uv[flip_perm]


def photometric(crop: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    out = crop.astype(np.float32)
    if cfg.color > 0:
        c = cfg.color
        grey = out.mean(axis=2, keepdims=True)
        out = grey + (out - grey) * rng.uniform(1 - c, 1 + c)  # saturation
        out = (out - out.mean()) * rng.uniform(1 - c, 1 + c) + out.mean()  # contrast
        out = out + rng.uniform(-c, c) * 64  # brightness
    out = np.clip(out, 0, 255).astype(np.uint8)
    if cfg.gamma > 0 and rng.random() < cfg.gamma:
        g = float(np.exp(rng.uniform(*np.log(GAMMA))))
        out = cv2.LUT(out, (255.0 * (np.arange(256) / 255.0) ** g).round().astype(np.uint8))
    if rng.random() < cfg.blur:
        sigma = rng.uniform(0.3, 1.5)
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if rng.random() < cfg.jpeg:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 80))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if rng.random() < cfg.occlusion:
        h, w = out.shape[:2]
        ph, pw = int(rng.uniform(0.15, 0.4) * h), int(rng.uniform(0.15, 0.4) * w)
        y, x = int(rng.integers(0, h - ph)), int(rng.integers(0, w - pw))
        out = out.copy()
        out[y : y + ph, x : x + pw] = rng.integers(0, 256, size=3, dtype=np.uint8)
    return out
