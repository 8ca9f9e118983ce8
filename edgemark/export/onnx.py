"""ONNX export: fp32 with torch's exporter, fp16 by onnxruntime's float16 converter
(``onnxruntime.transformers.float16``, float32 inputs/outputs kept), int8 by
``onnxruntime.quantization.quantize_static`` (QDQ, per-channel int8 weights in 7 bits,
uint8 activations).

Activations are uint8 (U8S8), not int8 (S8S8): onnxruntime's x86 int8 kernels multiply
unsigned by signed bytes (AVX-512 VNNI ``vpdpbusd``, AVX2 ``vpmaddubsw``), so S8S8 pays a
conversion per layer. Measured on the shipped 5-point model (AMD EPYC with VNNI, one
thread, onnxruntime 1.32): S8S8 0.600 ms, slower than fp32 (0.465 ms); U8S8 0.360 ms, with
the same NME on the CUHK test list (3.459 %, fp32 3.384 %). ``quant_pre_process`` and the
QOperator format changed neither by more than 0.01 ms.

Weights are quantised to 7 bits (``reduce_range``): without AVX-512 VNNI, the AVX2 kernel
(``vpmaddubsw``) adds pairs of uint8 x int8 products in int16 and saturates. With full
8-bit weights the shipped model's int8 artifact scored 3.44 % on a VNNI CPU but 3.75 % on
an AVX2-only one (AMD EPYC, 2026-12-02), and its landmarks differed from the same
artifact's on aarch64 by up to 0.085 of the crop. 7-bit weights cannot saturate: 3.45 % on
the AVX2 CPU.

The landmark head (the final fully connected layer, whose outputs are the coordinates)
stays float: 3.459 -> 3.435 % NME on the same model and list, no measurable time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..optional import require
from ..preprocess import CropSpec, normalise
from .manifest import library_versions

INPUT, OUTPUT = "input", "landmarks"


def export_onnx(model: torch.nn.Module, crop: CropSpec, out_dir: Path, precision: str, calib: np.ndarray | None,
                float_layers=()) -> dict:
    """``float_layers``: int8 only, layers (``profile.layers`` names, as ``edgemark quant-debug``
    lists them) left float besides the head: their nodes go to ``nodes_to_exclude``."""
    if float_layers and precision != "int8":
        raise ValueError("float_layers is for int8 only")
    onnx = require("onnx", "ONNX export")
    out_dir = Path(out_dir)
    fp32_path = out_dir / ("model.onnx" if precision == "fp32" else ".fp32.onnx")
    example = torch.zeros(1, 3, crop.size, crop.size)
    torch.onnx.export(model.eval(), (example,), str(fp32_path), input_names=[INPUT], output_names=[OUTPUT], opset_version=17,
                      dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, dynamo=False)
    onnx.checker.check_model(str(fp32_path))
    converter = "torch.onnx.export (TorchScript exporter, opset 17)"
    if precision == "fp16":
        float16 = require("onnxruntime.transformers.float16", "ONNX fp16 conversion")
        half = float16.convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
        onnx.save(half, str(out_dir / "model.onnx"))
        converter += " + onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True)"
    elif precision == "int8":
        quantization = require("onnxruntime.quantization", "ONNX int8 quantisation")
        graph = onnx.load(str(fp32_path)).graph
        head = [n.name for n in graph.node if n.op_type in ("Gemm", "MatMul")]
        kept = float_nodes(graph, float_layers)
        quantization.quantize_static(str(fp32_path), str(out_dir / "model.onnx"), _Reader(calib, crop),
                                     nodes_to_exclude=sorted(set(head) | set(kept)),
                                     quant_format=quantization.QuantFormat.QDQ, per_channel=True,
                                     activation_type=quantization.QuantType.QUInt8, weight_type=quantization.QuantType.QInt8,
                                     calibrate_method=quantization.CalibrationMethod.MinMax, reduce_range=True)
        converter += (" + onnxruntime.quantization.quantize_static (QDQ, uint8 activations, per-channel int8 weights in 7 bits "
                      "(reduce_range: no int16 saturation on AVX2 CPUs without VNNI), MinMax; the fully connected head float)")
        if float_layers:
            converter += f"; {len(float_layers)} layer(s) left float (float_layers: {len(kept)} nodes_to_exclude)"
    if fp32_path.name != "model.onnx":
        fp32_path.unlink()
    return {"format": "onnx", "model_file": "model.onnx", "converter": converter,
            "input": {"name": INPUT, "shape": [-1, 3, crop.size, crop.size], "layout": "NCHW", "dtype": "float32"},
            "output": {"name": OUTPUT, "shape": [-1, None, 2], "dtype": "float32"},
            "versions": library_versions("torch", "onnx", "onnxruntime", "opencv-python", "opencv-python-headless")}


def float_nodes(graph, float_layers) -> list[str]:
    """The ONNX nodes of ``float_layers`` (their names keep the module path: ``profile.layers``)."""
    from ..profile.layers import layer_of, module_from_onnx_name

    wanted = set(float_layers)
    nodes = [n.name for n in graph.node if layer_of(*module_from_onnx_name(n.name)) in wanted]
    found = {layer_of(*module_from_onnx_name(n)) for n in nodes}
    if wanted - found:
        raise ValueError(f"float layers not in the ONNX graph: {', '.join(sorted(wanted - found))}")
    return nodes


class _Reader:
    """onnxruntime CalibrationDataReader over normalised calibration crops."""

    def __init__(self, crops: np.ndarray, crop: CropSpec):
        self.batches = iter([{INPUT: normalise(c, crop.mean, crop.std)} for c in crops])

    def get_next(self):
        return next(self.batches, None)
