"""OpenVINO export: ``openvino.convert_model`` from the torch module and ``save_model``
(fp16 = weights compressed to fp16), int8 by NNCF post-training quantisation.

The int8 model keeps the landmark head (the final fully connected layer, a MatMul, whose
outputs are the coordinates) in float: on the shipped 5-point model and the CUHK test list
that takes the NME from 3.56 % to 3.43 % (the shipped artifact; fp32 3.38 %) at the same
speed (0.467 ms against 0.467 ms, one thread). NNCF's full bias correction
(``fast_bias_correction=False``) did not help (3.58 %)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..optional import require
from ..preprocess import CropSpec, normalise
from .manifest import library_versions


def export_openvino(model: torch.nn.Module, crop: CropSpec, out_dir: Path, precision: str, calib: np.ndarray | None,
                    float_layers=()) -> dict:
    """``float_layers``: int8 only, layers (``profile.layers`` names, as ``edgemark quant-debug``
    lists them) left float besides the head: their operations go to NNCF's ``ignored_scope``."""
    if float_layers and precision != "int8":
        raise ValueError("float_layers is for int8 only")
    ov = require("openvino", "OpenVINO export")
    example = torch.zeros(1, 3, crop.size, crop.size)
    ov_model = ov.convert_model(model.eval(), example_input=example, input=[(-1, 3, crop.size, crop.size)])
    converter = "openvino.convert_model"
    if precision == "int8":
        nncf = require("nncf", "OpenVINO int8 quantisation")
        dataset = nncf.Dataset(list(calib), lambda c: normalise(c, crop.mean, crop.std))
        ov_model = nncf.quantize(ov_model, dataset, subset_size=len(calib), preset=nncf.QuantizationPreset.MIXED,
                                 ignored_scope=nncf.IgnoredScope(names=float_ops(ov_model, float_layers), types=["MatMul"],
                                                                 validate=False))
        converter += " + nncf.quantize (post-training, MIXED preset, the fully connected head float)"
        if float_layers:
            converter += f"; {len(float_layers)} layer(s) left float (float_layers, NNCF ignored_scope)"
    ov.save_model(ov_model, str(Path(out_dir) / "model.xml"), compress_to_fp16=precision == "fp16")
    return {"format": "openvino", "model_file": "model.xml", "converter": converter + (" + save_model(compress_to_fp16)" if precision == "fp16" else ""),
            "input": {"name": ov_model.inputs[0].get_any_name(), "shape": [-1, 3, crop.size, crop.size], "layout": "NCHW", "dtype": "float32"},
            "output": {"shape": [-1, None, 2], "dtype": "float32"},
            "runtime_options": {"INFERENCE_PRECISION_HINT": "f32"},
            "versions": library_versions("torch", "openvino", "nncf", "opencv-python", "opencv-python-headless")}


def float_ops(ov_model, float_layers) -> list[str]:
    """The OpenVINO operations of ``float_layers``. The converter keeps the module path in
    operation names (``profile.layers``), except where it fuses: a convolution folded with its
    batch norm is renamed (``Multiply_12256``), so an operation without a module in its name
    belongs to the layer of the first named operation it feeds."""
    wanted = set(float_layers)
    names = [op.get_friendly_name() for op in ov_model.get_ops() if _op_layer(op) in wanted]
    found = {_op_layer(op) for op in ov_model.get_ops() if op.get_friendly_name() in set(names)}
    if wanted - found:
        raise ValueError(f"float layers not in the OpenVINO model: {', '.join(sorted(wanted - found))}")
    return names


def _op_layer(op, depth: int = 0) -> str | None:
    from ..profile.layers import layer_of, module_from_openvino_name

    module, kind = module_from_openvino_name(op.get_friendly_name())
    if module:
        return layer_of(module, kind)
    if depth >= 3 or op.get_output_size() != 1:
        return None
    users = [i.get_node() for i in op.output(0).get_target_inputs()]
    return _op_layer(users[0], depth + 1) if len(users) == 1 else None
