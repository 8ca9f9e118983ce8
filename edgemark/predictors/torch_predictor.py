"""PyTorch eager predictor: the fp32 reference every exported artifact is compared with.
On a CUDA device (``--device gpu``, ``cuda``, ``cuda:N``; ``edgemark.devices``) the same
model runs there; without CUDA the request is a named error saying what to install."""

from __future__ import annotations

import numpy as np
import torch

from ..checkpoint import load_model
from ..devices import parse_device, require_torch_cuda
from ..errors import EdgemarkError
from .base import Predictor


class TorchPredictor(Predictor):
    def __init__(self, checkpoint, threads: int | None = None, device="cpu", half: bool = False, channels_last: bool = False):
        """``half``: fp16 weights and input (CUDA only: the CPU's fp16 convolutions are slow
        and not what anyone deploys); ``channels_last``: NHWC weights and input."""
        dev = parse_device(device)
        if dev.is_gpu:
            require_torch_cuda(dev)
        elif half:
            raise EdgemarkError("torch fp16 runs on a CUDA device only (--device gpu)")
        loaded = load_model(checkpoint)
        self.crop, self.scheme, self.box_rule = loaded.crop, loaded.scheme, loaded.box_rule
        self.device = torch.device(dev.torch)
        self.dtype = torch.float16 if half else torch.float32
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = loaded.model.to(self.device, self.dtype, memory_format=self.memory_format).eval()
        if threads:
            torch.set_num_threads(threads)
        layout = ", channels_last" if channels_last else ""
        self.description = f"torch {torch.__version__} eager {'fp16' if half else 'fp32'}{layout} ({dev.name})"

    @torch.inference_mode()
    def _run(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(self.device, self.dtype).contiguous(memory_format=self.memory_format)
        return self.model(x).float().cpu().numpy()
