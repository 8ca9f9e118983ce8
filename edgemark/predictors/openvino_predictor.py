"""OpenVINO predictor. The inference precision is pinned to f32 (the manifest's runtime
options) so that an fp32 artifact is not silently run in bf16 on CPUs that have it.

The model is compiled with a static shape, once per batch size it meets (batch 1 at load):
on an Intel Xeon with AVX-512 VNNI (2026-12-02) the CPU plugin crashed (segmentation
fault) running a small int8 model compiled with a dynamic batch at batch 1 or 2, and ran
it with the batch fixed. Static shapes are also what OpenVINO's benchmark_app measures."""

from __future__ import annotations

import numpy as np

from ..devices import parse_device
from ..optional import require
from .base import Predictor


class OpenVinoPredictor(Predictor):
    def __init__(self, model_path, manifest: dict, threads: int | None = None, device="cpu"):
        dev = parse_device(device)  # --device gpu: OpenVINO's GPU plugin (an Intel GPU); it has no CUDA path
        ov = require("openvino", "running OpenVINO models")
        self.core = ov.Core()
        self.model_path = str(model_path)
        self.item_shape = list(manifest["input"]["shape"][1:])  # (3, H, W); the batch is set per call
        self.config = dict(manifest.get("runtime_options", {}))
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = threads
        self.ov_device = dev.openvino
        self.compiled = {}  # batch size -> (compiled model, its infer request)
        self._compiled_for(1)
        self.description = f"OpenVINO {ov.get_version().split('-')[0]} {self.ov_device} plugin"

    def _compiled_for(self, batch: int):
        if batch not in self.compiled:
            model = self.core.read_model(self.model_path)
            model.reshape([batch, *self.item_shape])
            compiled = self.core.compile_model(model, self.ov_device, self.config)
            self.compiled[batch] = (compiled, compiled.create_infer_request())
        return self.compiled[batch]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        compiled, request = self._compiled_for(len(batch))
        return request.infer({0: batch})[compiled.outputs[0]]
