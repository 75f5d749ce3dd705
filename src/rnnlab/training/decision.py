"""Decision offsets: a classifier's per-class logit offsets fitted on validation for macro-F1.

Training with balanced class weights on posts chosen for their sentiment leaves a classifier that predicts the
rare classes more often than a random post holds them, and argmax is the decision rule for accuracy, not for
macro-F1. Adding an offset b_c to every log-probability of class c (p(c|x) exp(b_c), renormalised: a change of
the class priors) and choosing the offsets that maximise validation macro-F1 moves the decision thresholds
without touching the network. The offsets are a coordinate search over a fixed grid, the first class pinned at 0
(only differences matter), deterministic: on a tie the offset nearest 0 wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

Decision = Literal["argmax", "macro_f1_offsets"]  # a setting: the network's argmax, or offsets fitted on validation
GRID = torch.arange(-60, 61) * 0.05  # offsets tried for each class: -3 to 3 in steps of 0.05
ROUNDS = 10  # sweeps over the classes at most (a sweep that changes nothing ends the search)


def macro_f1(labels: Tensor, predicted: Tensor, n_classes: int) -> float:
    """scikit-learn's macro-F1 (a class never predicted nor present scores 0) of integer tensors."""
    confusion = torch.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes)
    confusion = confusion.reshape(n_classes, n_classes).double()
    true_positive = confusion.diag()
    denominator = confusion.sum(0) + confusion.sum(1)  # predicted + actual
    f1 = torch.where(denominator > 0, 2 * true_positive / denominator.clamp(min=1), torch.zeros_like(true_positive))
    return float(f1.mean())


def fit_offsets(logits: Tensor, labels: Sequence[int] | Tensor, grid: Tensor = GRID) -> list[float]:
    """Per-class offsets to add to `logits` (N, C) (or log-probabilities) that maximise macro-F1 on `labels`."""
    scores = torch.log_softmax(logits.double(), dim=1)
    labels = labels.long() if isinstance(labels, Tensor) else torch.tensor(list(labels), dtype=torch.long)
    n_classes = scores.shape[1]
    if len(labels) != len(scores):
        raise ValueError(f"{len(scores)} rows of logits but {len(labels)} labels")
    offsets = torch.zeros(n_classes, dtype=torch.double)
    order = grid.double()[grid.abs().argsort(stable=True)]  # nearest 0 first: the first best value wins ties
    best = macro_f1(labels, scores.argmax(1), n_classes)
    for _ in range(ROUNDS):
        changed = False
        for c in range(1, n_classes):
            for value in order:
                trial = offsets.clone()
                trial[c] = value
                f1 = macro_f1(labels, (scores + trial).argmax(1), n_classes)
                if f1 > best:
                    best, offsets, changed = f1, trial, True
        if not changed:
            break
    return [round(float(v), 2) for v in offsets]


def apply_offsets(logits: Tensor, offsets: Sequence[float] | None) -> Tensor:
    """Class probabilities after the offsets (softmax of the logits when there are none)."""
    if offsets is None:
        return torch.softmax(logits, dim=1)
    shift = torch.as_tensor(offsets, dtype=logits.dtype, device=logits.device)
    if shift.shape != logits.shape[1:]:
        raise ValueError(f"{len(offsets)} offsets for {logits.shape[1]} classes")
    return torch.softmax(torch.log_softmax(logits, dim=1) + shift, dim=1)
