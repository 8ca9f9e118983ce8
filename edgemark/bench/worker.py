"""One benchmark measurement in a fresh process: ``python -m edgemark.bench.worker SPEC.json``.

Order: Intel AMX refused when the spec says so (``--no-amx``), bare-interpreter RSS, pin
to cores, load the artifact (timed), first inference (timed), warm-up and timed runs, peak
RSS, then accuracy on prepared test crops (after the memory figures, so accuracy work does
not inflate them). The result is written atomically to the path in the spec.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import psutil


def peak_rss_bytes() -> int | None:
    """This process image's peak RSS (VmHWM). Not getrusage's ru_maxrss: that one survives
    exec and would report the parent's size when a big process spawned the worker."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def batch_of(real: np.ndarray, batch: int) -> np.ndarray:
    """``batch`` crops from the test crops, repeated in order when there are fewer: every
    call gets the batch the per-image latency is divided by."""
    return np.ascontiguousarray(real[np.arange(batch) % len(real)])


def main(spec_path: str) -> int:
    spec = json.loads(open(spec_path).read())
    if spec.get("deny_amx"):
        from edgemark.x86_amx import deny_amx

        deny_amx()  # before any runtime loads: XNNPACK asks for AMX once, when it first initialises
    process = psutil.Process()
    rss_bare = process.memory_info().rss
    pinned = None
    if spec.get("pin") and hasattr(os, "sched_setaffinity"):
        # the cores named (--cores), else those this process may use, lowest-numbered first;
        # more threads than cores: all of them, and pinned_cores says how many that was
        cores = (spec.get("cores") or sorted(os.sched_getaffinity(0)))[: spec["threads"]]
        os.sched_setaffinity(0, cores)
        pinned = cores
    from edgemark.bench.timing import latency_stats, measure
    from edgemark.io import write_json_atomic
    from edgemark.predictors.load import load_predictor

    if spec.get("pipeline"):
        return pipeline_main(spec, process, rss_bare, pinned)
    t0 = time.perf_counter()
    predictor = load_predictor(spec["artifact"], threads=spec["threads"], device=spec["device"], tta=spec.get("tta"))
    load_s = time.perf_counter() - t0
    size = predictor.crop.size
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, size=(spec["batch"], size, size, 3), dtype=np.uint8)
    distinct = None
    if spec.get("crops"):
        real = np.load(spec["crops"], mmap_mode="r")
        if len(real):
            crops, distinct = batch_of(real, spec["batch"]), min(len(real), spec["batch"])
    t0 = time.perf_counter()
    predictor.predict_crops(crops)
    first_s = time.perf_counter() - t0
    times = measure(lambda: predictor.predict_crops(crops), spec["warmup"], spec["min_runs"], spec["min_seconds"])
    rss_after = process.memory_info().rss
    peak = max(peak_rss_bytes() or 0, rss_after)
    result = {"artifact": spec["artifact"], "threads": spec["threads"], "batch": spec["batch"], "device": spec["device"],
              "pinned_cores": pinned, "provider": predictor.description, "load_ms": load_s * 1000, "first_inference_ms": first_s * 1000,
              "distinct_crops": distinct, **latency_stats(times, spec["batch"]), "rss_bare_mib": rss_bare / 2**20,
              "rss_after_mib": rss_after / 2**20, "peak_rss_mib": peak / 2**20, "rss_increase_mib": (peak - rss_bare) / 2**20}
    from edgemark.bench.gpu import gpu_memory_fields

    result.update(gpu_memory_fields(spec["device"]))  # on a GPU: the process's GPU memory (NVML) and torch's peak
    if spec.get("accuracy_crops"):
        from edgemark.bench.accuracy import crop_accuracy

        data = np.load(spec["accuracy_crops"])
        result["accuracy"] = crop_accuracy(predictor, data["crops"], data["mats"], data["truth"])
    write_json_atomic(spec["result"], result)
    return 0


def pipeline_main(spec: dict, process, rss_bare: int, pinned) -> int:
    """Per-frame latency of the detector alone (no artifact) or of the whole pipeline
    (detect, crop, landmarks, refinement) on one frame."""
    from edgemark.bench.timing import latency_stats, measure
    from edgemark.detect import load_detector
    from edgemark.io import write_json_atomic
    from edgemark.pipeline import Pipeline
    from edgemark.predictors.load import load_predictor

    p = spec["pipeline"]
    frame = np.load(p["frame"])
    t0 = time.perf_counter()
    detector = load_detector(p["detector"], threads=spec["threads"])
    detector_runs = None
    if spec.get("artifact") and p.get("tracked"):
        # a tracked frame, as the demo pays it between detections: the crop from the last frame's
        # landmarks, the landmarks, the plausibility check; the detector only seeds the track
        from edgemark.demo.tracker import FaceTracker

        pipe = Pipeline(load_predictor(spec["artifact"], threads=spec["threads"], device=spec["device"]), detector, p["refine"])
        tracker, detector_runs = FaceTracker(pipe, detect_every=2**31), [0]

        def run():
            points, _, detected = tracker.step(frame)
            detector_runs[0] += detected
            return [] if points is None else [points]
        run()  # the seed: the one detection
        detector_runs[0] = 0
    elif spec.get("artifact"):
        pipe = Pipeline(load_predictor(spec["artifact"], threads=spec["threads"], device=spec["device"]), detector, p["refine"])
        run = lambda: pipe(frame)  # noqa: E731
    else:
        pipe = None
        run = lambda: detector.detect(frame)  # noqa: E731
    load_s = time.perf_counter() - t0
    faces = len(run())
    times = measure(run, spec["warmup"], spec["min_runs"], spec["min_seconds"])
    peak = max(peak_rss_bytes() or 0, process.memory_info().rss)
    if detector_runs is not None:  # a lost track re-detects: say how often, so a tracked row is never a detector row in disguise
        extra = {"tracked": True, "detector_runs_while_timed": detector_runs[0]}
    else:
        extra = {}
    if pipe is not None:
        extra["provider"] = pipe.predictor.description
    result = {"artifact": spec.get("artifact"), "detector": detector.name, "threads": spec["threads"], **extra,
              "refine": pipe.refine if spec.get("artifact") else None,
              "frame": f"{frame.shape[1]}x{frame.shape[0]}", "faces_found": faces, "pinned_cores": pinned, "load_ms": load_s * 1000,
              **latency_stats(times, 1), "peak_rss_mib": peak / 2**20, "rss_increase_mib": (peak - rss_bare) / 2**20}
    write_json_atomic(spec["result"], result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
