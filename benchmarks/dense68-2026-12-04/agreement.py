"""Per-region agreement of the dense68 model, its teacher (MediaPipe's face mesh mapped to
the 68 iBUG points) and dlib's 68-point predictor (dlib_points.py) on the CUHK test photos,
NME in % of the CUHK inter-ocular distance (the labelled eye centres); and each one's five
(eye contour means, nose tip 30, mouth corners 48 and 54) against the CUHK labels.

    python benchmarks/dense68-2026-12-04/agreement.py runs/dlib68.npz runs/pseudo/testImageList.dense68.txt [ARTIFACT]
"""

import json
import sys

import numpy as np

from edgemark import load_predictor
from edgemark.data.images import read_image
from edgemark.data.lists import read_list

dlib_file, teacher_list = sys.argv[1], sys.argv[2]
artifact = sys.argv[3] if len(sys.argv) > 3 else "dense68"
import os
faces = read_list(teacher_list, num_points=73, image_root=os.environ["EDGEMARK_DATA"])
dlib68 = np.load(dlib_file)["points"].astype(np.float64)
predictor = load_predictor(artifact, threads=1)
model = np.stack([predictor.predict(read_image(r), r.box) for r in faces.records]).astype(np.float64)
labels = np.stack([r.landmarks for r in faces.records]).astype(np.float64)
teacher, five = labels[:, 5:], labels[:, :5]
student = model[:, 5:]
iod = np.linalg.norm(five[:, 0] - five[:, 1], axis=1)
REGIONS = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48), "lips": range(48, 68),
           "all 68": range(0, 68)}


def nme(a, b, idx):
    return float((np.linalg.norm(a[:, idx] - b[:, idx], axis=2).mean(axis=1) / iod).mean() * 100)


def five_of(p68):
    return np.stack([p68[:, 36:42].mean(1), p68[:, 42:48].mean(1), p68[:, 30], p68[:, 48], p68[:, 54]], axis=1)


rows = {}
for name, (a, b) in {"model vs dlib": (student, dlib68), "teacher vs dlib": (teacher, dlib68),
                     "model vs teacher": (student, teacher)}.items():
    rows[name] = {r: nme(a, b, list(idx)) for r, idx in REGIONS.items()}
fives = {"dlib": five_of(dlib68), "teacher": five_of(teacher), "model (its 68)": five_of(student), "model (its labelled five)": model[:, :5]}
five_nme = {k: float((np.linalg.norm(v - five, axis=2).mean(1) / iod).mean() * 100) for k, v in fives.items()}
result = {"faces": len(faces.records), "artifact": artifact, "regions": rows, "five_vs_labels": five_nme}
print(json.dumps(result, indent=1))
