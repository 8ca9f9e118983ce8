"""Faces small in a 640x480 frame (not one of the bars; the case a smaller input risks): each
of the first N test photos scaled so that its eyes are IOD px apart and pasted at a random place
(seed 0) on a mid-grey 640x480 frame; a face counts as found when a detection's box holds the
centre of its five labels. Found %, detector keypoints vs the moved labels (eyes, nose, mouth
centre) and the pipeline's landmarks (detector + shipped int8 TFLite model) vs the five labels,
mean distance in % of the IOD.
    python frame_size.py N OUT.json blazeface blazeface-96 ..."""
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

IODS = (10, 14, 20, 28, 40, 56)
names = sys.argv[3:]
art = resolve_export_folder(Path("mobilenetv2_96")) / "tflite-int8"
pipes = {n: load_pipeline(art, detector=n, threads=1) for n in names}
recs = read_list(Path(os.environ["EDGEMARK_DATA"]) / "testImageList.txt").records[: int(sys.argv[1])]
rng = np.random.default_rng(0)
res = {n: {i: {"found": 0, "err": [], "nme": []} for i in IODS} for n in names}
for r in recs:
    img = read_image(r)
    t = np.asarray(r.landmarks, float)
    for iod in IODS:
        s = iod / np.linalg.norm(t[0] - t[1])
        small = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))), interpolation=cv2.INTER_AREA)
        h, w = small.shape[:2]
        frame = np.full((480, 640, 3), 128, np.uint8)
        x0, y0 = int(rng.integers(0, max(1, 640 - w))), int(rng.integers(0, max(1, 480 - h)))
        small = small[: 480 - y0, : 640 - x0]
        frame[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
        pts = (t + 0.5) * [w / img.shape[1], h / img.shape[0]] - 0.5 + [x0, y0]
        truth = np.stack([pts[0], pts[1], pts[2], (pts[3] + pts[4]) / 2])
        for n, pipe in pipes.items():
            inside = [f for f in pipe(frame) if holds(f.box, pts.mean(0))]
            if inside:
                res[n][iod]["found"] += 1
                best = min(inside, key=lambda f: np.linalg.norm(f.keypoints[:4].mean(0) - truth.mean(0)))
                res[n][iod]["err"].append(np.linalg.norm(best.keypoints[:4] - truth, axis=1).mean() / iod)
                res[n][iod]["nme"].append(np.linalg.norm(best.landmarks - pts, axis=1).mean() / iod)
out = {n: {str(i): {"faces": len(recs), "found_pct": 100 * v["found"] / len(recs),
                    "kp_err_mean_pct": float(np.mean(v["err"]) * 100) if v["err"] else None,
                    "nme_mean_pct": float(np.mean(v["nme"]) * 100) if v["nme"] else None} for i, v in per.items()} for n, per in res.items()}
print("eyes apart (px) | " + " | ".join(f"{n}: found %, keypoints, NME" for n in names))
nan = float("nan")
for i in IODS:
    print(f"| {i} | " + " | ".join(f"{out[n][str(i)]['found_pct']:.1f} / {out[n][str(i)]['kp_err_mean_pct'] or nan:.2f} / "
                                    f"{out[n][str(i)]['nme_mean_pct'] or nan:.2f}" for n in names) + " |")
json.dump(out, open(sys.argv[2], "w"), indent=1)
