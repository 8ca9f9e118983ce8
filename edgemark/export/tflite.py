"""TFLite export with litert-torch: fp32 by ``litert_torch.convert``; fp16 by
ai-edge-quantizer's float-casting recipe (fp16 weights, fp32 compute); int8 full-integer
(int8 weights, activations, input and output) by torchao PT2E quantisation with
litert-torch's quantizer, calibrated on training crops. Batch size 1, NHWC input
(TFLite's own layout: the graph starts without a transpose, and the uint8 crop goes in as
it is cut)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..optional import require
from ..preprocess import CropSpec
from .manifest import library_versions


def export_tflite(model: torch.nn.Module, crop: CropSpec, out_dir: Path, precision: str, calib: np.ndarray | None,
                  float_layers=()) -> dict:
    """``float_layers``: int8 only, layers (``profile.layers`` names, as ``edgemark quant-debug``
    lists them) left float: dequantise before, quantise after, float weights."""
    litert_torch = require("litert_torch", "TFLite export")
    out = Path(out_dir) / "model.tflite"
    example = (torch.zeros(1, crop.size, crop.size, 3),)
    model = ChannelsLastInput(model.eval()).eval()
    if precision == "int8":
        from .quant_debug import export_graph, quantize_graph

        quant_config = require("litert_torch.quantize.quant_config", "TFLite int8 quantisation")
        # strict export (export_graph): non-strict leaves the residual adds without the source record the
        # quantizer matches them by, so they stayed float (dequantise, add, quantise: 22 extra ops).
        graph, quantizer = quantize_graph(export_graph(model, example[0]), crop, calib, float_layers)
        litert_torch.convert(graph, example, quant_config=quant_config.QuantConfig(pt2e_quantizer=quantizer)).export(str(out))
        converter = "litert_torch.convert + torchao PT2E (PT2EQuantizer, symmetric per-channel, static)"
        if float_layers:
            converter += f"; {len(float_layers)} layer(s) left float (float_layers)"
    else:
        if float_layers:
            raise ValueError("float_layers is for int8 only")
        litert_torch.convert(model, example).export(str(out if precision == "fp32" else out.with_name(".fp32.tflite")))
        converter = "litert_torch.convert"
        if precision == "fp16":
            _cast_to_fp16(out.with_name(".fp32.tflite"), out)
            out.with_name(".fp32.tflite").unlink()
            converter += " + ai_edge_quantizer FLOAT_CASTING (fp16 weights)"
    interpreter = require("ai_edge_litert.interpreter", "TFLite inference").Interpreter(model_path=str(out))
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    return {"format": "tflite", "model_file": "model.tflite", "converter": converter,
            "input": {"name": inp["name"], "shape": [int(v) for v in inp["shape"]], "layout": "NHWC",
                      "dtype": np.dtype(inp["dtype"]).name, "quantization": _qparams(inp)},
            "output": {"name": outp["name"], "shape": [int(v) for v in outp["shape"]], "dtype": np.dtype(outp["dtype"]).name,
                       "quantization": _qparams(outp)},
            "versions": library_versions("torch", "litert-torch", "ai-edge-litert", "ai-edge-quantizer", "torchao", "opencv-python", "opencv-python-headless")}


class ChannelsLastInput(torch.nn.Module):
    """The landmark model taking NHWC input: the converter's own NHWC-to-NCHW bookkeeping
    cancels this permute, so no transpose is left at the input."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x.permute(0, 3, 1, 2))


def _qparams(detail: dict):
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return {"scale": float(scale), "zero_point": int(zero_point)} if scale else None


def _cast_to_fp16(src: Path, dst: Path) -> None:
    quantizer = require("ai_edge_quantizer.quantizer", "TFLite fp16 conversion")
    recipe_manager = require("ai_edge_quantizer.recipe_manager", "TFLite fp16 conversion")
    qtyping = require("ai_edge_quantizer.qtyping", "TFLite fp16 conversion")
    algorithms = require("ai_edge_quantizer.algorithm_manager", "TFLite fp16 conversion")
    recipe = recipe_manager.RecipeManager()
    recipe.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                  granularity=qtyping.QuantGranularity.TENSORWISE, algorithm_key=algorithms.AlgorithmName.FLOAT_CASTING)
    quantizer.Quantizer(str(src), recipe.get_quantization_recipe()).quantize().export_model(str(dst), overwrite=True)
