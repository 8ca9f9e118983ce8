"""The regression head shared by all backbones: landmarks as 2K numbers in crop-normalised
coordinates. ``flatten`` keeps the spatial layout of the last feature map (better for
landmarks than a global average, which throws away where things are); ``pool`` is the
classic globally pooled head."""

from __future__ import annotations

import torch
from torch import nn


class LandmarkHead(nn.Module):
    def __init__(self, in_channels: int, feature_size: int, num_points: int, channels: int = 64,
                 pooling: str = "flatten", dropout: float = 0.0):
        super().__init__()
        if pooling not in ("flatten", "pool"):
            raise ValueError(f"head pooling must be 'flatten' or 'pool', not {pooling!r}")
        self.num_points = num_points
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1) if pooling == "pool" else nn.Identity()
        features = channels if pooling == "pool" else channels * feature_size * feature_size
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(features, num_points * 2)
        nn.init.zeros_(self.fc.weight)
        nn.init.constant_(self.fc.bias, 0.5)  # start at the crop centre

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.reduce(x))
        x = self.fc(self.dropout(torch.flatten(x, 1)))
        return x.view(-1, self.num_points, 2)


def feature_size(input_size: int, stride: int) -> int:
    """Side of the last feature map for a stack of stride-2 convolutions with padding."""
    size = input_size
    while stride > 1:
        size = (size + 1) // 2
        stride //= 2
    return size
