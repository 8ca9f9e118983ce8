"""OpenVINO predictor. The inference precision is pinned to f32 (the manifest's runtime
options) so that an fp32 artifact is not silently run in bf16 on CPUs that have it."""

from __future__ import annotations

import numpy as np

from ..optional import require
from .base import Predictor


class OpenVinoPredictor(Predictor):
    def __init__(self, model_path, manifest: dict, threads: int | None = None, device: str = "cpu"):
        ov = require("openvino", "running OpenVINO models")
        core = ov.Core()
        config = dict(manifest.get("runtime_options", {}))
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        ov_device = {"cpu": "CPU", "gpu": "GPU"}.get(device, device)
        self.compiled = core.compile_model(core.read_model(str(model_path)), ov_device, config)
        self.request = self.compiled.create_infer_request()
        self.description = f"OpenVINO {ov.get_version().split('-')[0]} {ov_device} plugin"

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.request.infer({0: batch})[self.compiled.outputs[0]]
