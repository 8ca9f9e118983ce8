"""Draw the face-filter overlays (RGBA PNGs) shipped in ``edgemark/demo/assets``.

Run ``python -m edgemark.demo.make_assets`` to draw them again. Each sticker comes with
anchor points: where, in the overlay's pixels, two landmarks of the 5-point scheme go
(``anchors.json``). The dense filters (``dense.json``) name the iBUG 68 points they follow:
the face paint is drawn on a canonical 68-point face (``CANONICAL68``) and warped triangle
by triangle (its Delaunay triangulation, stored) onto the face; the glasses go by three
points (a full affine map); the lip tint fills the lips between their outer and inner
contours.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

ASSETS = Path(__file__).parent / "assets"


def sunglasses() -> np.ndarray:
    im = np.zeros((80, 220, 4), np.uint8)
    for cx in (60, 160):
        cv2.ellipse(im, (cx, 40), (44, 30), 0, 0, 360, (30, 30, 30, 235), -1, cv2.LINE_AA)
        cv2.ellipse(im, (cx - 12, 30), (12, 7), -20, 0, 360, (120, 120, 120, 200), -1, cv2.LINE_AA)
        cv2.ellipse(im, (cx, 40), (44, 30), 0, 0, 360, (10, 10, 10, 255), 4, cv2.LINE_AA)
    cv2.line(im, (104, 34), (116, 34), (10, 10, 10, 255), 5, cv2.LINE_AA)
    cv2.line(im, (16, 32), (2, 26), (10, 10, 10, 255), 4, cv2.LINE_AA)
    cv2.line(im, (204, 32), (218, 26), (10, 10, 10, 255), 4, cv2.LINE_AA)
    return im


def moustache() -> np.ndarray:
    im = np.zeros((60, 180, 4), np.uint8)
    for sign in (-1, 1):
        pts = np.array([[90, 18], [90 + sign * 30, 12], [90 + sign * 62, 22], [90 + sign * 82, 8],
                        [90 + sign * 76, 34], [90 + sign * 50, 44], [90 + sign * 20, 38], [90, 30]], np.int32)
        cv2.fillPoly(im, [pts], (25, 35, 60, 245), cv2.LINE_AA)
    return im


def hat() -> np.ndarray:
    im = np.zeros((200, 260, 4), np.uint8)
    cv2.rectangle(im, (60, 10), (200, 170), (20, 20, 20, 250), -1)
    cv2.rectangle(im, (60, 130), (200, 155), (40, 40, 170, 250), -1)
    cv2.ellipse(im, (130, 175), (128, 22), 0, 0, 360, (20, 20, 20, 250), -1, cv2.LINE_AA)
    return im


# The iBUG 68 points (edgemark/schemes/ibug68.yaml) of a canonical face, in pixels of the
# face paint at scale 1 (200 px between the eye centres at PAINT_SCALE 2): the median upright
# shape of MediaPipe's face mesh mapped to the 68 (predictors/mediapipe_mesh.py) over the
# 2,027 CUHK test faces, mirror-symmetrised, then the mouth opened (61-63 up 3, 65-67 down
# 6) so that the triangulation keeps the mouth's opening apart from the lips.
CANONICAL68 = [
    [30.0, 100.7], [31.1, 123.3], [34.3, 158.5], [38.8, 183.9], [47.3, 207.4], [63.1, 233.3], [83.4, 251.5], [110.5, 267.9],
    [137.7, 273.0], [164.9, 267.9], [192.0, 251.5], [212.3, 233.3], [228.1, 207.4], [236.7, 183.9], [241.1, 158.5],
    [244.3, 123.3], [245.4, 100.7],  # jaw 0-16
    [51.8, 75.4], [58.4, 64.3], [73.9, 60.0], [93.1, 61.4], [116.5, 71.0],  # brow 17-21
    [158.9, 71.0], [182.3, 61.4], [201.5, 60.0], [217.0, 64.3], [223.6, 75.4],  # brow 22-26
    [137.7, 91.7], [137.7, 116.9], [137.7, 133.7], [137.7, 153.7],  # nose bridge 27-30
    [116.9, 165.7], [125.7, 172.1], [137.7, 172.8], [149.7, 172.1], [158.5, 165.7],  # nose base 31-35
    [66.9, 96.1], [77.3, 90.5], [94.2, 89.7], [110.4, 99.4], [96.9, 102.4], [80.4, 102.2],  # eye 36-41
    [165.0, 99.4], [181.2, 89.7], [198.1, 90.5], [208.5, 96.1], [195.0, 102.2], [178.5, 102.4],  # eye 42-47
    [95.3, 201.6], [112.1, 193.3], [124.9, 191.6], [137.7, 193.3], [150.5, 191.6], [163.3, 193.3], [180.1, 201.6],
    [166.0, 219.2], [150.8, 227.5], [137.7, 228.8], [124.6, 227.5], [109.5, 219.2],  # outer lip 48-59
    [101.2, 201.4], [127.5, 198.3], [137.7, 198.9], [147.9, 198.3], [174.2, 201.4], [148.4, 217.2], [137.7, 217.9],
    [127.0, 217.2],  # inner lip 60-67
]
PAINT_SCALE = 2
JAW, BROWS, NOSE_BASE = list(range(17)), list(range(17, 27)), list(range(30, 36))
EYES, OUTER_LIP, INNER_LIP = (list(range(36, 42)), list(range(42, 48))), list(range(48, 60)), list(range(60, 68))


def _canonical() -> np.ndarray:
    return np.float32(CANONICAL68) * PAINT_SCALE


def face_outline(p: np.ndarray) -> np.ndarray:
    """The painted region's outline: the jaw, then the brows back (right to left)."""
    return np.int32(np.concatenate([p[JAW], p[BROWS][::-1]]))


