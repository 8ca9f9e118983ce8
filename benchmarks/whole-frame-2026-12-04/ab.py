"""Paired A/B in one process pinned to one core: the whole frame as it was when issue 34 was
filed (the package at be6c0e8, float BlazeFace, copied to $BEFORE_PARENT/edgemark_before)
against this commit with each BlazeFace build, alternating blocks of calls so that the
machine's drift hits every row alike. MediaPipe's own pipeline and landmark model beside them.
    CORE=0 BEFORE_PARENT=/tmp/ab0 python ab.py ROUNDS OUT.json"""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.sched_setaffinity(0, [int(os.environ.get("CORE", "0"))])
sys.path.insert(0, os.environ.get("BEFORE_PARENT", "/tmp/ab0"))
from edgemark_before.demo.tracker import FaceTracker as TrackerBefore  # noqa: E402
from edgemark_before.pipeline import load_pipeline as load_before  # noqa: E402

from edgemark.bench.frame import bench_frame  # noqa: E402
from edgemark.demo.tracker import FaceTracker  # noqa: E402
from edgemark.pipeline import load_pipeline  # noqa: E402
from edgemark.preprocess import crop_face  # noqa: E402
from edgemark.shipped import resolve_export_folder  # noqa: E402

frame = bench_frame(Path(os.environ["EDGEMARK_DATA"]))
art = resolve_export_folder(Path("mobilenetv2_96")) / "tflite-int8"
pipes = {"before blazeface": load_before(art, threads=1)}
for name in ("blazeface", "blazeface-int8", "blazeface-fast"):
    pipes[f"after {name}"] = load_pipeline(art, detector=name, threads=1)
tasks = {}
for name, pipe in pipes.items():
    tracker = (TrackerBefore if name.startswith("before") else FaceTracker)(pipe, detect_every=2**31)
    tracker.step(frame)
    tasks[f"{name}: detector alone"] = pipe.detector.detect
    tasks[f"{name}: detect every frame"] = pipe
    if name in ("before blazeface", "after blazeface"):
        box, angle = tracker.roi
        crop = crop_face(frame, box, 96, pipe.predictor.crop.margin, angle)[0][None]
        tasks[f"{name}: tracked frame"] = tracker.step
        tasks[f"{name}: landmark step"] = (lambda p, c: (lambda f: p.predictor.predict_crops(c)))(pipe, crop)
peer = load_pipeline("mediapipe:cuhk5", threads=1)
peer_tracker = FaceTracker(peer, detect_every=2**31)
peer_tracker.step(frame)
peer_crop = crop_face(frame, peer_tracker.roi[0], 192, peer.predictor.crop.margin, peer_tracker.roi[1])[0][None]
tasks["mediapipe: detect every frame"] = peer
tasks["mediapipe: tracked frame"] = peer_tracker.step
tasks["mediapipe: landmark step"] = lambda f: peer.predictor.predict_crops(peer_crop)

rounds, per = (int(sys.argv[1]) if len(sys.argv) > 1 else 8), 150
times = {k: [] for k in tasks}
per_round = {k: [] for k in tasks}
for r in range(rounds):
    for k, fn in tasks.items():
        for _ in range(10):
            fn(frame)
        block = []
        for _ in range(per):
            t = time.perf_counter()
            fn(frame)
            block.append(time.perf_counter() - t)
        times[k] += block
        per_round[k].append(float(np.median(block) * 1000))
out = {k: {"p50_ms": float(np.median(v) * 1000), "p90_ms": float(np.percentile(v, 90) * 1000), "n": len(v),
           "p50_per_round_ms": per_round[k]} for k, v in times.items()}
for k, v in out.items():
    print(f"{k:45s} p50 {v['p50_ms']:.3f} ms  p90 {v['p90_ms']:.3f} ms")
base = out["before blazeface: detect every frame"]["p50_ms"]
for name in pipes:
    print(f"{name}: detect every frame / before = {out[f'{name}: detect every frame']['p50_ms'] / base:.3f}")
for name in ("before blazeface", "after blazeface"):
    print(f"{name}: tracked / landmark step = {out[f'{name}: tracked frame']['p50_ms'] / out[f'{name}: landmark step']['p50_ms']:.3f}")
print(f"mediapipe landmark step / ours = {out['mediapipe: landmark step']['p50_ms'] / out['after blazeface: landmark step']['p50_ms']:.2f}")
json.dump(out, open(sys.argv[2] if len(sys.argv) > 2 else "ab.json", "w"), indent=1)
