"""The study behind the pipeline's defaults (detector, refinement passes), run on the
*validation* faces of the CUHK training list (the split the shipped recipe holds out:
val_fraction 0.1, seed 0), never on the test list. Each face is shown to the whole
pipeline in several conditions a camera produces: the photo as it is, the photo small
in a 640x480 frame (eyes N px apart), and the photo rolled by N degrees.

    python -m edgemark.detect.study --data DIR --model exported/mobilenetv2_96/tflite-int8 --out benchmarks/pipeline_study.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import date

import cv2
import numpy as np

from ..data.images import read_image
from ..evaluate_pipeline import match_face
from ..metrics import ced_auc, point_errors


def condition(image: np.ndarray, points: np.ndarray, name: str):
    """The image and its landmarks under a named condition."""
    if name == "photo":
        return image, points
    if name.startswith("eyes"):  # eyes N px apart, centred in a 640x480 frame
        iod = float(np.linalg.norm(points[0] - points[1]))
        s = float(name[4:]) / iod
        small = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        frame = np.full((480, 640, 3), 110, np.uint8)
        h, w = small.shape[:2]
        y, x = (480 - h) // 2, (640 - w) // 2
        frame[max(0, y) : y + h, max(0, x) : x + w] = small[max(0, -y) : 480 - y, max(0, -x) : 640 - x]
        return frame, (points + 0.5) * [w / image.shape[1], h / image.shape[0]] - 0.5 + [x, y]
    if name.startswith("roll"):
        angle = float(name[4:])
        h, w = image.shape[:2]
        side = int(np.ceil(np.hypot(h, w)))
        m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angle, 1.0)
        m[:, 2] += [(side - w) / 2, (side - h) / 2]
        return cv2.warpAffine(image, m, (side, side), flags=cv2.INTER_LINEAR), points @ m[:, :2].T + m[:, 2]
    raise ValueError(name)


def run(pipe, records, name: str) -> dict:
    truth, pred, found = [], [], []
    for r in records:
        image, points = condition(read_image(r), r.landmarks, name)
        face, holds = match_face(pipe(image), points)
        truth.append(points)
        pred.append(face.landmarks if holds else np.full_like(points, np.nan))
        found.append(holds)
    truth, pred, found = np.array(truth), np.array(pred), np.array(found)
    per_face = np.full(len(truth), np.inf)
    if found.any():
        per_face[found] = point_errors(pred[found], truth[found], pipe.scheme.interocular).mean(axis=1)
    return {"faces": len(truth), "missed": int((~found).sum()), "nme": float(per_face[found].mean()) if found.any() else float("nan"),
            "failure_rate": float((per_face > 0.10).mean()), "auc": ced_auc(per_face)}


def main(argv=None) -> int:
    from ..data.lists import read_list
    from ..environment import machine_summary
    from ..io import write_text_atomic
    from ..pipeline import Pipeline
    from ..predictors.load import load_predictor
    from ..train import split_train_val
    from . import load_detector

    parser = argparse.ArgumentParser(prog="python -m edgemark.detect.study", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="exported/mobilenetv2_96/tflite-int8")
    parser.add_argument("--detectors", default="blazeface,blazeface-full,haar")
    parser.add_argument("--refine", default="0,1,2")
    parser.add_argument("--upright", default="0,1", help="upright crops off (0) and on (1)")
    parser.add_argument("--conditions", default="photo,eyes24,eyes48,roll30")
    parser.add_argument("--faces", type=int, default=1000, help="validation faces to use (at most the 1,000 held out)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    faces = read_list(f"{args.data}/trainImageList.txt")
    _, val = split_train_val(len(faces), 0.1, 0)
    records = [faces.records[i] for i in val[: args.faces]]
    predictor = load_predictor(args.model, threads=1)
    lines = ["# Pipeline study: detector and refinement passes, on validation faces", "",
             f"Command: `python -m edgemark.detect.study {shlex.join(sys.argv[1:] if argv is None else argv)}`  ",
             f"Date: {date.today().isoformat()}; machine: {machine_summary().get('cpu', '')}; model: `{args.model}`  ",
             f"Faces: {len(records)} validation faces of the CUHK training list (val_fraction 0.1, seed 0: the faces the shipped "
             "recipe held out), full photos, boxes from the detector. Conditions: `photo` as it is; `eyesN` scaled so the eyes "
             "are N px apart, centred in a 640x480 frame; `rollN` rotated by N degrees. A missed face is a failure "
             "(FR, AUC); NME is over the found faces.", "",
             "| detector | refine passes | upright | condition | missed | NME % | FR@0.10 % | AUC@0.1 |",
             "|---|---:|---|---|---:|---:|---:|---:|"]
    for det in args.detectors.split(","):
        detector = load_detector(det)
        for refine in map(int, args.refine.split(",")):
            for upright in map(int, args.upright.split(",")):
                pipe = Pipeline(predictor, detector, refine, bool(upright))
                for cond in args.conditions.split(","):
                    r = run(pipe, records, cond)
                    row = (f"| {det} | {refine} | {'yes' if upright else 'no'} | {cond} | {r['missed']} | {r['nme'] * 100:.2f} | "
                           f"{r['failure_rate'] * 100:.2f} | {r['auc']:.4f} |")
                    print(row, flush=True)
                    lines.append(row)
    write_text_atomic(args.out, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