def face_paint() -> np.ndarray:
    """A tiger's face paint on the canonical face: orange base, black stripes from the jaw
    and down the nose, white muzzle, black nose, dark eye rims; the edge faded."""
    p = _canonical()
    h, w = int(p[:, 1].max()) + 40, int(p[:, 0].max()) + 60
    im = np.zeros((h, w, 4), np.uint8)
    cv2.fillPoly(im, [face_outline(p)], (20, 120, 245, 150), cv2.LINE_AA)
    centre_x = float(p[27:31, 0].mean())
    for side in (-1, 1):  # cheek stripes: wedges from the jaw towards the nose
        for k, (j, reach) in enumerate(((2, 0.42), (4, 0.36), (6, 0.26))):
            jaw = p[j] if side < 0 else p[16 - j]
            tip = jaw + (np.float32([centre_x, p[30, 1] + 20 * k]) - jaw) * reach
            normal = np.float32([-(tip - jaw)[1], (tip - jaw)[0]])
            normal *= 9 / max(np.linalg.norm(normal), 1e-6)
            cv2.fillPoly(im, [np.int32([jaw - normal, jaw + normal, tip])], (15, 15, 15, 230), cv2.LINE_AA)
    top = (p[21] + p[22]) / 2  # a stripe down the brow of the nose
    cv2.fillPoly(im, [np.int32([top + [-12, 0], top + [12, 0], p[28]])], (15, 15, 15, 230), cv2.LINE_AA)
    muzzle = np.concatenate([p[NOSE_BASE], p[[54, 55, 56, 57, 58, 59, 48]]]) + [0, 0]
    cv2.fillPoly(im, [np.int32(cv2.convexHull(np.float32(muzzle)))], (245, 245, 245, 200), cv2.LINE_AA)
    cv2.fillPoly(im, [np.int32(p[[30, 31, 32, 33, 34, 35]])], (10, 10, 10, 240), cv2.LINE_AA)
    for eye in EYES:
        cv2.polylines(im, [np.int32(p[eye])], True, (10, 10, 10, 230), 7, cv2.LINE_AA)
    alpha = im[:, :, 3].astype(np.float32)
    inside = np.zeros(alpha.shape, np.uint8)
    cv2.fillPoly(inside, [face_outline(p)], 255)
    fade = cv2.GaussianBlur(cv2.erode(inside, np.ones((9, 9), np.uint8)), (0, 0), 6).astype(np.float32) / 255
    im[:, :, 3] = np.clip(alpha * fade, 0, 255).astype(np.uint8)
    return im


