"""LiteRT (TFLite) predictor via ai-edge-litert, XNNPACK on CPU. The exported models take
batch 1; int8 models take int8 input, quantised with the scale and zero point the
manifest (and the model) state. The input layout is the manifest's: NHWC (exports since
2026-12-02) or NCHW (earlier ones)."""

from __future__ import annotations

import cv2
import numpy as np

from ..devices import parse_device
from ..errors import EdgemarkError
from ..optional import require
from ..preprocess import normalise
from .base import Predictor


class TfLitePredictor(Predictor):
    def __init__(self, model_path, manifest: dict, threads: int | None = None, device="cpu"):
        if parse_device(device).is_gpu:
            raise EdgemarkError(f"the TFLite runner here runs on the CPU only (asked for {device!s}; ai-edge-litert's Python "
                                "package has no GPU delegate)")
        litert = require("ai_edge_litert.interpreter", "running TFLite models")
        self.interpreter = litert.Interpreter(model_path=str(model_path), num_threads=threads or None)
        self.interpreter.allocate_tensors()
        self.input, self.output = self.interpreter.get_input_details()[0], self.interpreter.get_output_details()[0]
        self._input_view = self.interpreter.tensor(self.input["index"])  # a numpy view of the input, made per call
        self.description = "LiteRT (ai-edge-litert) XNNPACK CPU"
        self.channels_last = manifest["input"].get("layout", "NCHW") == "NHWC"
        shape = list(self.input["shape"])
        if shape[3 if self.channels_last else 1] != 3:
            raise EdgemarkError(f"{model_path}: the manifest says {manifest['input'].get('layout', 'NCHW')} input, "
                                f"the model takes shape {shape}")
        self.lookup = None
        if self.input["dtype"] != np.float32:
            # Integer input: normalising then quantising is a function of each uint8 value and
            # channel, so one table lookup does both, bit for bit (no float work per pixel).
            values = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1).reshape(1, 16, 16, 3)
            mean, std = manifest["crop"]["mean"], manifest["crop"]["std"]
            table = _quantize(normalise(values, mean, std), self.input)  # (1, 3, 16, 16)
            per_channel = table.reshape(3, 256)
            # one table for every channel when the manifest's mean and std are the same for all three
            # (the shipped models): cv2.LUT's single-table path takes half the time of its per-channel one
            self.lookup = (np.ascontiguousarray(per_channel[:1]) if (per_channel == per_channel[0]).all()
                           else np.ascontiguousarray(per_channel.T.reshape(1, 256, 3)))  # cv2.LUT's layouts

    def predict_crops(self, crops_rgb: np.ndarray) -> np.ndarray:
        """One uint8 crop ((H, W, 3), as ``predict`` passes it, or (1, H, W, 3)) into an integer
        NHWC model (the shipped int8 artifact, the pipeline's case): quantised by the lookup table straight into the interpreter's input, no batch
        array and no set_tensor copy in between. Anything else: the generic path."""
        crop = crops_rgb[0] if isinstance(crops_rgb, np.ndarray) and crops_rgb.ndim == 4 and len(crops_rgb) == 1 else crops_rgb
        if (self.lookup is None or not self.channels_last or not isinstance(crop, np.ndarray) or crop.dtype != np.uint8
                or crop.shape != (self.crop.size, self.crop.size, 3)):
            return super().predict_crops(crops_rgb)
        target = self._input_view()
        cv2.LUT(crop, self.lookup, dst=target[0])
        del target  # no view into the interpreter may outlive the write (invoke refuses to run)
        self.interpreter.invoke()
        return _dequantize(self.interpreter.get_tensor(self.output["index"]), self.output).astype(np.float32, copy=False).reshape(1, -1, 2)

    def _prepare(self, crops: np.ndarray) -> np.ndarray:
        if self.lookup is None:
            return normalise(crops, self.crop.mean, self.crop.std, channels_last=self.channels_last)
        quantised = np.stack([cv2.LUT(crop, self.lookup) for crop in crops])  # per channel, 10x numpy's fancy indexing
        return quantised if self.channels_last else np.ascontiguousarray(quantised.transpose(0, 3, 1, 2))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for x in batch:
            self.interpreter.set_tensor(self.input["index"], _quantize(x[None], self.input))
            self.interpreter.invoke()
            out.append(_dequantize(self.interpreter.get_tensor(self.output["index"]), self.output))
        return np.concatenate(out)


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if x.dtype == dtype:  # already quantised (the lookup path)
        return x
    if dtype == np.float32:
        return x.astype(np.float32)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return y
    scale, zero_point = detail["quantization"]
    return (y.astype(np.float32) - zero_point) * scale
