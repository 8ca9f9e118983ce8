"""Landmark models, one readable file each. ``build_model`` picks one by name."""

from __future__ import annotations

from torch import nn

from .mobilenetv2 import MobileNetV2
from .mobilenetv3_small import MobileNetV3Small
from .plain_cnn import PlainCNN
from .resnet import ResNet18

MODEL_NAMES = ("mobilenetv2", "mobilenetv3_small", "resnet18", "plain_cnn")


def build_model(name: str, num_points: int, input_size: int, width: float = 1.0, head_channels: int = 64,
                head_pooling: str = "flatten", dropout: float = 0.0) -> nn.Module:
    common = dict(input_size=input_size, head_channels=head_channels, head_pooling=head_pooling, dropout=dropout)
    if name == "mobilenetv2":
        return MobileNetV2(num_points, width=width, **common)
    if name == "mobilenetv3_small":
        return MobileNetV3Small(num_points, width=width, **common)
    if name == "resnet18":
        return ResNet18(num_points, width=width, **common)
    if name == "plain_cnn":
        return PlainCNN(num_points, **common)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
