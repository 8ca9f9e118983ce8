"""Paired A/B in one process pinned to one core: the tracked frame and the landmark step, the package at b76f12d
("before", copied to $BEFORE_PARENT/edgemark_before) against this commit, alternating blocks of calls.
    CORE=0 BEFORE_PARENT=/tmp/ab python ab_tracked.py ROUNDS OUT.json"""
import json, os, sys, time

import numpy as np
os.sched_setaffinity(0, [int(os.environ.get("CORE", "0"))])
sys.path.insert(0, os.environ.get("BEFORE_PARENT", "/tmp/ab"))
from pathlib import Path
from edgemark_before.pipeline import load_pipeline as load_b
from edgemark_before.demo.tracker import FaceTracker as TrB
from edgemark.pipeline import load_pipeline as load_a
from edgemark.demo.tracker import FaceTracker as TrA
from edgemark.bench.frame import bench_frame
from edgemark.shipped import resolve_export_folder
from edgemark.preprocess import crop_face
frame = bench_frame(Path(os.environ["EDGEMARK_DATA"]))
art = resolve_export_folder(Path("mobilenetv2_96")) / "tflite-int8"
tasks = {}
for name, load, Tr in (("before", load_b, TrB), ("after", load_a, TrA)):
    p = load(art, threads=1)
    tr = Tr(p, detect_every=2**31); tr.step(frame)
    box, angle = tr.roi
    crop = crop_face(frame, box, 96, p.predictor.crop.margin, angle)[0][None]
    tasks[f"{name}: tracked"] = tr.step
    tasks[f"{name}: landmark step"] = (lambda p, c: (lambda f: p.predictor.predict_crops(c)))(p, crop)
rounds, per = int(sys.argv[1]) if len(sys.argv) > 1 else 8, 300
times = {k: [] for k in tasks}
for r in range(rounds):
    for k, fn in tasks.items():
        for _ in range(20): fn(frame)
        for _ in range(per):
            t = time.perf_counter(); fn(frame); times[k].append(time.perf_counter() - t)
out = {k: {"p50_ms": float(np.median(v) * 1000), "p90_ms": float(np.percentile(v, 90) * 1000), "n": len(v)} for k, v in times.items()}
for k, v in out.items(): print(f"{k:30s} p50 {v['p50_ms']:.4f} ms  p90 {v['p90_ms']:.4f} ms")
for n in ("before", "after"): print(n, "tracked / landmark step", round(out[f"{n}: tracked"]["p50_ms"] / out[f"{n}: landmark step"]["p50_ms"], 3))
if len(sys.argv) > 2: json.dump(out, open(sys.argv[2], "w"), indent=1)
