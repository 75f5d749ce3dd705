"""The one training loop: every model in rnnlab is trained by `train`.

What differs between tasks comes in as an `Objective`: the rounds of batches (an epoch, or
`eval_every` steps of a stream), the loss of a batch, and the validation scores after each round.
The loop owns the optimizer, gradient clipping, logging, keeping the best weights and stopping.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
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


def to_device(tensor: Tensor, device: torch.device) -> Tensor:
    """`tensor` on `device`; to CUDA through page-locked memory, a copy the host does not wait for."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


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
    autocast: str = "off"  # bf16 | fp16 | off: mixed precision on CUDA (never on CPU)


AUTOCAST: dict[str, torch.dtype | None] = {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}


@dataclass
class Precision:
    """What a forward pass runs in: autocast's dtype (None: float32) and, for fp16, the gradient scaler."""

    device_type: str
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def precision_for(device: torch.device, setting: str) -> Precision:
    """The `autocast` setting on CUDA; on any other device float32, so CPU numerics never change."""
    if setting not in AUTOCAST:
        raise ValueError(f"autocast: {setting!r} is not one of {sorted(AUTOCAST)}")
    if device.type != "cuda" or AUTOCAST[setting] is None:
        return Precision(device.type)
    scaler = torch.amp.GradScaler(device.type) if setting == "fp16" else None  # bf16 has fp32's range: no scaling
    return Precision(device.type, AUTOCAST[setting], scaler)


class StepLedger:
    """Sums a round's loss in Python floats, checking each step's loss and gradient norm at once (one sync a step)."""

    def __init__(self, optimization: Optimization) -> None:
        self.optimization, self.total, self.count = optimization, 0.0, 0

    def add_loss(self, loss: Tensor, n: int, step: int, where: Callable[[int], str]) -> None:
        self.total += _finite(loss.item(), "loss", where(step), self.optimization)
        self.count += n

    def add_norm(self, norm: Tensor, step: int, where: Callable[[int], str]) -> None:
        _finite(float(norm), "gradient norm", where(step), self.optimization)

    def close(self, where: Callable[[int], str]) -> tuple[float, int]:
        return self.total, self.count


class RoundLedger:
    """Keeps a round's losses and gradient norms on their device; `close` checks them all with one host sync.

    A non-finite value is found at the round's end (the optimizer kept stepping after it), still before
    the round's history, state or best weights are recorded.
    """

    def __init__(self, optimization: Optimization, position: str) -> None:
        self.optimization, self.position, self.count = optimization, position, 0
        self.values: list[tuple[int, str, Tensor]] = []  # (step, "loss" or "gradient norm", 0-d tensor)

    def add_loss(self, loss: Tensor, n: int, step: int, where: Callable[[int], str]) -> None:
        self.values.append((step, "loss", loss.detach().float()))
        self.count += n

    def add_norm(self, norm: Tensor, step: int, where: Callable[[int], str]) -> None:
        self.values.append((step, "gradient norm", norm.detach().float()))

    def close(self, where: Callable[[int], str]) -> tuple[float, int]:
        if not self.values:
            return 0.0, 0
        host = torch.stack([value for _, _, value in self.values]).cpu().tolist()  # (2 * steps,): the one sync
        for (step, what, _), value in zip(self.values, host):
            _finite(value, what, f"{where(step)} (on CUDA the check runs once per {self.position}, at its end)",
                    self.optimization)
        return math.fsum(v for (_, what, _), v in zip(self.values, host) if what == "loss"), self.count


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
    A non-finite loss or gradient raises `TrainingDiverged`: on CPU before the optimizer takes the step; on
    CUDA, where a per-step check would stall the GPU, at the round's end, before anything of the round is kept.
    """
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=optimization.lr, weight_decay=optimization.weight_decay)
    result = TrainResult(objective.position)
    start = 0
    if state is not None and state.saved is not None:
        start = _restore(state.saved, model, optimizer, objective, result)
        print(f"resuming after {objective.position} {result.history[-1][objective.position]}", file=sys.stderr)
    precision = precision_for(device, optimization.autocast)
    for index, (position, batches) in enumerate(objective.rounds(), start):
        began = time.perf_counter()
        model.train()
        done = result.history[-1][objective.position] if result.history and objective.position == "step" else 0
        where = _where(objective.position, position, done)
        # CPU: every step checked with .item(), as always; CUDA: no host sync per step, one check per round
        ledger = StepLedger(optimization) if device.type == "cpu" else RoundLedger(optimization, objective.position)
        _run_round(model, objective, batches, optimizer, params, optimization, precision, ledger, where)
        total, count = ledger.close(where)  # raises TrainingDiverged before anything of this round is kept
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


def _run_round(model: nn.Module, objective: Objective, batches: Iterable[Any], optimizer: torch.optim.Optimizer,
               params: list[nn.Parameter], optimization: Optimization, precision: Precision,
               ledger: StepLedger | RoundLedger, where: Callable[[int], str]) -> None:
    """One round of optimizer steps; the ledger sums the loss and checks it and the gradient norm."""
    for step, batch in enumerate(batches, 1):
        with precision.autocast():  # forward and loss only: backward runs in the forward's dtypes
            loss, n, divisor = objective.loss(model, batch)
        ledger.add_loss(loss, n, step, where)
        optimizer.zero_grad(set_to_none=True)
        if precision.scaler is None:
            (loss / divisor).backward()
            ledger.add_norm(_clip(params, optimization.clip_grad_norm), step, where)
            optimizer.step()
        else:  # fp16: the scaler skips steps whose scaled gradients overflowed, so their norm is not checked
            precision.scaler.scale(loss / divisor).backward()
            precision.scaler.unscale_(optimizer)
            _clip(params, optimization.clip_grad_norm)
            precision.scaler.step(optimizer)
            precision.scaler.update()


def _where(position_name: str, position: int, done: int) -> Callable[[int], str]:
    """Names a step of this round in error messages: 'epoch 3, step 17' or 'step 1217'."""
    if position_name == "step":
        return lambda step: f"step {done + step}"
    return lambda step: f"epoch {position}, step {step}"


def _clip(params: list[nn.Parameter], max_norm: float) -> Tensor:
    """Clip the gradients to `max_norm` (0: leave them); their norm before clipping, on their device."""
    if max_norm > 0:
        return nn.utils.clip_grad_norm_(params, max_norm)
    return nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])


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
