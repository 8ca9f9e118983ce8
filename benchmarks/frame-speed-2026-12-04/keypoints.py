"""Detector keypoints against the CUHK test labels (eyes, nose, mouth centre), % of the IOD, per detector file:
   python keypoints.py 2027 ~/.cache/edgemark/models/face_detection_short_range_int8.tflite"""
import os, sys, numpy as np
from pathlib import Path
from edgemark.detect.blazeface import BlazeFaceDetector, SHORT_RANGE
from edgemark.data.lists import read_list
from edgemark.data.images import read_image
dets = {"float": BlazeFaceDetector(SHORT_RANGE)}
for p in sys.argv[2:]: dets[p.split("/")[-1]] = BlazeFaceDetector(SHORT_RANGE, model_file=p)
recs = read_list(Path(os.environ["EDGEMARK_DATA"]) / "testImageList.txt").records[: int(sys.argv[1])]
R = {k: {"found": 0, "extra": 0, "err": [], "lowscore": 0} for k in dets}
for r in recs:
    img = read_image(r); t = np.asarray(r.landmarks, float)
    truth = np.stack([t[0], t[1], t[2], (t[3] + t[4]) / 2]); iod = np.linalg.norm(t[0] - t[1])
    for k, d in dets.items():
        found = d.detect(img)
        R[k]["found"] += bool(found); R[k]["extra"] += max(0, len(found) - 1)
        if found:
            # the detection nearest the labelled face
            best = min(found, key=lambda f: np.linalg.norm(f.keypoints[:4].mean(0) - truth.mean(0)))
            R[k]["err"].append(np.linalg.norm(best.keypoints[:4] - truth, axis=1).mean() / iod)
for k, v in R.items():
    e = np.array(v["err"])
    print(f"{k:22s} found {v['found']}/{len(recs)}  extra detections {v['extra']}  keypoints vs labels (4 pts, % IOD) mean {e.mean()*100:.3f} median {np.median(e)*100:.3f}")
