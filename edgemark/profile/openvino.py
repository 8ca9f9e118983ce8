"""OpenVINO: the CPU plugin's performance counters (PERF_COUNT), read from the compiled
model's runtime graph after each timed run: every executed node with the original layers it
fused (``originalLayersNames``) and its kernel (``brgconv_avx512_dw_I8``)."""

from __future__ import annotations

import statistics
import time

import numpy as np

from ..optional import require
from .layers import RUNTIME_LAYER, layer_of, module_from_openvino_name


def _text(info, key: str) -> str:
    return info[key].astype(str) if key in info else ""


def _layer(names: list[str]) -> str:
    """The layer of a runtime node: the first original layer (in the order OpenVINO lists them) that names a module."""
    for name in names:
        module, op = module_from_openvino_name(name)
        if module:
            return layer_of(module, op)
    return RUNTIME_LAYER


def _kind(layer_type: str, primitive: str) -> str:
    if layer_type in ("Convolution", "GroupConvolution"):
        return "depthwise" if "_dw" in primitive else "pointwise" if "1x1" in primitive else "conv"
    if layer_type == "FullyConnected":
        return "fc"
    if layer_type == "Eltwise":
        return "add"
    if layer_type == "FakeQuantize":
        return "quantize"
    if layer_type in ("Reorder", "Reshape", "Transpose"):
        return "layout"
    if layer_type == "Subgraph":
        return "fused eltwise"  # OpenVINO's Snippets: element-wise operators compiled into one kernel
    return layer_type


def profile_openvino(model_path, runtime_options: dict, x: np.ndarray, runs: int, warmup: int, threads: int) -> dict:
    ov = require("openvino", "profiling OpenVINO models")
    core = ov.Core()
    model = core.read_model(str(model_path))
    model.reshape(list(x.shape))
    config = {**runtime_options, "PERF_COUNT": True, "INFERENCE_NUM_THREADS": threads}
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    for _ in range(warmup):
        request.infer({0: x})
    per_node: dict[str, list] = {}
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        request.infer({0: x})
        walls.append((time.perf_counter() - t0) * 1000)
        for info in request.profiling_info:
            if str(info.status).endswith("EXECUTED") and not str(info.status).endswith("NOT_EXECUTED"):
                per_node.setdefault(info.node_name, []).append(info.real_time.total_seconds() * 1000)
    details = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        originals = [n for n in _text(info, "originalLayersNames").split(",") if n]
        details[op.get_friendly_name()] = (_text(info, "layerType"), _text(info, "primitiveType"), originals)
    ops = []
    for name, times in per_node.items():
        layer_type, primitive, originals = details.get(name, ("?", "?", []))
        ops.append({"name": name, "op": layer_type, "layer": _layer(originals or [name]), "kind": _kind(layer_type, primitive),
                    "ms": statistics.median(times), "calls": len(times), "where": primitive})
    return {"runtime": f"OpenVINO {ov.get_version().split('-')[0]} CPU plugin",
            "profiler": "OpenVINO performance counters (PERF_COUNT)", "run_ms": statistics.median(walls), "ops": ops}
