"""One training loop for every classifier: Adam, clipping, early stopping on validation macro-F1."""

from __future__ import annotations

import copy
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from rnnlab.batching import EncodedSplit, bucketed_batches, iterate, ordered_batches, shuffled_batches
from rnnlab.config import ModelConfig, TrainerConfig, flatten
from rnnlab.embeddings import pretrained_matrix
from rnnlab.metrics import macro_f1
from rnnlab.models import build_model, count_parameters
from rnnlab.tracking import Tracker


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


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_macro_f1: float
    seconds: float
    sequences_per_second: float


@dataclass
class FitResult:
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def best(self) -> EpochRecord:
        return self.history[self.best_epoch - 1]


def class_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights, mean 1 over the classes."""
    counts = torch.bincount(labels, minlength=n_classes).float().clamp(min=1)
    return counts.sum() / (n_classes * counts)


def _to(batch: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    tokens, lengths, labels = batch
    # lengths stay on the CPU: pack_padded_sequence wants them there
    return tokens.to(device, non_blocking=True), lengths, labels.to(device, non_blocking=True)


def train_epoch(
    model: nn.Module,
    split: EncodedSplit,
    batches: list[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    clip: float,
    device: torch.device,
    batch_size: int,
    desc: str = "train",
    trim: bool = True,
) -> float:
    """One pass over `batches`; returns the mean training loss per sequence.

    `loss_fn` sums over a batch, and the sum is divided by the nominal `batch_size` rather than by
    the batch's own size: a sequence weighs the same in whichever batch it lands, so a bucketed
    batch of 4x as many short texts counts as much as 4 ordinary batches. (Averaging per batch
    gave each short text a quarter of a long text's weight and cost bucketing 0.03 macro-F1.)
    """
    model.train()
    total, seen, start = 0.0, 0, time.perf_counter()
    bar = tqdm(iterate(split, batches, trim), total=len(batches), desc=desc, leave=False, mininterval=1.0)
    for batch in bar:
        tokens, lengths, labels = _to(batch, device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(tokens, lengths), labels)
        (loss / batch_size).backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item()
        seen += len(labels)
        bar.set_postfix(loss=f"{total / seen:.4f}", seq_s=f"{seen / (time.perf_counter() - start):.0f}", refresh=False)
    return total / max(seen, 1)


@torch.no_grad()
def predict_logits(model: nn.Module, split: EncodedSplit, batch_size: int, device: torch.device) -> torch.Tensor:
    """Logits for every row of `split`, in the split's order."""
    model.eval()
    batches = ordered_batches(split.lengths, batch_size)
    outputs = [model(*_to(split.batch(index), device)[:2]).float().cpu() for index in batches]  # (B, C) each
    logits = torch.empty(len(split), outputs[0].shape[1])
    logits[torch.cat(batches)] = torch.cat(outputs)
    return logits


def model_classes(model: nn.Module) -> int:
    """Number of classes of a classifier: the width of its last linear layer."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features


def validate(
    model: nn.Module, split: EncodedSplit, weight: torch.Tensor | None, batch_size: int, device: torch.device
) -> dict[str, float]:
    """Validation loss (with the training class weights), accuracy and macro-F1."""
    logits = predict_logits(model, split, batch_size, device)
    pred = logits.argmax(1)
    return {
        "loss": float(nn.functional.cross_entropy(logits, split.labels, weight=weight)),
        "accuracy": float((pred == split.labels).float().mean()),
        "macro_f1": macro_f1(split.labels.tolist(), pred.tolist(), logits.shape[1]),
    }


def fit(
    model: nn.Module,
    train: EncodedSplit,
    val: EncodedSplit,
    cfg: TrainerConfig,
    tracker: Tracker,
    seed: int,
) -> FitResult:
    """Train with early stopping on validation macro-F1; `best_state` holds the best weights."""
    device = resolve_device(cfg.device)
    model.to(device)
    n_classes = model_classes(model)
    weight = class_weights(train.labels, n_classes) if cfg.class_weight == "balanced" else None
    loss_fn = nn.CrossEntropyLoss(weight=None if weight is None else weight.to(device), reduction="sum")
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    generator = torch.Generator().manual_seed(seed)
    result = FitResult()
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        batches = (
            bucketed_batches(train.lengths, cfg.batch_size, generator)
            if cfg.bucket_by_length
            else shuffled_batches(len(train), cfg.batch_size, generator)
        )
        train_loss = train_epoch(
            model, train, batches, optimizer, loss_fn, cfg.clip_grad_norm, device, cfg.batch_size, f"epoch {epoch}",
            not cfg.pad_to_max_len,
        )
        seconds = time.perf_counter() - start
        scores = validate(model, val, weight, cfg.batch_size * 4, device)
        record = EpochRecord(epoch, train_loss, scores["loss"], scores["accuracy"], scores["macro_f1"], seconds, len(train) / seconds)
        result.history.append(record)
        tracker.log_metrics({k: v for k, v in asdict(record).items() if k != "epoch"}, step=epoch)
        if record.val_macro_f1 > (result.best.val_macro_f1 if result.best_epoch else -1.0):
            result.best_epoch = epoch
            result.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        elif epoch - result.best_epoch >= cfg.patience:
            break
    model.load_state_dict(result.best_state)
    return result


def history_rows(result: FitResult) -> list[dict[str, Any]]:
    """Per-epoch history as JSON-ready rows (a DVC plot)."""
    return [asdict(r) for r in result.history]


def train_classifier(
    model_cfg: ModelConfig, trainer: TrainerConfig, vocab_itos: list[str], splits: dict[str, EncodedSplit],
    n_classes: int, tracker: Tracker, seed: int,
) -> tuple[nn.Module, FitResult]:
    """Seed, build (with navec vectors when asked), log the configs and fit one classifier."""
    set_seed(seed)
    pretrained = None
    if model_cfg.embeddings == "navec":
        pretrained, coverage = pretrained_matrix(vocab_itos, model_cfg.embedding_dim, seed)
        tracker.log_metrics({"navec_coverage": coverage})
    model = build_model(model_cfg, len(vocab_itos), n_classes, pretrained)
    tracker.log_params({"seed": seed, "n_parameters": count_parameters(model),
                        **flatten(trainer, "trainer."), **flatten(model_cfg, "model.")})
    return model, fit(model, splits["train"], splits["val"], trainer, tracker, seed)
