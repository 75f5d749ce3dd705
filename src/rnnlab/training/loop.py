"""The one training loop: every model in rnnlab is trained by `train`.

What differs between tasks comes in as an `Objective`: the rounds of batches (an epoch, or
`eval_every` steps of a stream), the loss of a batch, and the validation scores after each round.
The loop owns the optimizer, gradient clipping, logging, keeping the best weights and stopping.
"""

from __future__ import annotations

import copy
import math
import random
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from rnnlab.process import TrainingDiverged
from rnnlab.training.resume import RunState
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

    def state_dict(self) -> dict[str, Any]:
        """Where the rounds stand (rounds done, generator states), for resuming."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the rounds from a `state_dict`."""


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
    state: RunState | None = None,
) -> TrainResult:
    """Adam over the objective's rounds; keeps the best validated weights, stops after `patience` rounds without gain.

    With `state`, training resumes from its saved round (if any) and saves itself after every round.
    A non-finite loss or gradient raises `TrainingDiverged` before the optimizer takes the step.
    """
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=optimization.lr, weight_decay=optimization.weight_decay)
    result = TrainResult(objective.position)
    start = 0
    if state is not None and state.saved is not None:
        start = _restore(state.saved, model, optimizer, objective, result)
        print(f"resuming after {objective.position} {result.history[-1][objective.position]}", file=sys.stderr)
    for index, (position, batches) in enumerate(objective.rounds(), start):
        began = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        done = result.history[-1][objective.position] if result.history and objective.position == "step" else 0
        for step, batch in enumerate(batches, 1):
            loss, n, divisor = objective.loss(model, batch)
            where = f"step {done + step}" if objective.position == "step" else f"epoch {position}, step {step}"
            total, count = total + _finite(loss.item(), "loss", where, optimization), count + n
            optimizer.zero_grad(set_to_none=True)
            (loss / divisor).backward()
            _finite(_clip(params, optimization.clip_grad_norm), "gradient norm", where, optimization)
            optimizer.step()
        seconds = time.perf_counter() - began
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
        if state is not None:
            state.save(_snapshot(model, optimizer, objective, result, tracker))
    model.load_state_dict(result.best_state)
    return result


def _clip(params: list[nn.Parameter], max_norm: float) -> float:
    """Clip the gradients to `max_norm` (0: leave them); their norm before clipping."""
    if max_norm > 0:
        return float(nn.utils.clip_grad_norm_(params, max_norm))
    return float(nn.utils.get_total_norm([p.grad for p in params if p.grad is not None]))


def _finite(value: float, what: str, where: str, optimization: Optimization) -> float:
    if not math.isfinite(value):
        causes = [f"the learning rate ({optimization.lr:g}) may be too high"]
        if optimization.clip_grad_norm <= 0:
            causes.append("gradient clipping is off (clip_grad_norm: 0)")
        raise TrainingDiverged(f"non-finite {what} ({value}) at {where}: {'; '.join(causes)}. "
                               "No model, history or metric was written from this run.")
    return value


def _snapshot(model: nn.Module, optimizer: torch.optim.Optimizer, objective: Objective, result: TrainResult,
              tracker: Tracker) -> dict[str, Any]:
    """Everything a resumed run needs to continue exactly as an uninterrupted one would."""
    return {
        "run_id": getattr(tracker, "run_id", None), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "objective": objective.state_dict(), "rng": rng_states(), "history": result.history,
        "timings": result.timings, "best_index": result.best_index, "best_state": result.best_state,
    }


def _restore(saved: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer, objective: Objective,
             result: TrainResult) -> int:
    """Load a snapshot; the index of the next round."""
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    objective.load_state_dict(saved["objective"])
    set_rng_states(saved["rng"])  # last: replaying the objective's batches must not move them
    result.history, result.timings = saved["history"], saved["timings"]
    result.best_index, result.best_state = saved["best_index"], saved["best_state"]
    return len(result.history)


def rng_states() -> dict[str, Any]:
    """Python's, NumPy's and torch's random states, as tensors and plain values (loadable with weights_only)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what `rng_states` returned."""
    random.setstate(states["python"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])


def _improves(score: float, result: TrainResult, objective: Objective) -> bool:
    if result.best_index < 0:
        return True
    best = result.best[objective.monitor]
    return score > best if objective.higher_is_better else score < best
