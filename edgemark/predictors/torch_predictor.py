"""PyTorch eager predictor: the fp32 reference every exported artifact is compared with."""

from __future__ import annotations

import numpy as np
import torch

from ..checkpoint import load_model
from .base import Predictor


class TorchPredictor(Predictor):
    def __init__(self, checkpoint, threads: int | None = None, device: str = "cpu"):
        loaded = load_model(checkpoint)
        self.crop, self.scheme, self.box_rule = loaded.crop, loaded.scheme, loaded.box_rule
        self.device = torch.device(device)
        self.model = loaded.model.to(self.device)
        if threads:
            torch.set_num_threads(threads)
        self.description = f"torch {torch.__version__} eager fp32 ({device})"

    @torch.inference_mode()
    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.model(torch.from_numpy(batch).to(self.device)).cpu().numpy()
