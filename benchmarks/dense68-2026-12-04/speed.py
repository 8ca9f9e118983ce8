"""The dense68 model's landmark step against the 5-point model's, per artifact, alternating in
one process on one thread (a loaded VM drifts over minutes: rows measured in turn share the
drift). Usage: python benchmarks/dense68-2026-12-04/speed.py [ROUNDS] [CALLS] > speed.json"""

import json
import sys
import time

import numpy as np

from edgemark import load_predictor

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 7
CALLS = int(sys.argv[2]) if len(sys.argv) > 2 else 300
ARTIFACTS = ("tflite-int8", "onnx-int8", "openvino-int8", "tflite-fp32")
crop = np.random.default_rng(0).integers(0, 256, (1, 96, 96, 3), dtype=np.uint8)
rows = {}
for artifact in ARTIFACTS:
    pair = {name: load_predictor(f"{name}/{artifact}", threads=1) for name in ("mobilenetv2_96", "dense68")}
    times = {name: [] for name in pair}
    for _ in range(ROUNDS):
        for name, p in pair.items():
            for _ in range(20):
                p.predict_crops(crop)  # warm
            for _ in range(CALLS):
                t = time.perf_counter()
                p.predict_crops(crop)
                times[name].append((time.perf_counter() - t) * 1e3)
    p50 = {name: float(np.median(t)) for name, t in times.items()}
    rows[artifact] = {"p50_ms": p50, "ratio": p50["dense68"] / p50["mobilenetv2_96"]}
    print(f"{artifact}: 5-point {p50['mobilenetv2_96']:.3f} ms, dense68 {p50['dense68']:.3f} ms, "
          f"{rows[artifact]['ratio']:.2f}x", file=sys.stderr)
print(json.dumps({"rounds": ROUNDS, "calls": CALLS, "threads": 1, "rows": rows}, indent=1))
