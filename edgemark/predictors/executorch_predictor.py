"""ExecuTorch predictor via ``executorch.runtime`` (XNNPACK delegate, CPU). The Python
runtime imports torch: on a device this is the one runtime that brings torch into the
venv (opt-in there). Batch size 1: a batch is run image by image; fp16 programs take
and give float16 (cast here)."""

from __future__ import annotations

import numpy as np

from ..errors import EdgemarkError
from ..optional import require
from .base import Predictor


class ExecuTorchPredictor(Predictor):
    def __init__(self, model_path, manifest: dict, threads: int | None = None, device: str = "cpu"):
        if device != "cpu":
            raise EdgemarkError(f"the ExecuTorch runner here runs on the CPU only (asked for {device!r})")
        runtime = require("executorch.runtime", "running ExecuTorch models")
        self.torch = require("torch", "running ExecuTorch models (executorch.runtime takes torch tensors)")
        if threads:
            pybindings = require("executorch.extension.pybindings.portable_lib", "running ExecuTorch models")
            pybindings._unsafe_reset_threadpool(threads)  # XNNPACK's threadpool, process-wide
        try:
            program = runtime.Runtime.get().load_program(str(model_path))
            self.method = program.load_method("forward")
        except (RuntimeError, ValueError) as e:
            raise EdgemarkError(f"{model_path}: ExecuTorch could not load the program ({e})") from None
        self.program = program
        self.dtype = {"float32": self.torch.float32, "float16": self.torch.float16}[manifest["input"]["dtype"]]
        self.description = f"ExecuTorch {_version()} XNNPACK CPU"

    def _run(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for x in batch:
            y = self.method.execute([self.torch.from_numpy(np.ascontiguousarray(x[None])).to(self.dtype)])[0]
            out.append(y.float().numpy().reshape(1, -1))
        return np.concatenate(out)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("executorch")
    except metadata.PackageNotFoundError:
        return "?"
