"""Data set analysis: counts, image sizes, box sizes, inter-ocular distances, and a grid
of faces with their landmarks drawn."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np

from ..plots import draw_points, tile
from ..scheme import LandmarkScheme
from .images import read_image
from .lists import FaceList

PALETTE = [(0, 0, 255), (0, 200, 0), (255, 0, 0), (0, 220, 220), (255, 0, 255), (255, 255, 0)]


def _describe(values: np.ndarray) -> dict:
    q = np.percentile(values, [0, 5, 50, 95, 100])
    return {"min": float(q[0]), "p5": float(q[1]), "median": float(q[2]), "p95": float(q[3]), "max": float(q[4]),
            "mean": float(values.mean())}


def list_stats(faces: FaceList, scheme: LandmarkScheme, read_sizes: bool = True, progress=None) -> dict:
    records = faces.records
    points = np.stack([r.landmarks for r in records])
    a, b = scheme.interocular
    iod = np.linalg.norm(points[:, a] - points[:, b], axis=1)
    stats = {"list": faces.path, "faces": len(records), "skipped_lines": len(faces.skipped),
             "sources": dict(Counter(r.image_path.parent.name for r in records)),
             "interocular_px": _describe(iod)}
    boxed = [r for r in records if r.box is not None]
    if boxed:
        boxes = np.array([r.box for r in boxed])
        pts = np.stack([r.landmarks for r in boxed])
        stats["box_width_px"] = _describe(boxes[:, 2] - boxes[:, 0])
        stats["box_height_px"] = _describe(boxes[:, 3] - boxes[:, 1])
        inside = ((pts[:, :, 0] >= boxes[:, None, 0]) & (pts[:, :, 0] <= boxes[:, None, 2])
                  & (pts[:, :, 1] >= boxes[:, None, 1]) & (pts[:, :, 1] <= boxes[:, None, 3])).all(axis=1)
        stats["landmarks_inside_box"] = float(inside.mean())
    if read_sizes:
        sizes = Counter()
        for i, r in enumerate(records):
            h, w = read_image(r).shape[:2]
            sizes[f"{w}x{h}"] += 1
            if progress is not None:
                progress(i + 1, len(records))
        stats["image_sizes"] = dict(sizes.most_common())
    return stats


def landmark_grid(faces: FaceList, n: int = 16, seed: int = 0, columns: int = 8) -> np.ndarray:
    pick = np.random.default_rng(seed).choice(len(faces), size=min(n, len(faces)), replace=False)
    tiles = []
    for i in pick:
        r = faces.records[i]
        image = read_image(r).copy()
        scale = max(image.shape[:2]) / 256
        if r.box is not None:
            l, t, rr, b = (int(round(v)) for v in r.box)
            cv2.rectangle(image, (l, t), (rr, b), (255, 255, 255), max(1, int(scale)))
        for k, p in enumerate(r.landmarks):
            draw_points(image, p[None], PALETTE[k % len(PALETTE)], max(2, int(2 * scale)))
        h, w = image.shape[:2]
        side = max(h, w)
        square = np.zeros((side, side, 3), np.uint8)
        square[:h, :w] = image
        tiles.append(square)
    return tile(tiles, 200, columns)
