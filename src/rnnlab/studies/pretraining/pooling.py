"""Concat pooling on its own (ULMFiT's ablation): the fine-tuned encoder under the same head reading the last real
step's output alone, against `tasks.ulmfit`'s [last, max, mean]; everything else as in lm.classifier."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from rnnlab.models.awd import AWDEncoder
from rnnlab.models.classifier import pool_last
from rnnlab.studies.pretraining.ulmfit import AWDClassifierConfig, build_awd_classifier
from rnnlab.text.batching import EncodedSplit
from rnnlab.training.checkpoint import Checkpoint
from rnnlab.training.classification import ClassificationObjective, predict_logits
from rnnlab.training.loop import (
    Optimization,
    TrainResult,
    resolve_device,
    set_seed,
    train,
)
from rnnlab.training.metrics import score
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import Tracker


class LastStateClassifier(nn.Module):
    """ConcatPoolingClassifier's head (layer norm, dropout, hidden layer) over the last real step's output alone."""

    def __init__(self, encoder: AWDEncoder, num_classes: int, head_size: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        width = encoder.output_size
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Dropout(dropout), nn.Linear(width, head_size), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(head_size, num_classes))

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        out, _ = self.encoder(tokens)  # (B, T, H)
        return self.head(pool_last(out, lengths.to(out.device), 1))


def train_last_state(lm: Checkpoint, splits: dict[str, EncodedSplit], classes: list[str], cfg: AWDClassifierConfig,
                     seed: int, tracker: Tracker,
                     state: RunState | None = None) -> tuple[LastStateClassifier, TrainResult, dict[str, Any]]:
    """`tasks.ulmfit.train_awd_classifier` (without gradual unfreezing) with the last-state head."""
    if cfg.gradual_unfreezing:
        raise ValueError("the pooling ablation compares heads without gradual unfreezing (lm.classifier's with it "
                         "is the ablation's last row)")
    set_seed(seed)
    encoder = build_awd_classifier(lm, cfg, len(classes)).encoder  # the language model's weights, embedding frozen
    model = LastStateClassifier(encoder, len(classes), cfg.head_size, cfg.head_dropout)
    device, trainer = resolve_device(cfg.trainer.device), cfg.trainer
    objective = ClassificationObjective(splits["train"], splits["val"], trainer, len(classes), seed, device)
    optimization = Optimization(trainer.lr, trainer.weight_decay, trainer.clip_grad_norm, trainer.autocast)
    result = train(model, objective, optimization, device, tracker, patience=trainer.patience, state=state)
    logits = predict_logits(model, splits["test"], trainer.batch_size * 4, next(model.parameters()).device)
    return model, result, score(splits["test"].labels.tolist(), logits.argmax(1).tolist(), classes)
