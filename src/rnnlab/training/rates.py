"""Discriminative learning rates and the slanted triangular schedule (ULMFiT) on the one loop's optimizer.

The loop builds one Adam over every trainable parameter at one rate. Adam's moments never see the rate: its
update is the rate times a direction made from the gradients alone (weight decay included). Scaling a
parameter's update by f right after the step is therefore exactly the step Adam takes at f times the rate.
`LayerRates` does that for each layer group, with f = the group's discriminative factor times the schedule's
factor at this step; the loop, its optimizer state and its resuming stay as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch
from torch import nn
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from rnnlab.params import PositiveFloat, Range, Share
from rnnlab.text.batching import bucketed_batches
from rnnlab.training.finetune import discriminative_groups, slanted_triangular


@dataclass(frozen=True)
class RatesConfig:
    """How the learning rate varies over layer groups and steps; `lr` is the top group's peak rate."""

    label: str  # the row's name in reports/pretraining.md
    lr: PositiveFloat  # replaces the trainer's rate: the head's rate at the schedule's peak
    decay: Annotated[float, Range(low=1)]  # each layer group's rate is the one above it / decay (ULMFiT: 2.6)
    schedule: Literal["constant", "slanted_triangular"]
    cut_frac: Share  # slanted triangular: the share of the steps spent rising
    ratio: PositiveFloat  # slanted triangular: how much lower the rate starts and ends than its peak


class LayerRates:
    """While entered, scales the updates of the optimizer that trains exactly `groups`' parameters (any other
    optimizer is left alone): group i's by decay ** -(n - 1 - i) times the schedule's factor at this step."""

    def __init__(self, groups: Sequence[nn.Module], decay: float, total_steps: int,
                 schedule: str = "slanted_triangular", cut_frac: float = 0.1, ratio: float = 32.0) -> None:
        self.factor = {p: group["lr"] for group in discriminative_groups(groups, 1.0, decay) for p in group["params"]}
        self.anchor = next(iter(groups[-1].parameters()))  # the top group trains at every step: its step count
        self.total, self.schedule, self.cut_frac, self.ratio = total_steps, schedule, cut_frac, ratio
        if schedule == "slanted_triangular":
            slanted_triangular(0, total_steps, cut_frac, ratio)  # checks the settings now, not at the first step
        self.before: dict[nn.Parameter, torch.Tensor] = {}
        self.handles: list[Any] = []

    def __enter__(self) -> LayerRates:
        self.handles = [register_optimizer_step_pre_hook(self._keep), register_optimizer_step_post_hook(self._scale)]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles, self.before = [], {}

    def schedule_factor(self, step: int) -> float:
        """The schedule's factor on the rate at optimizer step `step` (0-based)."""
        if self.schedule == "constant":
            return 1.0
        return slanted_triangular(step, self.total, self.cut_frac, self.ratio)

    def _mine(self, optimizer: torch.optim.Optimizer) -> bool:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        return len(params) == len(self.factor) and all(p in self.factor for p in params)

    @torch.no_grad()
    def _keep(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._mine(optimizer):  # the parameters that will move: those with a gradient
            self.before = {p: p.detach().clone() for p in self.factor if p.grad is not None}

    @torch.no_grad()
    def _scale(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not self._mine(optimizer):
            return
        # the optimizer's own count (restored on resume), after this step: 1-based
        step = int(optimizer.state[self.anchor]["step"]) - 1
        at = self.schedule_factor(step)
        for p, old in self.before.items():
            p.copy_(torch.lerp(old, p, self.factor[p] * at))  # old + f * (new - old): the step at f times the rate
        self.before = {}


def steps_per_epoch(lengths: torch.Tensor, batch_size: int, bucketed: bool, seed: int) -> int:
    """About how many batches an epoch draws (bucketing varies it by a batch or so): the schedule's unit."""
    if not bucketed:
        return math.ceil(len(lengths) / batch_size)
    return len(bucketed_batches(lengths, batch_size, torch.Generator().manual_seed(seed)))
