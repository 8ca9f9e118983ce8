"""Landmark losses on crop-normalised coordinates. Errors are measured in crop pixels
(times the input size), so Wing loss's w and epsilon keep their paper meaning."""

from __future__ import annotations

import math

import torch

LOSS_NAMES = ("wing", "l1", "mse")


def wing_loss(pred: torch.Tensor, target: torch.Tensor, w: float = 10.0, epsilon: float = 2.0) -> torch.Tensor:
    """Wing loss (Feng et al., CVPR 2018): log-shaped near zero, L1 far away."""
    x = (pred - target).abs()
    c = w - w * math.log(1 + w / epsilon)
    return torch.where(x < w, w * torch.log1p(x / epsilon), x - c).mean()


def landmark_loss(name: str, pred: torch.Tensor, target: torch.Tensor, input_size: int) -> torch.Tensor:
    pred, target = pred * input_size, target * input_size
    if name == "wing":
        return wing_loss(pred, target)
    if name == "l1":
        return (pred - target).abs().mean()
    if name == "mse":
        return ((pred - target) ** 2).mean()
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSS_NAMES)}")
