"""ULMFiT's last ablation row: a forward and a backward classifier per seed, and the average of the two.

The forward classifier reads the target's texts as the fine-tuned language model read its own; the backward one
reads each text's tokens in reverse order (`tasks.backward.reverse_texts`) on the backward fine-tuned model's
encoder. Both train with `lm.classifier` (ULMFiT trains its two directions alike), and the seed's bidirectional
classifier averages their softmax probabilities over the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from rnnlab.config import TextConfig
from rnnlab.params import from_dict
from rnnlab.studies.pretraining.backward import DIRECTION, reverse_texts
from rnnlab.text.batching import EncodedSplit
from rnnlab.training.checkpoint import Checkpoint, CheckpointError
from rnnlab.training.metrics import macro_f1, score

DIRECTIONS = ("forward", "backward")


def direction_of(lm: Checkpoint) -> str:
    """'backward' for a language model trained on reversed texts, else 'forward'."""
    return lm.meta.get(DIRECTION, "forward")


def check_direction(lm: Checkpoint, path: Path, expected: str) -> None:
    """Refuse a language model read in the other direction, naming its file."""
    if direction_of(lm) != expected:
        raise CheckpointError(f"{path}: a {direction_of(lm)} language model where a {expected} one is needed "
                              f"(meta {DIRECTION!r} is {lm.meta.get(DIRECTION)!r})")


def direction_frame(frame: pd.DataFrame, lm: Checkpoint) -> pd.DataFrame:
    """The prepared corpus as `lm` reads it: as it is for a forward model, each text reversed for a backward one."""
    if direction_of(lm) == "forward":
        return frame
    text = from_dict(TextConfig, lm.meta["text"], "the backward language model's text settings")
    return frame.assign(text=reverse_texts(frame["text"].tolist(), text))


def average_probabilities(logits: Sequence[Tensor]) -> Tensor:
    """(N, C) mean of the classifiers' softmax probabilities over the same N rows."""
    shapes = {tuple(x.shape) for x in logits}
    if len(shapes) != 1:
        raise ValueError(f"the classifiers' predictions do not cover the same rows: shapes {sorted(shapes)}")
    return torch.stack([x.float().softmax(1) for x in logits]).mean(0)


def averaged_row(seed: int, logits: Mapping[str, Mapping[str, Tensor]],
                 splits: Mapping[str, Mapping[str, EncodedSplit]], classes: list[str]) -> tuple[dict, dict[str, Any]]:
    """One seed's summary row (`studies.shared.summary`) for the average of the directions' classifiers, and its test
    scores. `logits[direction][split]` are a classifier's predictions on `splits[direction][split]`, whose labels
    must be the same in every direction (the same rows in the same order)."""
    predicted = {}
    for split in ("val", "test"):
        labels = [splits[d][split].labels for d in logits]
        if any(not torch.equal(labels[0], other) for other in labels[1:]):
            raise ValueError(f"the {split} split's labels differ between the directions: the rows are not aligned")
        predicted[split] = average_probabilities([logits[d][split] for d in logits]).argmax(1).tolist()
    first = next(iter(logits))
    val_labels, test_labels = (splits[first][s].labels.tolist() for s in ("val", "test"))
    test = score(test_labels, predicted["test"], classes)
    row = {"seed": seed, "val_macro_f1": macro_f1(val_labels, predicted["val"], len(classes)),
           "test_macro_f1": test["macro_f1"], "test_accuracy": test["accuracy"]}
    return row, test
