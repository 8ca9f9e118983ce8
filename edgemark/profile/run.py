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


def _check_counts(runs: int, warmup: int, threads: int) -> None:
    if runs < 1 or warmup < 0 or threads < 1:
        raise EdgemarkError(f"--runs must be >= 1, --warmup >= 0 and --threads >= 1 (got {runs}, {warmup}, {threads})")


def profile_artifact(path, runs: int = 50, warmup: int = 10, threads: int = 1) -> dict:
    """The profile of one artifact folder: per operator, per layer and per kind of layer,
    each with its median time per run (ms) and share of the operators' total."""
    _check_counts(runs, warmup, threads)
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
    elif fmt == "tflite":
        from .litert import profile_litert

        measured = profile_litert(model_path, runs, warmup, threads)
    elif fmt == "executorch":
        from .executorch import profile_executorch

        measured = profile_executorch(model_path, manifest.get("input", {}).get("dtype", "float32"), _input(manifest, folder), runs,
                                      warmup, threads)
    elif fmt in UNSUPPORTED:
        return {**result, "unsupported": UNSUPPORTED[fmt]}
    else:
        raise EdgemarkError(f"{folder / 'manifest.json'}: unknown format {fmt!r}")
    return _with_totals(result, measured)


def profile_detector(name: str, runs: int = 50, warmup: int = 10, threads: int = 1) -> dict:
    """The profile of a BlazeFace detector's network (``edgemark profile --detector blazeface-int8-96``):
    the file that detector runs, at the input side it runs it."""
    from ..detect import NEED_INT8_BUILD
    from ..detect.blazeface import VARIANTS, model_path
    from .litert import profile_litert

    _check_counts(runs, warmup, threads)
    if name not in VARIANTS:
        raise EdgemarkError(f"--detector: {name!r} is not one network file (choose one of {', '.join(VARIANTS)}; "
                            "blazeface-fast runs blazeface-int8-96, and blazeface on frames where that finds no face)")
    variant = VARIANTS[name]
    if name in NEED_INT8_BUILD:
        from ..detect.blazeface_int8 import int8_path

        path = int8_path()  # or an error saying how to build it
    else:
        path = model_path(variant.model_file)
    result = {"artifact": f"detector {name}", "folder": str(path.parent), "format": "tflite",
              "precision": "int8" if name in NEED_INT8_BUILD else "fp32", "threads": threads, "runs": runs, "warmup": warmup}
    measured = profile_litert(path, runs, warmup, threads, input_side=variant.size)
    return _with_totals(result, measured)


def profile_tflite_file(path, runs: int = 50, warmup: int = 10, threads: int = 1) -> dict:
    """The profile of a bare .tflite file (no manifest: anyone's model, e.g. a peer's), at its own input shape."""
    from .litert import profile_litert

    _check_counts(runs, warmup, threads)
    path = Path(path)
    result = {"artifact": path.name, "folder": str(path.parent), "format": "tflite", "precision": None, "threads": threads,
              "runs": runs, "warmup": warmup}
    return _with_totals(result, profile_litert(path, runs, warmup, threads))


def _with_totals(result: dict, measured: dict) -> dict:
    ops = measured.pop("ops")
    total = sum(op["ms"] for op in ops)
    for op in ops:
        op["share"] = op["ms"] / total if total > 0 else 0.0
    mapped = measured.pop("layers_mapped", True)
    return {**result, **measured, "total_ms": total, "ops": ops, "layers": _totals(ops, "layer", total) if mapped else None,
            "kinds": _totals(ops, "kind", total)}
