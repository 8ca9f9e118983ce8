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


def export_openvino(model: torch.nn.Module, crop: CropSpec, out_dir: Path, precision: str, calib: np.ndarray | None) -> dict:
    ov = require("openvino", "OpenVINO export")
    example = torch.zeros(1, 3, crop.size, crop.size)
    ov_model = ov.convert_model(model.eval(), example_input=example, input=[(-1, 3, crop.size, crop.size)])
    converter = "openvino.convert_model"
    if precision == "int8":
        nncf = require("nncf", "OpenVINO int8 quantisation")
        dataset = nncf.Dataset(list(calib), lambda c: normalise(c, crop.mean, crop.std))
        ov_model = nncf.quantize(ov_model, dataset, subset_size=len(calib), preset=nncf.QuantizationPreset.MIXED,
                                 ignored_scope=nncf.IgnoredScope(types=["MatMul"], validate=False))
        converter += " + nncf.quantize (post-training, MIXED preset, the fully connected head float)"
    ov.save_model(ov_model, str(Path(out_dir) / "model.xml"), compress_to_fp16=precision == "fp16")
    return {"format": "openvino", "model_file": "model.xml", "converter": converter + (" + save_model(compress_to_fp16)" if precision == "fp16" else ""),
            "input": {"name": ov_model.inputs[0].get_any_name(), "shape": [-1, 3, crop.size, crop.size], "layout": "NCHW", "dtype": "float32"},
            "output": {"shape": [-1, None, 2], "dtype": "float32"},
            "runtime_options": {"INFERENCE_PRECISION_HINT": "f32"},
            "versions": library_versions("torch", "openvino", "nncf", "opencv-python", "opencv-python-headless")}
