"""Detector keypoints against the CUHK test labels (eyes, nose, mouth centre), % of the IOD,
per named detector, on the first N test photos:
    python keypoints.py 2027 OUT.json blazeface blazeface-96 ..."""
import json
import os
import sys
from pathlib import Path

import numpy as np

from edgemark.data.images import read_image
from edgemark.data.lists import read_list
from edgemark.detect import load_detector

names = sys.argv[3:]
dets = {n: load_detector(n) for n in names}
recs = read_list(Path(os.environ["EDGEMARK_DATA"]) / "testImageList.txt").records[: int(sys.argv[1])]
R = {k: {"found": 0, "extra": 0, "err": [], "shift_vs_128": []} for k in dets}
for r in recs:
    img = read_image(r)
    t = np.asarray(r.landmarks, float)
    truth = np.stack([t[0], t[1], t[2], (t[3] + t[4]) / 2])
    iod = np.linalg.norm(t[0] - t[1])
    ref = None
    for k, d in dets.items():
        found = d.detect(img)
        R[k]["found"] += bool(found)
        R[k]["extra"] += max(0, len(found) - 1)
        if found:
            best = min(found, key=lambda f: np.linalg.norm(f.keypoints[:4].mean(0) - truth.mean(0)))  # the labelled face's
            R[k]["err"].append(np.linalg.norm(best.keypoints[:4] - truth, axis=1).mean() / iod)
            if k == names[0]:
                ref = best.keypoints[:4]
            elif ref is not None:
                R[k]["shift_vs_128"].append(np.linalg.norm(best.keypoints[:4] - ref, axis=1).mean() / iod)
out = {}
for k, v in R.items():
    e, s = np.array(v["err"]), np.array(v["shift_vs_128"])
    out[k] = {"photos": len(recs), "found": v["found"], "extra": v["extra"], "kp_err_mean_pct": float(e.mean() * 100),
              "kp_err_median_pct": float(np.median(e) * 100),
              f"shift_vs_{names[0]}_mean_pct": float(s.mean() * 100) if s.size else None}
    print(f"{k:20s} found {v['found']}/{len(recs)}  extra {v['extra']}  keypoints vs labels (% IOD) mean {e.mean()*100:.3f} "
          f"median {np.median(e)*100:.3f}" + (f"  shift vs {names[0]} {s.mean()*100:.2f}" if s.size else ""))
json.dump(out, open(sys.argv[2], "w"), indent=1)
