"""ULMFiT's learning rates on their own: the classifier of the ablation's fine-tuned step (lm.classifier's
settings without gradual unfreezing) trained with discriminative rates and the slanted triangular schedule
(`lm.rates`), against the same classifier at one constant rate."""

from __future__ import annotations

import dataclasses
from typing import Any

from rnnlab.models.awd import ConcatPoolingClassifier
from rnnlab.studies.pretraining.ulmfit import (
    AWDClassifierConfig,
    build_awd_classifier,
    trainable_groups,
)
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
from rnnlab.training.rates import LayerRates, RatesConfig, steps_per_epoch
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import Tracker


def train_with_rates(lm: Checkpoint, splits: dict[str, EncodedSplit], classes: list[str], cfg: AWDClassifierConfig,
                     rates: RatesConfig, seed: int, tracker: Tracker,
                     state: RunState | None = None) -> tuple[ConcatPoolingClassifier, TrainResult, dict[str, Any]]:
    """`tasks.ulmfit.train_awd_classifier` (without gradual unfreezing) with `rates` on its layer groups."""
    if cfg.gradual_unfreezing:
        raise ValueError("the rates ablation compares rates without gradual unfreezing (lm.classifier's with it "
                         "is the ablation's last row)")
    set_seed(seed)
    model = build_awd_classifier(lm, cfg, len(classes))
    device, trainer = resolve_device(cfg.trainer.device), dataclasses.replace(cfg.trainer, lr=rates.lr)
    objective = ClassificationObjective(splits["train"], splits["val"], trainer, len(classes), seed, device)
    optimization = Optimization(trainer.lr, trainer.weight_decay, trainer.clip_grad_norm, trainer.autocast)
    total = trainer.epochs * steps_per_epoch(splits["train"].lengths, trainer.batch_size, trainer.bucket_by_length,
                                             seed)
    with LayerRates(trainable_groups(model, cfg), rates.decay, total, rates.schedule, rates.cut_frac, rates.ratio):
        result = train(model, objective, optimization, device, tracker, patience=trainer.patience, state=state)
    logits = predict_logits(model, splits["test"], trainer.batch_size * 4, next(model.parameters()).device)
    return model, result, score(splits["test"].labels.tolist(), logits.argmax(1).tolist(), classes)
