"""ONNX Runtime: session profiling (a Chrome trace of every kernel), one event per operator
per run; each operator's median over the timed runs."""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

import numpy as np

from ..errors import EdgemarkError
from ..optional import require
from .layers import RUNTIME_LAYER, layer_of, module_from_onnx_name


def conv_kinds(model_path: Path) -> dict[str, str]:
    """layer -> 'depthwise conv', 'pointwise conv' or 'conv', from the ONNX graph's Conv nodes (group, kernel)."""
    onnx = require("onnx", "reading an ONNX graph's layers")
    kinds = {}
    for node in onnx.load(str(model_path), load_external_data=False).graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        module, op = module_from_onnx_name(node.name)
        kernel = list(attrs.get("kernel_shape") or [])
        kind = ("depthwise" if attrs.get("group", 1) > 1 else
                "pointwise" if kernel and all(k == 1 for k in kernel) else "conv")
        kinds[layer_of(module, op)] = kind
    return kinds


def _kind(op_type: str, layer: str, kinds: dict) -> str:
    if op_type in ("Conv", "FusedConv", "QLinearConv", "ConvInteger", "NhwcFusedConv"):
        return kinds.get(layer, "conv")
    if op_type in ("Add", "QLinearAdd", "Sum"):
        return "add"
    if op_type in ("Gemm", "MatMul", "QGemm", "MatMulInteger", "FusedMatMul"):
        return "fc"
    if op_type in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"):
        return "quantize"
    if op_type in ("Transpose", "ReorderInput", "ReorderOutput", "Reshape", "Flatten"):
        return "layout"
    return op_type


def _layer(name: str, graph_tensors: dict[str, str]) -> tuple[str, str]:
    """(layer, module token) of an event's node name: a node of the graph, a fused node named after
    the tensor it writes (``.../Clip_output_0_nchwc``), or one the runtime added (``ReorderOutput``)."""
    base = name
    for suffix in ("_nchwc",):
        base = base[: -len(suffix)] if base.endswith(suffix) else base
    if "_token_" in base:
        base = base[: base.rindex("_token_")]
    base = graph_tensors.get(base, base)  # a tensor name -> the node that writes it
    module, op = module_from_onnx_name(base)
    return layer_of(module, op), op


def profile_onnx(model_path: Path, x: np.ndarray, runs: int, warmup: int, threads: int) -> dict:
    ort = require("onnxruntime", "profiling ONNX models")
    onnx = require("onnx", "reading an ONNX graph's layers")
    graph = onnx.load(str(model_path), load_external_data=False).graph
    tensors = {out: node.name for node in graph.node for out in node.output}
    kinds = conv_kinds(model_path)
    with tempfile.TemporaryDirectory(prefix="edgemark-ortprof-") as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        for _ in range(warmup + runs):
            session.run(None, feed)
        trace = Path(session.end_profiling())
        try:
            events = json.loads(trace.read_text())
        except ValueError as e:
            raise EdgemarkError(f"{trace}: onnxruntime's profile is not JSON ({e})") from None
    run_events = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    if len(run_events) != warmup + runs:
        raise EdgemarkError(f"{model_path}: onnxruntime's profile has {len(run_events)} runs, expected {warmup + runs}")
    timed = run_events[warmup:]
    starts = [e["ts"] for e in timed]
    ends = [e["ts"] + e["dur"] for e in timed]
    per_node: dict[str, list] = {}
    meta: dict[str, tuple] = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        if not any(s <= e["ts"] <= t for s, t in zip(starts, ends)):
            continue  # a warm-up run's
        name = e["name"][: -len("_kernel_time")]
        per_node.setdefault(name, []).append(e["dur"] / 1000.0)
        meta[name] = (e["args"].get("op_name", "?"), e["args"].get("provider", "?"))
    ops = []
    for name, times in per_node.items():
        op_type, provider = meta[name]
        layer, _ = _layer(name, tensors)
        kind = _kind(op_type, layer, kinds if layer != RUNTIME_LAYER else {})
        ops.append({"name": name, "op": op_type, "layer": layer, "kind": kind, "ms": statistics.median(times), "calls": len(times),
                    "where": provider})
    return {"runtime": f"onnxruntime {ort.__version__} CPUExecutionProvider",
            "profiler": "onnxruntime session profiling (SessionOptions.enable_profiling)",
            "run_ms": statistics.median(e["dur"] / 1000.0 for e in timed), "ops": ops}
