"""Paired A/B in one process, pinned to one core: the pipeline before (commit be6c0e8) and
after (this commit), alternating blocks so that the machine's drift hits both alike."""
import os, sys, time, json
import numpy as np
os.sched_setaffinity(0, [int(os.environ.get("CORE", "0"))])
sys.path.insert(0, os.environ.get("BEFORE_PARENT", "/tmp/ab"))  # holds edgemark_before: the package at be6c0e8
from pathlib import Path
import edgemark_before as B
import edgemark as A
from edgemark_before.pipeline import load_pipeline as load_b
from edgemark_before.demo.tracker import FaceTracker as TrB
from edgemark.pipeline import load_pipeline as load_a
from edgemark.demo.tracker import FaceTracker as TrA
from edgemark.bench.frame import bench_frame
from edgemark.shipped import resolve_export_folder
frame = bench_frame(Path(os.environ["EDGEMARK_DATA"]))
art = resolve_export_folder(Path("mobilenetv2_96")) / "tflite-int8"
pipes = {"before": load_b(art, threads=1), "after": load_a(art, threads=1), "after+int8": load_a(art, detector="blazeface-int8", threads=1)}
peer = load_a("mediapipe:cuhk5", threads=1)
crop = np.ascontiguousarray(np.load(os.environ.get("AB_CROP", "/tmp/ab/crop.npy"))) if os.path.exists(os.environ.get("AB_CROP", "/tmp/ab/crop.npy")) else np.random.default_rng(0).integers(0, 256, (1, 96, 96, 3), dtype=np.uint8)
tasks = {}
for name, p in pipes.items():
    tr = (TrB if name == "before" else TrA)(p, detect_every=2**31); tr.step(frame)
    tasks[f"{name}: detector alone"] = p.detector.detect
    tasks[f"{name}: detect every frame"] = p
    tasks[f"{name}: tracked"] = tr.step
    tasks[f"{name}: landmark step"] = (lambda p: (lambda f: p.predictor.predict_crops(crop)))(p)
tasks["mediapipe pipeline: detect every frame"] = peer
ptr = TrA(peer, detect_every=2**31); ptr.step(frame)
tasks["mediapipe pipeline: tracked"] = ptr.step
pcrop = np.random.default_rng(0).integers(0, 256, (1, 192, 192, 3), dtype=np.uint8)
tasks["mediapipe landmark step"] = lambda f: peer.predictor.predict_crops(pcrop)
rounds, per = int(sys.argv[1]) if len(sys.argv) > 1 else 8, 150
times = {k: [] for k in tasks}
for r in range(rounds):
    for k, fn in tasks.items():
        for _ in range(10): fn(frame)
        for _ in range(per):
            t = time.perf_counter(); fn(frame); times[k].append(time.perf_counter() - t)
out = {k: {"p50_ms": float(np.median(v) * 1000), "p90_ms": float(np.percentile(v, 90) * 1000), "n": len(v)} for k, v in times.items()}
for k, v in out.items(): print(f"{k:45s} p50 {v['p50_ms']:.3f} ms  p90 {v['p90_ms']:.3f} ms")
json.dump(out, open(sys.argv[2] if len(sys.argv) > 2 else "ab.json", "w"), indent=1)
