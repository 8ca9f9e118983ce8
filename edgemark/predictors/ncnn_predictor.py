"""NCNN predictor via the ``ncnn`` Python wheel (CPU; no torch). One image per extract:
a batch is run image by image. The manifest's ``runtime_options`` set ncnn's fp16/int8
switches, so that an fp32 artifact is not run with fp16 storage on CPUs that have it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgemarkError
from ..optional import require
from .base import Predictor


class NcnnPredictor(Predictor):
    def __init__(self, model_path, manifest: dict, threads: int | None = None, device: str = "cpu"):
        if device != "cpu":
            raise EdgemarkError(f"the NCNN runner here runs on the CPU only (asked for {device!r}; ncnn's Vulkan path is not used)")
        ncnn = require("ncnn", "running NCNN models")
        param = Path(model_path)
        weights = param.with_name(manifest.get("weights_file") or "model.ncnn.bin")
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        for key, value in (manifest.get("runtime_options") or {}).items():
            if not hasattr(self.net.opt, key):
                raise EdgemarkError(f"{param.parent}: manifest runtime option {key!r} is not an ncnn option")
            setattr(self.net.opt, key, value)
        if threads:
            self.net.opt.num_threads = threads
        if self.net.load_param(str(param)) != 0:
            raise EdgemarkError(f"{param}: ncnn could not read the model structure")
        if self.net.load_model(str(weights)) != 0:
            raise EdgemarkError(f"{weights}: ncnn could not read the weights")
        self.ncnn = ncnn
        self.input_name, self.output_name = manifest["input"]["name"], manifest["output"]["name"]
        self.description = f"ncnn {ncnn.__version__} CPU"

    def _run(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for x in batch:
            x = np.ascontiguousarray(x)
            ex = self.net.create_extractor()
            ex.input(self.input_name, self.ncnn.Mat(x))
            ret, y = ex.extract(self.output_name)
            if ret != 0:
                raise EdgemarkError(f"ncnn could not compute {self.output_name} (error {ret})")
            out.append(np.array(y, dtype=np.float32).reshape(1, -1))
        return np.concatenate(out)
