"""The one training loop: every model in rnnlab is trained by `train`.

What differs between tasks comes in as an `Objective`: the rounds of batches (an epoch, or
`eval_every` steps of a stream), the loss of a batch, and the validation scores after each round.
The loop owns the optimizer, gradient clipping, logging, keeping the best weights and stopping.
"""

from __future__ import annotations

import copy
import random
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from rnnlab.training.tracking import Tracker


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """'auto' means CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Objective(Protocol):
    """What one task trains for."""

    position: str  # what a round ends at, for the history and MLflow's step: "epoch" or "step"
    unit: str  # what the loss counts: "sequences", "characters"
    monitor: str  # the validation score that picks the best weights
    higher_is_better: bool

    def rounds(self) -> Iterator[tuple[int, Iterable[Any]]]:
        """(position at the end of the round, the round's batches), until training is done."""

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, int, float | Tensor]:
        """The batch's summed loss, how many items it counts, and what to divide it by for the gradient."""

    def validate(self, model: nn.Module) -> dict[str, float]:
        """Validation scores, `monitor` among them."""


@dataclass(frozen=True)
class Optimization:
    lr: float
    weight_decay: float
    clip_grad_norm: float  # 0 = no clipping


@dataclass
class TrainResult:
    """Per-round history (scores only, reproducible) and timings (wall clock), and the best round."""

    position: str
    history: list[dict[str, float]] = field(default_factory=list)
    timings: list[dict[str, float]] = field(default_factory=list)
    best_index: int = -1
    best_state: dict[str, Tensor] = field(default_factory=dict)

    @property
    def best(self) -> dict[str, float]:
        """The history row of the round whose weights were kept."""
        return self.history[self.best_index]

    @property
    def best_position(self) -> int:
        return int(self.best[self.position])


def train(
    model: nn.Module,
    objective: Objective,
    optimization: Optimization,
    device: torch.device,
    tracker: Tracker,
    patience: int | None = None,
) -> TrainResult:
    """Adam over the objective's rounds; keeps the best validated weights, stops after `patience` rounds without gain."""
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=optimization.lr, weight_decay=optimization.weight_decay)
    result = TrainResult(objective.position)
    for index, (position, batches) in enumerate(objective.rounds()):
        start = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for batch in batches:
            loss, n, divisor = objective.loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            (loss / divisor).backward()
            if optimization.clip_grad_norm > 0:
                nn.utils.clip_grad_norm_(params, optimization.clip_grad_norm)
            optimizer.step()
            total, count = total + loss.item(), count + n
        seconds = time.perf_counter() - start
        record = {objective.position: position, "train_loss": total / max(count, 1), **objective.validate(model)}
        timing = {"seconds": seconds, f"{objective.unit}_per_second": count / seconds}
        result.history.append(record)
        result.timings.append({objective.position: position, **timing})
        tracker.log_metrics({k: v for k, v in record.items() if k != objective.position} | timing, step=position)
        print(f"{objective.position} {position}: " + ", ".join(f"{k} {v:.4f}" for k, v in record.items()
                                                                 if k != objective.position), file=sys.stderr)
        if _improves(record[objective.monitor], result, objective):
            result.best_index = index
            result.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        elif patience is not None and index - result.best_index >= patience:
            break
    model.load_state_dict(result.best_state)
    return result


def _improves(score: float, result: TrainResult, objective: Objective) -> bool:
    if result.best_index < 0:
        return True
    best = result.best[objective.monitor]
    return score > best if objective.higher_is_better else score < best
