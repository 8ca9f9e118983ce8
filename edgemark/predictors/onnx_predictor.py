"""onnxruntime predictor (CPU, or CUDA when asked and present). A CUDA request needs
onnxruntime-gpu (``pip install 'edgemark[gpu]'`` in place of onnxruntime); a session that
onnxruntime quietly put on the CPU instead is refused (``devices.check_onnx_providers``)."""

from __future__ import annotations

import numpy as np

from ..devices import check_onnx_providers, parse_device
from ..optional import require
from .base import Predictor


class OnnxPredictor(Predictor):
    def __init__(self, model_path, manifest: dict, threads: int | None = None, device="cpu", providers: list | None = None):
        """``providers``: onnxruntime's list instead of the device's (e.g. TensorRT then CUDA);
        its first one must be the one the session runs on."""
        dev = parse_device(device)
        ort = require("onnxruntime", "running ONNX models" + (" on a GPU" if dev.is_gpu else ""), gpu=dev.is_gpu)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: QDQ models warn about folded constants on every load
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        providers = providers or dev.onnx_providers
        self.session = ort.InferenceSession(str(model_path), options, providers=providers)
        used = self.session.get_providers()
        check_onnx_providers(dev, used, providers[0] if isinstance(providers[0], str) else providers[0][0])
        self.input_name = self.session.get_inputs()[0].name
        self.description = f"onnxruntime {ort.__version__} {used[0]}"

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]
