"""A near face and a far one in the same 640x480 frame (what blazeface-fast's fallback does not
cover): for each of the first N test photos, the photo scaled to eyes NEAR px apart pasted in the
left half of a mid-grey frame and the next photo scaled to eyes FAR px apart in the right half
(random places, seed 0). Found % of each face (a detection's box holds the centre of its five
labels), and how many frames blazeface-fast's second detector ran on. Also: a grey frame with no
face (the fallback runs every time).
    python two_faces.py N NEAR FAR OUT.json blazeface blazeface-int8-96 blazeface-fast"""
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from edgemark.data.images import read_image
from edgemark.data.lists import read_list
from edgemark.detect import holds
from edgemark.pipeline import load_pipeline
from edgemark.shipped import resolve_export_folder

n_photos, near, far = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
names = sys.argv[5:]
art = resolve_export_folder(Path("mobilenetv2_96")) / "tflite-int8"
pipes = {n: load_pipeline(art, detector=n, threads=1) for n in names}
recs = read_list(Path(os.environ["EDGEMARK_DATA"]) / "testImageList.txt").records[: n_photos + 1]
rng = np.random.default_rng(0)


def place(frame, r, iod, x_lo, x_hi):
    img = read_image(r)
    t = np.asarray(r.landmarks, float)
    s = iod / np.linalg.norm(t[0] - t[1])
    small = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))), interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    small = small[:480, : x_hi - x_lo]
    x0, y0 = x_lo + int(rng.integers(0, max(1, x_hi - x_lo - w))), int(rng.integers(0, max(1, 480 - h)))
    small = small[: 480 - y0]
    frame[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return ((t + 0.5) * [w / img.shape[1], h / img.shape[0]] - 0.5 + [x0, y0]).mean(0)


res = {n: {"near": 0, "far": 0, "both": 0} for n in names}
for i in range(n_photos):
    frame = np.full((480, 640, 3), 128, np.uint8)
    c_near = place(frame, recs[i], near, 0, 320)
    c_far = place(frame, recs[i + 1], far, 320, 640)
    for n, pipe in pipes.items():
        faces = pipe(frame)
        a, b = any(holds(f.box, c_near) for f in faces), any(holds(f.box, c_far) for f in faces)
        res[n]["near"] += a
        res[n]["far"] += b
        res[n]["both"] += a and b
out = {"frames": n_photos, "near_iod_px": near, "far_iod_px": far}
for n, pipe in pipes.items():
    out[n] = {k: 100 * v / n_photos for k, v in res[n].items()}
    if hasattr(pipe.detector, "fallbacks"):
        out[n]["fallback_frames"] = pipe.detector.fallbacks
        pipe(np.full((480, 640, 3), 128, np.uint8))
        out[n]["fallback_on_empty_frame"] = pipe.detector.fallbacks - out[n]["fallback_frames"]
    print(n, out[n])
json.dump(out, open(sys.argv[4], "w"), indent=1)
