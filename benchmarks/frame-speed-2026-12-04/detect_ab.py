import sys, os, time, numpy as np
os.sched_setaffinity(0, [1])
# old_blazeface.py: git show be6c0e8:edgemark/detect/blazeface.py, its relative imports made absolute (edgemark.optional, edgemark.detect.*)
sys.path.insert(0, os.environ.get("OLD_DIR", "/tmp"))
import old_blazeface as old
from edgemark.detect import blazeface as new
from edgemark.bench.frame import bench_frame
from pathlib import Path
frame = bench_frame(Path(os.environ["EDGEMARK_DATA"]))
mf = sys.argv[1] if len(sys.argv) > 1 else None
dets = {"old": old.BlazeFaceDetector(old.SHORT_RANGE), "new": new.BlazeFaceDetector(new.SHORT_RANGE)}
if mf: dets["new-int8"] = new.BlazeFaceDetector(new.SHORT_RANGE, model_file=mf)
res = {k: [] for k in dets}; inv = {k: [] for k in dets}
def med(f, n=300):
    for _ in range(20): f()
    ts = []
    for _ in range(n):
        a = time.perf_counter(); f(); ts.append(time.perf_counter() - a)
    return np.median(ts) * 1000
for r in range(10):
    for k, d in dets.items():
        res[k].append(med(lambda: d.detect(frame)))
        inv[k].append(med(lambda: d.interpreter.invoke()))
for k in dets:
    print(f"{k:9s} detect p50 {np.median(res[k]):.3f}  invoke {np.median(inv[k]):.3f}  glue {np.median(res[k]) - np.median(inv[k]):.3f}  rounds {[round(x,3) for x in res[k]]}")
