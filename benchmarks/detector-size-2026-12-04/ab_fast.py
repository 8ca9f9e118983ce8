"""What blazeface-fast costs per frame, detector alone (paired A/B in one process, pinned to one
core, CORE, default 1; the three detectors alternating): on the 640x480 bench frame (a face that
the 96 px pass finds, so the fallback does not run) and on a mid-grey 640x480 frame with no face
(both passes run).
    python ab_fast.py ROUNDS OUT.json"""
import json
import os
import sys
import time

os.sched_setaffinity(0, [int(os.environ.get("CORE", "1"))])
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from edgemark.bench.frame import bench_frame  # noqa: E402
from edgemark.detect import load_detector  # noqa: E402

frames = {"bench frame": bench_frame(Path(os.environ["EDGEMARK_DATA"])), "empty frame": np.full((480, 640, 3), 128, np.uint8)}
dets = {n: load_detector(n, threads=1) for n in ("blazeface", "blazeface-int8-96", "blazeface-fast")}
tasks = {}
for fname, frame in frames.items():
    for n, d in dets.items():
        assert bool(d.detect(frame)) == (fname == "bench frame"), (n, fname)
        tasks[f"{n}: {fname}"] = (d.detect, frame)
rounds, per = int(sys.argv[1]), 150
times = {k: [] for k in tasks}
for r in range(rounds):
    for k, (fn, frame) in tasks.items():
        for _ in range(10):
            fn(frame)
        for _ in range(per):
            t = time.perf_counter()
            fn(frame)
            times[k].append(time.perf_counter() - t)
out = {k: {"p50_ms": float(np.median(v) * 1000), "p90_ms": float(np.percentile(v, 90) * 1000), "n": len(v)} for k, v in times.items()}
for k, v in out.items():
    print(f"{k:40s} p50 {v['p50_ms']:.3f} ms  p90 {v['p90_ms']:.3f} ms")
json.dump(out, open(sys.argv[2], "w"), indent=1)
