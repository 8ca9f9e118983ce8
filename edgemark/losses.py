"""Landmark losses on crop-normalised coordinates. Errors are measured in crop pixels
(times the input size), so Wing loss's w and epsilon keep their paper meaning."""

from __future__ import annotations

import math

import torch

LOSS_NAMES = ("wing", "l1", "mse")


def wing_loss(pred: torch.Tensor, target: torch.Tensor, w: float = 10.0, epsilon: float = 2.0) -> torch.Tensor:
    """Wing loss (Feng et al., CVPR 2018): log-shaped near zero, L1 far away (per element)."""
    x = (pred - target).abs()
    c = w - w * math.log(1 + w / epsilon)
    return torch.where(x < w, w * torch.log1p(x / epsilon), x - c)


def landmark_loss(name: str, pred: torch.Tensor, target: torch.Tensor, input_size: int,
                  point_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean loss over faces, points and coordinates; ``point_weights`` (K,), mean 1, weighs
    the points (e.g. human labels above a teacher's)."""
    pred, target = pred * input_size, target * input_size
    if name == "wing":
        per = wing_loss(pred, target)
    elif name == "l1":
        per = (pred - target).abs()
    elif name == "mse":
        per = (pred - target) ** 2
    else:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSS_NAMES)}")
    if point_weights is not None:
        per = per * point_weights.view(1, -1, 1)
    return per.mean()


def point_weights(scheme, labelled_weight: float) -> torch.Tensor | None:
    """Per-point loss weights (mean 1) giving each of a scheme's human-labelled points
    ``labelled_weight`` times a teacher point's weight; None when all points are alike."""
    if not scheme.labelled or labelled_weight == 1.0:
        return None
    w = torch.ones(scheme.num_points)
    w[list(scheme.label_points)] = labelled_weight
    return w / w.mean()
