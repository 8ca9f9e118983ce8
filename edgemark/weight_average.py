"""Stochastic weight averaging (Izmailov et al., "Averaging Weights Leads to Wider Optima
and Better Generalization", UAI 2018), with torch's own ``torch.optim.swa_utils``.

From the recipe's ``swa_start`` epoch on, the learning rate holds at ``swa_lr`` and the
weights at the end of each epoch join an equal-weight running average. BatchNorm's
statistics of averaged weights are not the average of the statistics, so before the
average is validated or saved they are measured again on the training crops
(``update_bn``), in a seeded order so that a resumed run measures the same.

The average is what training validates and writes as ``model`` in ``best.pt`` and
``last.pt``; the weights that keep training and the average's epoch count ride along as
``swa`` for ``--resume``.
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, update_bn
from torch.utils.data import DataLoader


def swa_lr_factor(step: int, steps_per_epoch: int, swa_start: int, peak_lr: float, swa_lr: float) -> float | None:
    """The learning-rate factor (of the peak) from ``swa_start`` on; None before it or when off."""
    if swa_start <= 0 or step < (swa_start - 1) * steps_per_epoch:
        return None
    return swa_lr / peak_lr


class WeightAverage:
    """An equal-weight average of a model's weights, one sample per epoch."""

    def __init__(self, model: torch.nn.Module):
        self.averaged = AveragedModel(model, use_buffers=False)

    @property
    def count(self) -> int:
        return int(self.averaged.n_averaged)

    def add(self, model: torch.nn.Module) -> None:
        self.averaged.update_parameters(model)

    def model_with_bn(self, train_set, batch_size: int, seed: int) -> torch.nn.Module:
        """The averaged network, its BatchNorm statistics measured on the training crops."""
        order = torch.Generator().manual_seed(seed)
        loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=order, num_workers=0)
        rng = torch.get_rng_state()  # the measurement must not move training's random stream
        update_bn(loader, self.averaged)
        torch.set_rng_state(rng)
        self.averaged.eval()
        return self.averaged.module

    def restore(self, average: dict, count: int) -> None:
        """Continue an average of ``count`` epochs whose weights are ``average`` (a resumed run)."""
        self.averaged.module.load_state_dict(average)
        self.averaged.n_averaged.fill_(int(count))
