"""Learned per-source label offsets, a training-only correction.

The CUHK training list joins two sources whose annotators placed the points differently:
a first model's mean signed error on lfw_5590 training faces was about +3 % of the
inter-ocular distance in x, on net_7876 faces -0.3 % (benchmarks/accuracy.md). A model
cannot learn such an offset from the image, and horizontal flipping makes it impossible
even in principle (mirrored, an offset to the right becomes one to the left), so every
face of the minority source carries a systematic error the loss keeps pulling on.

Here each listed source gets one learned (x, y) offset per point, in crop-normalised units
of the unflipped face. During training it is added to the model's prediction before the
loss (mirrored for flipped samples), so the network itself learns the convention of the
unlisted sources. Exported models carry only the network: they predict in that convention.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class SourceOffsets(nn.Module):
    def __init__(self, sources: list[str], num_points: int, flip_perm: np.ndarray):
        super().__init__()
        self.sources = list(sources)
        self.offsets = nn.Parameter(torch.zeros(len(self.sources), num_points, 2))
        self.register_buffer("flip_perm", torch.as_tensor(np.asarray(flip_perm), dtype=torch.long), persistent=False)

    def source_ids(self, source_names: list[str]) -> np.ndarray:
        """0 for faces of an unlisted source (no offset), i + 1 for the i-th listed source."""
        index = {s: i + 1 for i, s in enumerate(self.sources)}
        return np.array([index.get(s, 0) for s in source_names], np.int64)

    def forward(self, pred: torch.Tensor, source_id: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
        table = torch.cat([torch.zeros_like(self.offsets[:1]), self.offsets])  # row 0: unlisted sources
        d = table[source_id]  # (B, K, 2) in the unflipped face's frame
        mirrored = d[:, self.flip_perm] * torch.tensor([-1.0, 1.0])
        d = torch.where(flipped.view(-1, 1, 1), mirrored, d)
        return pred + d

    def describe(self, input_size: int) -> dict:
        """The learned offsets in crop pixels, per source and point."""
        return {s: np.round(self.offsets[i].detach().numpy() * input_size, 3).tolist() for i, s in enumerate(self.sources)}