def paint_triangles() -> list[list[int]]:
    """The Delaunay triangulation of the canonical 68 points, less the triangles inside the
    mouth's opening and the eyes (the face shows through there)."""
    p = _canonical()
    subdiv = cv2.Subdiv2D((0, 0, int(p[:, 0].max()) + 10, int(p[:, 1].max()) + 10))
    for q in p:
        subdiv.insert((float(q[0]), float(q[1])))
    out = []
    holes = [np.float32(p[INNER_LIP])] + [np.float32(p[e]) for e in EYES]
    for t in subdiv.getTriangleList().reshape(-1, 3, 2):
        idx = [int(np.argmin(np.linalg.norm(p - v, axis=1))) for v in t]
        if len(set(idx)) < 3 or np.abs(p[idx] - t).max() > 0.5:
            continue
        centre = tuple(float(c) for c in p[idx].mean(axis=0))
        if any(cv2.pointPolygonTest(hole, centre, False) > 0 for hole in holes):
            continue
        out.append(sorted(idx))
    return sorted(out)


def glasses() -> np.ndarray:
    """Round glasses: tinted lenses, a tortoiseshell frame, a bridge."""
    im = np.zeros((96, 260, 4), np.uint8)
    for cx in (70, 190):
        cv2.circle(im, (cx, 50), 40, (200, 170, 120, 70), -1, cv2.LINE_AA)
        cv2.ellipse(im, (cx - 14, 36), (12, 6), -30, 0, 360, (255, 255, 255, 110), -1, cv2.LINE_AA)
        cv2.circle(im, (cx, 50), 40, (20, 50, 90, 255), 6, cv2.LINE_AA)
    cv2.ellipse(im, (130, 48), (22, 12), 0, 200, 340, (20, 50, 90, 255), 5, cv2.LINE_AA)
    cv2.line(im, (30, 44), (4, 38), (20, 50, 90, 255), 5, cv2.LINE_AA)
    cv2.line(im, (230, 44), (256, 38), (20, 50, 90, 255), 5, cv2.LINE_AA)
    return im


# The dense filters: each names the iBUG 68 points it follows (ibug68.yaml's names); a model
# whose scheme names them all gets them (dense68, ibug68). "default": what --mode filters
# shows when the model has the points.
def dense_filters() -> dict:
    import yaml

    names = yaml.safe_load((Path(__file__).parent.parent / "schemes" / "ibug68.yaml").read_text())["names"]
    return {
        "default": ["face_paint", "lip_tint", "glasses"],
        "filters": {
            "face_paint": {"kind": "warp", "image": "face_paint.png", "points": names,
                           "at": np.round(_canonical(), 1).tolist(), "triangles": paint_triangles(),
                           "holes": [INNER_LIP, *EYES]},
            "lip_tint": {"kind": "fill", "points": [names[i] for i in OUTER_LIP + INNER_LIP],
                         "outer": list(range(12)), "holes": [list(range(12, 20))], "color": [140, 30, 150], "alpha": 0.6},
            "glasses": {"kind": "affine", "image": "glasses.png", "points": [names[36], names[27], names[45]],
                        "at": [[44, 52], [130, 44], [216, 52]], "min_side_ratio": 0.4},
        },
    }


# overlay -> (landmark indices of the 5-point scheme, their positions in the overlay)
ANCHORS = {
    "sunglasses": {"points": [0, 1], "at": [[60, 40], [160, 40]]},
    "moustache": {"points": [3, 4], "at": [[35, 40], [145, 40]]},
    "hat": {"points": [0, 1], "at": [[75, 290], [185, 290]]},
}


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    for name, draw in (("sunglasses", sunglasses), ("moustache", moustache), ("hat", hat)):
        cv2.imwrite(str(ASSETS / f"{name}.png"), draw())
    (ASSETS / "anchors.json").write_text(json.dumps(ANCHORS, indent=2) + "\n")
    for name, draw in (("face_paint", face_paint), ("glasses", glasses)):
        cv2.imwrite(str(ASSETS / f"{name}.png"), draw())
    (ASSETS / "dense.json").write_text(json.dumps(dense_filters()) + "\n")


if __name__ == "__main__":
    main()
