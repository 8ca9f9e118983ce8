"""One artifact's per-operator profile, whichever runtime it is for; a runtime that exposes no
per-operator timing from Python says so in the result (``unsupported``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgemarkError
from ..export.manifest import read_manifest
from ..preprocess import normalise
from .layers import layer_sort_key

UNSUPPORTED = {
    "tflite": "LiteRT's Python Interpreter exposes no per-operator timing (the ai-edge-litert wheel has the profiling "
              "protos and an experimental_force_delegate_node_profiling flag, but no profiler to attach or read from Python; "
              "LiteRT's per-op profile is the C++ benchmark_model tool's --enable_op_profiling)",
    "ncnn": "ncnn's Python wheel has no per-layer timer (ncnn prints layer times only when built with NCNN_BENCHMARK)",
    "torch": "the torch baseline is not an exported runtime (torch.profiler would time eager PyTorch, not an edge runtime)",
}


def _input(manifest: dict, folder: Path) -> np.ndarray:
    """A normalised batch of one crop (seeded noise: per-operator time does not depend on the pixels)."""
    shape = manifest.get("input", {}).get("shape")
    crop = manifest.get("crop") or {}
    if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(s, int) and s > 0 for s in shape[1:])):
        raise EdgemarkError(f"{folder / 'manifest.json'}: input.shape must be [N, 3, H, W], got {shape!r}")
    _, _, h, w = shape
    pixels = np.random.default_rng(0).integers(0, 256, (1, h, w, 3), dtype=np.uint8)
    return normalise(pixels, crop.get("mean", [0, 0, 0]), crop.get("std", [1, 1, 1]))


def _totals(ops: list[dict], key: str, total: float) -> list[dict]:
    rows: dict[str, dict] = {}
    for op in ops:
        row = rows.setdefault(op[key], {key: op[key], "ms": 0.0, "ops": 0, "kinds": []})
        row["ms"] += op["ms"]
        row["ops"] += 1
        if op["kind"] not in row["kinds"]:
            row["kinds"].append(op["kind"])
    for row in rows.values():
        row["share"] = row["ms"] / total if total > 0 else 0.0
        if key == "layer":  # the layer's kind: its main operator's (a conv's, not its layout change's)
            row["kind"] = max((op for op in ops if op["layer"] == row["layer"]), key=lambda op: op["ms"])["kind"]
        del row["kinds"]
    order = (lambda r: layer_sort_key(r["layer"])) if key == "layer" else (lambda r: -r["ms"])
    return sorted(rows.values(), key=order)


def profile_artifact(path, runs: int = 50, warmup: int = 10, threads: int = 1) -> dict:
    """The profile of one artifact folder: per operator, per layer and per kind of layer,
    each with its median time per run (ms) and share of the operators' total."""
    if runs < 1 or warmup < 0 or threads < 1:
        raise EdgemarkError(f"--runs must be >= 1, --warmup >= 0 and --threads >= 1 (got {runs}, {warmup}, {threads})")
    folder, manifest = read_manifest(path)
    fmt, precision = manifest.get("format"), manifest.get("precision")
    result = {"artifact": manifest.get("name") or folder.name, "folder": str(folder), "format": fmt, "precision": precision,
              "threads": threads, "runs": runs, "warmup": warmup}
    model_path = folder / str(manifest.get("model_file", ""))
    if fmt == "onnx":
        from .onnx import profile_onnx

        measured = profile_onnx(model_path, _input(manifest, folder), runs, warmup, threads)
    elif fmt == "openvino":
        from .openvino import profile_openvino

        measured = profile_openvino(model_path, dict(manifest.get("runtime_options") or {}), _input(manifest, folder), runs, warmup,
                                    threads)
    elif fmt == "executorch":
        from .executorch import profile_executorch

        measured = profile_executorch(model_path, manifest.get("input", {}).get("dtype", "float32"), _input(manifest, folder), runs,
                                      warmup, threads)
    elif fmt in UNSUPPORTED:
        return {**result, "unsupported": UNSUPPORTED[fmt]}
    else:
        raise EdgemarkError(f"{folder / 'manifest.json'}: unknown format {fmt!r}")
    ops = measured.pop("ops")
    total = sum(op["ms"] for op in ops)
    for op in ops:
        op["share"] = op["ms"] / total if total > 0 else 0.0
    mapped = measured.pop("layers_mapped", True)
    return {**result, **measured, "total_ms": total, "ops": ops, "layers": _totals(ops, "layer", total) if mapped else None,
            "kinds": _totals(ops, "kind", total)}
