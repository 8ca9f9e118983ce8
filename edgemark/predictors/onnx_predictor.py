"""onnxruntime predictor (CPU, or CUDA when asked and present)."""

from __future__ import annotations

import numpy as np

from ..errors import EdgemarkError
from ..optional import require
from .base import Predictor


class OnnxPredictor(Predictor):
    def __init__(self, model_path, manifest: dict, threads: int | None = None, device: str = "cpu"):
        ort = require("onnxruntime", "running ONNX models")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: QDQ models warn about folded constants on every load
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        providers = {"cpu": ["CPUExecutionProvider"], "gpu": ["CUDAExecutionProvider"]}.get(device)
        if providers is None:
            raise EdgemarkError(f"unknown device {device!r} for onnxruntime (cpu or gpu)")
        if providers[0] not in ort.get_available_providers():
            raise EdgemarkError(f"onnxruntime has no {providers[0]} here (available: {', '.join(ort.get_available_providers())}); "
                                "for GPU install onnxruntime-gpu and a CUDA driver")
        self.session = ort.InferenceSession(str(model_path), options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.description = f"onnxruntime {ort.__version__} {providers[0]}"

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]
