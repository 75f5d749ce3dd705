"""Classifiers in the one loop: epochs of (bucketed) batches, class-weighted cross-entropy, macro-F1 on validation."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from rnnlab.config import ModelConfig, TrainerConfig
from rnnlab.models.classifier import build_model, count_parameters
from rnnlab.models.embeddings import EMBEDDINGS
from rnnlab.params import flatten
from rnnlab.text.batching import (
    EncodedSplit,
    bucketed_batches,
    iterate,
    ordered_batches,
    shuffled_batches,
)
from rnnlab.training.loop import (
    Optimization,
    TrainResult,
    resolve_device,
    set_seed,
    to_device,
    train,
)
from rnnlab.training.metrics import macro_f1
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import Tracker


def class_weights(labels: Tensor, n_classes: int) -> Tensor:
    """Inverse-frequency weights, mean 1 over the classes."""
    counts = torch.bincount(labels, minlength=n_classes).float().clamp(min=1)
    return counts.sum() / (n_classes * counts)


def _to(batch: tuple[Tensor, ...], device: torch.device) -> tuple[Tensor, ...]:
    tokens, lengths, labels = batch
    # lengths stay on the CPU: pack_padded_sequence wants them there
    return to_device(tokens, device), lengths, to_device(labels, device)


def shard_batches(batches: list[Tensor], shard: tuple[int, int]) -> list[Tensor]:
    """Worker `rank`'s share of an epoch's batches, for `shard` = (rank, world): every world-th from its rank.

    The epoch is cut to a multiple of `world` first, so that every worker takes the same number of
    steps (DistributedDataParallel all-reduces at each; one worker with an extra step would wait forever).
    """
    rank, world = shard
    if world == 1:
        return batches
    return batches[rank : len(batches) - len(batches) % world : world]


@torch.no_grad()
def predict_logits(model: nn.Module, split: EncodedSplit, batch_size: int, device: torch.device | str) -> Tensor:
    """(N, C) logits for every row of `split`, in the split's order."""
    model.eval()
    batches = ordered_batches(split.lengths, batch_size)
    outputs = [model(*_to(split.batch(index), torch.device(device))[:2]).float().cpu() for index in batches]  # (B, C)
    logits = torch.empty(len(split), outputs[0].shape[1])
    logits[torch.cat(batches)] = torch.cat(outputs)
    return logits


def model_classes(model: nn.Module) -> int:
    """Number of classes of a classifier: the width of its last linear layer."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features


class ClassificationObjective:
    """Epochs over a labelled split; the best epoch is the one with the highest validation macro-F1.

    The loss sums over a batch and is divided by the nominal `batch_size` rather than by the batch's own
    size: a sequence weighs the same in whichever batch it lands, so a bucketed batch of 4x as many
    short texts counts as much as 4 ordinary batches. (Averaging per batch gave each short text a
    quarter of a long text's weight and cost bucketing 0.03 macro-F1.)
    """

    position, unit, monitor, higher_is_better = "epoch", "sequences", "val_macro_f1", True

    def __init__(self, train: EncodedSplit, val: EncodedSplit, cfg: TrainerConfig, n_classes: int, seed: int,
                 device: torch.device, shard: tuple[int, int] = (0, 1)) -> None:
        self.train, self.val, self.cfg, self.device, self.shard = train, val, cfg, device, shard
        self.weight = class_weights(train.labels, n_classes) if cfg.class_weight == "balanced" else None
        weight = None if self.weight is None else self.weight.to(device)
        self.loss_fn = nn.CrossEntropyLoss(weight=weight, reduction="sum")
        self.generator = torch.Generator().manual_seed(seed)
        self.epochs_done = 0

    def rounds(self) -> Iterator[tuple[int, Iterable[Any]]]:
        for epoch in range(self.epochs_done + 1, self.cfg.epochs + 1):
            self.epochs_done = epoch
            batches = (bucketed_batches(self.train.lengths, self.cfg.batch_size, self.generator)
                       if self.cfg.bucket_by_length else
                       shuffled_batches(len(self.train), self.cfg.batch_size, self.generator))
            batches = shard_batches(batches, self.shard)  # every worker drew the same list: each takes its share
            yield epoch, tqdm(iterate(self.train, batches, not self.cfg.pad_to_max_len), total=len(batches),
                              desc=f"epoch {epoch}", leave=False, mininterval=1.0)

    def state_dict(self) -> dict[str, Any]:
        return {"epochs_done": self.epochs_done, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epochs_done = state["epochs_done"]
        self.generator.set_state(state["generator"])

    def loss(self, model: nn.Module, batch: tuple[Tensor, ...]) -> tuple[Tensor, int, float]:
        tokens, lengths, labels = _to(batch, self.device)
        return self.loss_fn(model(tokens, lengths), labels), len(labels), self.cfg.batch_size

    def validate(self, model: nn.Module) -> dict[str, float]:
        """Validation loss (with the training class weights), accuracy and macro-F1."""
        logits = predict_logits(model, self.val, self.cfg.batch_size * 4, self.device)
        pred = logits.argmax(1)
        labels = self.val.labels
        return {
            "val_loss": float(nn.functional.cross_entropy(logits, labels, weight=self.weight)),
            "val_accuracy": float((pred == labels).float().mean()),
            "val_macro_f1": macro_f1(labels.tolist(), pred.tolist(), logits.shape[1]),
        }


def fit(model: nn.Module, train_split: EncodedSplit, val: EncodedSplit, cfg: TrainerConfig, tracker: Tracker,
        seed: int, state: RunState | None = None, shard: tuple[int, int] = (0, 1)) -> TrainResult:
    """Train a classifier with early stopping on validation macro-F1; the best epoch's weights are kept.

    `shard` = (rank, world): this worker's share of every epoch when `world` workers train together.
    """
    device = resolve_device(cfg.device)
    objective = ClassificationObjective(train_split, val, cfg, model_classes(model), seed, device, shard)
    optimization = Optimization(cfg.lr, cfg.weight_decay, cfg.clip_grad_norm, cfg.autocast)
    return train(model, objective, optimization, device, tracker, patience=cfg.patience, state=state)


def train_classifier(
    model_cfg: ModelConfig, trainer: TrainerConfig, vocab_itos: list[str], splits: dict[str, EncodedSplit],
    n_classes: int, tracker: Tracker, seed: int, state: RunState | None = None,
) -> tuple[nn.Module, TrainResult]:
    """Seed, build (with pretrained vectors when the config asks), log the configs and fit one classifier."""
    model = build_classifier(model_cfg, trainer, vocab_itos, n_classes, tracker, seed)
    return model, fit(model, splits["train"], splits["val"], trainer, tracker, seed, state)


def build_classifier(model_cfg: ModelConfig, trainer: TrainerConfig, vocab_itos: list[str], n_classes: int,
                     tracker: Tracker, seed: int) -> nn.Module:
    """Seed and build a classifier (with pretrained vectors when the config asks); log the configs."""
    set_seed(seed)
    pretrained = None
    if (source := EMBEDDINGS[model_cfg.embeddings]) is not None:
        pretrained, coverage = source(vocab_itos, model_cfg.embedding_dim, seed)
        tracker.log_metrics({f"{model_cfg.embeddings}_coverage": coverage})
    model = build_model(model_cfg, len(vocab_itos), n_classes, pretrained)
    tracker.log_params({"seed": seed, "n_parameters": count_parameters(model),
                        **flatten(trainer, "trainer."), **flatten(model_cfg, "model.")})
    return model
