"""Measure a detector's training-box rule on a landmark list (the CUHK training list):
how the list's boxes sit relative to the detector's keypoints and box. The rules stored
with the detectors (``training_box_rule``) come from this:

    python -m edgemark.detect.measure --data DIR [--detector blazeface] [--faces 2000]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..data.images import read_image
from ..data.lists import FaceList
from ..preprocess import measure_box_rule
from . import holds, load_detector


def match(detections, landmarks: np.ndarray):
    """The detection of a labelled face: the one whose box holds the landmarks' centre,
    nearest first; None when no box holds it."""
    centre = landmarks.mean(axis=0)
    inside = [d for d in detections if holds(d.box, centre)]
    if not inside:
        return None
    return min(inside, key=lambda d: float(np.hypot((d.box[0] + d.box[2]) / 2 - centre[0], (d.box[1] + d.box[3]) / 2 - centre[1])))


def detector_rule(detector, faces: FaceList, keypoints: list[int] | None) -> dict:
    boxes, det_boxes, kps, missed = [], [], [], 0
    for r in faces.records:
        d = match(detector.detect(read_image(r)), r.landmarks)
        if d is None:
            missed += 1
            continue
        boxes.append(r.box)
        det_boxes.append(d.box)
        if keypoints:
            kps.append(d.keypoints[keypoints])
    boxes, det_boxes = np.asarray(boxes, np.float64), np.asarray(det_boxes, np.float64)
    w = det_boxes[:, 2] - det_boxes[:, 0]
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    out = {"faces": len(faces), "found": len(boxes), "missed": missed,
           "box": {"from": "box",
                   "dx": float(np.median(((boxes[:, 0] + boxes[:, 2]) - (det_boxes[:, 0] + det_boxes[:, 2])) / 2 / w)),
                   "dy": float(np.median(((boxes[:, 1] + boxes[:, 3]) - (det_boxes[:, 1] + det_boxes[:, 3])) / 2 / w)),
                   "side": float(np.median(side / w))}}
    if keypoints:
        out["keypoints"] = {"from": "keypoints", "keypoints": keypoints, **measure_box_rule(boxes, np.asarray(kps))}
    return out


def main(argv=None) -> int:
    from ..data.lists import read_list

    parser = argparse.ArgumentParser(prog="python -m edgemark.detect.measure", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--detector", default="blazeface")
    parser.add_argument("--faces", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    faces = read_list(f"{args.data}/trainImageList.txt")
    pick = np.random.default_rng(args.seed).choice(len(faces), min(args.faces, len(faces)), replace=False)
    faces.records = [faces.records[i] for i in sorted(pick)]
    detector = load_detector(args.detector)
    print(json.dumps(detector_rule(detector, faces, [0, 1, 2, 3] if args.detector.startswith("blazeface") else None), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
