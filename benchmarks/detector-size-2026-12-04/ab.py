"""Paired A/B in one process, pinned to one core (CORE, default 1): BlazeFace short range at
128, 112 and 96 px, float and int8, alternating blocks so that the machine's drift hits all alike.
Per variant: the detector alone on the 640x480 bench frame, its interpreter's invoke alone, and
detection on every frame (the detector + the shipped int8 TFLite landmark model, one thread).

    python ab.py ROUNDS OUT.json"""
import json
import os
import sys
import time

os.sched_setaffinity(0, [int(os.environ.get("CORE", "1"))])
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from edgemark.bench.frame import bench_frame  # noqa: E402
from edgemark.pipeline import load_pipeline  # noqa: E402
from edgemark.shipped import resolve_export_folder  # noqa: E402

VARIANTS = ("blazeface", "blazeface-112", "blazeface-96", "blazeface-int8", "blazeface-int8-112", "blazeface-int8-96")
frame = bench_frame(Path(os.environ["EDGEMARK_DATA"]))
art = resolve_export_folder(Path("mobilenetv2_96")) / "tflite-int8"
tasks = {}
for name in VARIANTS:
    p = load_pipeline(art, detector=name, threads=1)
    assert p(frame), name  # the bench frame's face is found
    tasks[f"{name}: detector alone"] = p.detector.detect
    tasks[f"{name}: invoke alone"] = (lambda d: (lambda f: d.interpreter.invoke()))(p.detector)
    tasks[f"{name}: detect every frame"] = p
rounds, per = int(sys.argv[1]) if len(sys.argv) > 1 else 12, 150
times = {k: [] for k in tasks}
for r in range(rounds):
    for k, fn in tasks.items():
        for _ in range(10):
            fn(frame)
        for _ in range(per):
            t = time.perf_counter()
            fn(frame)
            times[k].append(time.perf_counter() - t)
out = {k: {"p50_ms": float(np.median(v) * 1000), "p90_ms": float(np.percentile(v, 90) * 1000), "n": len(v),
           "round_p50_ms": [float(np.median(v[i * per:(i + 1) * per]) * 1000) for i in range(rounds)]} for k, v in times.items()}
for k, v in out.items():
    print(f"{k:40s} p50 {v['p50_ms']:.3f} ms  p90 {v['p90_ms']:.3f} ms")
json.dump(out, open(sys.argv[2] if len(sys.argv) > 2 else "ab.json", "w"), indent=1)
