"""The study behind the pipeline's defaults (detector, refinement passes), run on the
*validation* faces of the CUHK training list (the split the shipped recipe holds out:
val_fraction 0.1, seed 0), never on the test list. Each face is shown to the whole
pipeline in several conditions a camera produces: the photo as it is, the photo small
in a 640x480 frame (eyes N px apart), and the photo rolled by N degrees.

    python -m edgemark.studies.detector_study --data DIR --model mobilenetv2_96 --out benchmarks/pipeline_study.md
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
from ..detect.detection import holds


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


def face_free_frames(records) -> list[np.ndarray]:
    """640x480 frames cut from the parts of the photos outside the labelled face box (the
    largest strip, stretched): scenes without that face. Other faces in the photo's
    background may remain, so detections on them are an upper bound of false ones."""
    frames = []
    for r in records:
        image = read_image(r)
        h, w = image.shape[:2]
        left, top, right, bottom = (int(v) for v in r.box)
        strips = [image[:, : max(left, 1)], image[:, min(right, w - 1) :], image[: max(top, 1)], image[min(bottom, h - 1) :]]
        frames.append(cv2.resize(max(strips, key=lambda a: a.size), (640, 480)))
    return frames


def detector_sweep(detector, records, thresholds: list[float], conditions: list[str]) -> list[str]:
    """Faces missed by BlazeFace per candidate threshold (small faces are taken from that
    score up and kept when the zoomed re-detection clears the real threshold), and its
    detections on face-free frames."""
    negatives = face_free_frames(records[::5])
    rows = []
    for threshold in thresholds:
        detector.candidate_threshold = threshold
        missed = dict.fromkeys(conditions, 0)
        for r in records:
            image = read_image(r)
            for cond in conditions:
                frame, points = condition(image, r.landmarks, cond)
                cx, cy = points.mean(axis=0)
                missed[cond] += not any(holds(d.box, (cx, cy)) for d in detector.detect(frame))
        false = sum(len(detector.detect(n)) for n in negatives)
        rows.append(f"| {threshold} | " + " | ".join(str(missed[c]) for c in conditions) + f" | {false} |")
        print(rows[-1], flush=True)
    return rows


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
    from ..detect import load_detector

    parser = argparse.ArgumentParser(prog="python -m edgemark.studies.detector_study", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="mobilenetv2_96")  # a shipped model by name, or an artifact folder
    parser.add_argument("--detectors", default="blazeface,blazeface-full,haar")
    parser.add_argument("--refine", default="0,1,2")
    parser.add_argument("--upright", default="0,1", help="upright crops off (0) and on (1)")
    parser.add_argument("--conditions", default="photo,eyes24,eyes48,roll30")
    parser.add_argument("--faces", type=int, default=1000, help="validation faces to use (at most the 1,000 held out)")
    parser.add_argument("--candidates", default="", help="BlazeFace candidate thresholds to sweep first (e.g. 0.5,0.3,0.2,0.1)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    faces = read_list(f"{args.data}/trainImageList.txt")
    _, val = split_train_val(len(faces), 0.1, 0)
    records = [faces.records[i] for i in val[: args.faces]]
    predictor = load_predictor(args.model, threads=1)
    lines = ["# Pipeline study: detector and refinement passes, on validation faces", "",
             f"Command: `python -m edgemark.studies.detector_study {shlex.join(sys.argv[1:] if argv is None else argv)}`  ",
             f"Date: {date.today().isoformat()}; machine: {machine_summary().get('cpu', '')}; model: `{args.model}`  ",
             f"Faces: {len(records)} validation faces of the CUHK training list (val_fraction 0.1, seed 0: the faces the shipped "
             "recipe held out), full photos, boxes from the detector. Conditions: `photo` as it is; `eyesN` scaled so the eyes "
             "are N px apart, centred in a 640x480 frame; `rollN` rotated by N degrees. A missed face is a failure "
             "(FR, AUC); NME is over the found faces.", ""]
    if not args.candidates:
        lines += ["| detector | refine passes | upright | condition | missed | NME % | FR@0.10 % | AUC@0.1 |",
                  "|---|---:|---|---|---:|---:|---:|---:|"]
    if args.candidates:
        conditions = ["photo", "eyes32", "eyes24"]
        lines += ["", "## BlazeFace: candidate threshold for small faces", "",
                  f"Faces missed (of {len(records)}) per condition, and detections on {len(records[::5])} face-free frames "
                  "(strips of the same photos outside the labelled face, stretched to 640x480; faces in the background "
                  "count, so this bounds false detections from above).", "",
                  "| candidate threshold | " + " | ".join(f"missed, {c}" for c in conditions) + " | detections on face-free frames |",
                  "|---:|" + "---:|" * (len(conditions) + 1)]
        lines += detector_sweep(load_detector("blazeface"), records, [float(v) for v in args.candidates.split(",")], conditions)
        lines += ["", "## Pipeline: detector, refinement and upright crops", "",
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
