"""Each layer's effect on the validation NME when it alone stays float, measured with the real
ONNX Runtime or OpenVINO int8 converter and runtime (``edgemark quant-debug --target onnx``).

The quantisation debugger's torch graph is the TFLite quantiser's; ONNX Runtime's
``quantize_static`` (uint8 activations, 7-bit weights, MinMax) and NNCF (its own presets,
bias correction) lose their accuracy elsewhere, so these two rank in their own runtime: one
conversion per layer, each measured on the validation faces.

Pairs of consecutive layers are ranked too (``quant_debug.ranking_units``): on the shipped
model ONNX's whole drop sits on the last block's output, ``features.17.block.2`` alone float
+0.045 pp, ``head.reduce`` alone +0.045, both +0.006 (all-int8 +0.047); ranked by single
layers, the budget search made 29 layers float before it found them."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

from ..io import output_to_log
from ..predictors.load import load_predictor
from .manifest import write_manifest
from .onnx import export_onnx
from .openvino import export_openvino
from .quant_debug import LayerRow, ValidationSet, ranking_units, unit_layers

RUNTIME_TARGETS = {"onnx": export_onnx, "openvino": export_openvino}
ALREADY_FLOAT = ("head.fc",)  # both exporters keep the head's fully connected layer float anyway
QUANTISER = {"onnx": "onnxruntime.quantization.quantize_static (QDQ, uint8 activations, 7-bit per-channel weights, MinMax), "
                     "each layer's file converted and run in onnxruntime",
             "openvino": "nncf.quantize (MIXED preset), each layer's file converted and run in OpenVINO"}


class RuntimeRanking:
    """All-int8 and one-layer-float files of ``target`` for a float ``model``, measured on ``val``.
    ``manifest``: what every artifact's manifest carries besides the converter's entries
    (crop, scheme, ...: ``pipeline.base_manifest``)."""

    def __init__(self, target: str, model, crop, calib, val: ValidationSet, manifest: dict):
        self.target, self.model, self.crop, self.calib, self.val, self.manifest = target, model, crop, calib, val, manifest
        self.int8_nme = self.nme(())

    def nme(self, float_layers) -> float:
        with tempfile.TemporaryDirectory(prefix="edgemark-rank-") as tmp:
            folder = Path(tmp) / f"{self.target}-int8"
            folder.mkdir()
            with output_to_log(Path(tmp) / "export.log"):
                info = RUNTIME_TARGETS[self.target](copy.deepcopy(self.model).cpu().eval(), self.crop, folder, "int8", self.calib,
                                                    float_layers=list(float_layers))
            write_manifest(folder, {**self.manifest, **info, "name": folder.name, "precision": "int8"})
            predictor = load_predictor(folder, threads=1)
            nme = self.val.nme(predictor.predict_crops(self.val.crops), self.crop.size)
            del predictor
        return nme

    def table(self, layers: list[str], progress=None) -> list[LayerRow]:
        """One row per layer (model order) that the exporter does not keep float already, then
        one per pair of consecutive layers (``a+b``: the tensor between them stays float only
        when both do); no output-error columns (those are the torch simulation's)."""
        units = ranking_units([layer for layer in layers if layer not in ALREADY_FLOAT])
        rows = []
        for i, unit in enumerate(units):
            nme = self.nme(unit_layers(unit))
            rows.append(LayerRow(unit, None, None, nme, (self.int8_nme - nme) * 100))
            if progress:
                progress(i + 1, len(units))
        return rows


def fp32_nme(model, crop, val: ValidationSet) -> float:
    """The float network's validation NME (the reference of every drop)."""
    import torch

    from ..preprocess import normalise

    with torch.no_grad():
        uv = model.eval()(torch.from_numpy(normalise(val.crops, crop.mean, crop.std))).reshape(len(val.crops), -1, 2).numpy()
    return val.nme(uv, crop.size)


def report(ranking: RuntimeRanking, rows: list[LayerRow], checkpoint: str, calib_info: dict | None, nme_fp32: float,
           layers: list[str]) -> dict:
    """The findings in quant_debug.report's form (so export --ranking reads either)."""
    from .quant_debug import ranked

    return {"checkpoint": str(checkpoint), "target": ranking.target, "precision": "int8", "quantizer": QUANTISER[ranking.target],
            "calibration": {k: v for k, v in (calib_info or {}).items() if k != "lines"},
            "validation": ranking.val.description, "layers_quantised": len(layers),
            "already_float": [layer for layer in ALREADY_FLOAT if layer in layers],
            "nme_fp32": nme_fp32, "nme_int8": ranking.int8_nme, "drop_pp": (ranking.int8_nme - nme_fp32) * 100,
            "rows": [vars(r) for r in rows], "ranked": ranked(rows)}

