"""ULMFiT's fine-tuning recipe (Howard & Ruder, 2018) as three independent settings of a model split into layer
groups (embedding, each recurrent layer, the head): discriminative learning rates, the slanted triangular
schedule, and gradual unfreezing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import nn


def discriminative_groups(groups: Sequence[nn.Module], lr: float, decay: float) -> list[dict[str, Any]]:
    """Optimizer parameter groups: the last layer group at `lr`, each one before it `decay` times lower
    (ULMFiT: 2.6; 1 gives every group the same rate)."""
    if decay < 1:
        raise ValueError(f"the learning-rate decay per layer group must be at least 1, got {decay}")
    last = len(groups) - 1
    return [{"params": list(group.parameters()), "lr": lr / decay ** (last - i)} for i, group in enumerate(groups)]


def slanted_triangular(step: int, total: int, cut_frac: float = 0.1, ratio: float = 32.0) -> float:
    """The factor on the peak learning rate at optimizer step `step` (0-based) of `total`: a short linear rise
    over the first `cut_frac` of the steps from 1/`ratio` to 1, then a long linear decay back to 1/`ratio`."""
    if not 0 < cut_frac < 1 or total < 1:
        raise ValueError(f"need 0 < cut_frac < 1 and total >= 1, got cut_frac={cut_frac}, total={total}")
    cut = max(1, math.floor(total * cut_frac))
    rise = step / cut if step < cut else 1 - (step - cut) / max(1, total - cut)
    return (1 + max(0.0, rise) * (ratio - 1)) / ratio


def first_trainable(epoch: int, n_groups: int, gradual: bool) -> int:
    """Index of the first layer group that trains in `epoch` (1-based): with gradual unfreezing the last group
    alone in epoch 1 and one more group each epoch after; otherwise all of them from the start."""
    return max(0, n_groups - epoch) if gradual else 0


def freeze_before(groups: Sequence[nn.Module], first: int) -> None:
    """Stop the gradient of every parameter in `groups[:first]`; the rest train."""
    for i, group in enumerate(groups):
        for parameter in group.parameters():
            parameter.requires_grad_(i >= first)
