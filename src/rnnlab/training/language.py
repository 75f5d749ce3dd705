"""Language models in the one loop: steps over batches of characters, loss per predicted character."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.config import LMTrainerConfig
from rnnlab.models.language import CharLM, State
from rnnlab.training.loop import (
    Optimization,
    TrainResult,
    resolve_device,
    to_device,
    train,
)
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import Tracker

IGNORE = -100  # target id that the loss skips (padding after a name's end)


@dataclass
class LMBatch:
    inputs: Tensor  # (B, T) ids
    targets: Tensor  # (B, T) ids, IGNORE where nothing is predicted
    carry: bool  # rows continue the previous batch's rows: keep (detached) state
    condition: Tensor | None = None  # (B,) condition ids, e.g. languages


def stream_batches(ids: Tensor, batch_size: int, seq_len: int) -> list[LMBatch]:
    """Cut a 1-D stream into `batch_size` contiguous rows, then into windows of `seq_len` steps.

    Row b of batch k+1 continues where row b of batch k stopped; targets are inputs shifted by one.
    """
    rows = (len(ids) - 1) // batch_size
    if rows < 1:
        raise ValueError(f"a stream of {len(ids)} characters is too short for {batch_size} rows")
    inputs = ids[: rows * batch_size].view(batch_size, rows)  # (B, R): row b starts at b * R
    targets = ids[1 : rows * batch_size + 1].view(batch_size, rows)  # (B, R)
    return [LMBatch(inputs[:, s : s + seq_len], targets[:, s : s + seq_len], carry=s > 0)
            for s in range(0, rows, seq_len)]


def stream_epochs(ids: Tensor, batch_size: int, seq_len: int, generator: torch.Generator) -> Iterator[LMBatch]:
    """Endless passes over the stream, each from a random offset so window edges move between passes."""
    while True:
        offset = int(torch.randint(seq_len, (1,), generator=generator))
        yield from stream_batches(ids[offset:], batch_size, seq_len)


def _step(model: CharLM, batch: LMBatch, state: State, device: torch.device) -> tuple[Tensor, int, State]:
    """Summed loss, number of predicted characters, next state."""
    state = tuple(s.detach() for s in state) if batch.carry and state is not None else None  # truncated BPTT
    condition = None if batch.condition is None else to_device(batch.condition, device)
    logits, state = model(to_device(batch.inputs, device), state, condition)  # (B, T, V)
    targets = to_device(batch.targets, device).flatten()  # (B*T,)
    loss = F.cross_entropy(logits.flatten(0, 1), targets, ignore_index=IGNORE, reduction="sum")
    return loss, int((batch.targets != IGNORE).sum()), state  # counted on the host: no wait for the GPU


@torch.no_grad()
def evaluate_lm(model: CharLM, batches: Sequence[LMBatch], device: torch.device) -> float:
    """Mean loss per predicted character, in nats; state carried as in training."""
    model.eval()
    total, count, state = 0.0, 0, None
    for batch in batches:
        loss, n, state = _step(model, batch, state, device)
        total, count = total + float(loss), count + n
    return total / max(count, 1)


class LanguageModelObjective:
    """`steps` batches from an endless iterator, validated every `eval_every` steps; the lowest loss wins."""

    position, unit, monitor, higher_is_better = "step", "characters", "val_loss", False

    def __init__(self, batches: Iterator[LMBatch], val: Sequence[LMBatch], steps: int, eval_every: int,
                 device: torch.device) -> None:
        self.batches, self.val, self.steps, self.eval_every, self.device = batches, val, steps, eval_every, device
        self.state: State = None  # carried from batch to batch while `carry` says the rows continue
        self.done = 0  # steps up to the end of the current round

    def rounds(self) -> Iterator[tuple[int, Iterable[LMBatch]]]:
        while self.done < self.steps:
            start, self.done = self.done, min(self.done + self.eval_every, self.steps)
            yield self.done, itertools.islice(self.batches, self.done - start)

    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done, "carry": None if self.state is None else [s.cpu() for s in self.state]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replay the batch iterator to where the state was saved (it draws from its own seeded generator)."""
        for _ in itertools.islice(self.batches, state["done"]):
            pass
        self.done = state["done"]
        self.state = None if state["carry"] is None else tuple(s.to(self.device) for s in state["carry"])

    def loss(self, model: CharLM, batch: LMBatch) -> tuple[Tensor, int, int]:
        loss, n, self.state = _step(model, batch, self.state, self.device)
        return loss, n, max(n, 1)

    def validate(self, model: CharLM) -> dict[str, float]:
        val_loss = evaluate_lm(model, self.val, self.device)
        return {"val_loss": val_loss, "val_bpc": val_loss / math.log(2)}


def fit_language_model(model: CharLM, batches: Iterator[LMBatch], val: Sequence[LMBatch], cfg: LMTrainerConfig,
                       tracker: Tracker, state: RunState | None = None) -> TrainResult:
    """Adam with gradient clipping for `cfg.steps` batches; the weights with the best validation loss win."""
    device = resolve_device(cfg.device)
    objective = LanguageModelObjective(batches, val, cfg.steps, cfg.eval_every, device)
    optimization = Optimization(cfg.lr, 0.0, cfg.clip_grad_norm, cfg.autocast)
    return train(model, objective, optimization, device, tracker, state=state)
