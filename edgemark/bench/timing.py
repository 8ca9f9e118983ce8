"""Latency statistics the way MLPerf-style tools report them."""

from __future__ import annotations

import time

import numpy as np


def measure(run, warmup: int, min_runs: int, min_seconds: float, max_seconds: float = 60.0) -> np.ndarray:
    """Call ``run()`` ``warmup`` times, then at least ``min_runs`` times and for at least
    ``min_seconds`` (but stop at ``max_seconds``). Returns per-call seconds."""
    for _ in range(warmup):
        run()
    times = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        if (len(times) >= min_runs and elapsed >= min_seconds) or elapsed >= max_seconds:
            break
    return np.asarray(times)


def latency_stats(seconds: np.ndarray, batch: int) -> dict:
    """Per-image latency in milliseconds (per call divided by batch) and throughput."""
    per_image = seconds * 1000.0 / batch
    return {"runs": int(len(seconds)), "p50_ms": float(np.percentile(per_image, 50)), "p90_ms": float(np.percentile(per_image, 90)),
            "p99_ms": float(np.percentile(per_image, 99)), "mean_ms": float(per_image.mean()), "std_ms": float(per_image.std()),
            "min_ms": float(per_image.min()), "throughput_ips": float(batch * len(seconds) / seconds.sum())}
