"""ULMFiT's classifier: the language model's encoder under a concat-pooling head, trained in the one loop.

The texts are read as the language model read its own (surface forms after `xxbos`, its vocabulary); the
encoder's weights come from the language model, its dropouts from the classifier's settings. With gradual
unfreezing (ULMFiT's), the head trains alone in the first epoch and one more layer group joins it each epoch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from torch import nn

from rnnlab.config import TextConfig, TrainerConfig
from rnnlab.models.awd import AWDEncoder, ConcatPoolingClassifier
from rnnlab.params import Dropout, NonNegativeInt, PositiveInt, from_dict
from rnnlab.studies.pretraining.lm import documents_tokens
from rnnlab.text.batching import EncodedSplit, encode_split
from rnnlab.training.checkpoint import Checkpoint
from rnnlab.training.classification import ClassificationObjective, predict_logits
from rnnlab.training.finetune import first_trainable, freeze_before
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


@dataclass(frozen=True)
class AWDClassifierConfig:
    seeds: tuple[NonNegativeInt, ...]  # one classifier per seed: the report gives their mean and spread
    max_len: PositiveInt  # tokens read per text, xxbos included
    embedding_dropout: Dropout  # the encoder's dropouts while it classifies (the language model's are not used)
    input_dropout: Dropout
    hidden_dropout: Dropout
    weight_dropout: Dropout
    head_size: PositiveInt
    head_dropout: Dropout
    freeze_embedding: bool  # keep the language model's word vectors (most of the encoder's weights) as they are
    gradual_unfreezing: bool  # epoch 1 trains the head alone, each later epoch one more layer group (from the top)
    trainer: TrainerConfig


def encode_target(frame: pd.DataFrame, lm: Checkpoint, max_len: int) -> tuple[dict[str, EncodedSplit], list[str]]:
    """The prepared corpus's train, val and test splits in the language model's tokens; classes sorted by name."""
    text = from_dict(TextConfig, lm.meta["text"], "the language model's text settings")
    classes = sorted(frame["label"].unique())
    index = {name: i for i, name in enumerate(classes)}
    splits = {}
    for split in ("train", "val", "test"):
        part = frame[frame["split"] == split]
        docs = documents_tokens(part["text"].tolist(), text)
        splits[split] = encode_split(docs, [index[label] for label in part["label"]], lm.vocab, max_len)
    return splits, classes


def build_awd_classifier(lm: Checkpoint, cfg: AWDClassifierConfig, n_classes: int) -> ConcatPoolingClassifier:
    """A classifier whose encoder holds the language model's encoder weights."""
    m = lm.config
    encoder = AWDEncoder(len(lm.vocab), m.embedding_dim, m.hidden_size, m.num_layers, output_size=m.embedding_dim,
                         embedding_dropout=cfg.embedding_dropout, input_dropout=cfg.input_dropout,
                         hidden_dropout=cfg.hidden_dropout, weight_dropout=cfg.weight_dropout)
    encoder.load_state_dict(lm.model.encoder.state_dict())
    encoder.embedding.weight.requires_grad_(not cfg.freeze_embedding)  # the loop optimises what requires a gradient
    return ConcatPoolingClassifier(encoder, n_classes, cfg.head_size, cfg.head_dropout)


class UnfreezingObjective(ClassificationObjective):
    """The classification objective that, before each epoch, stops the gradient of the layer groups that
    gradual unfreezing keeps frozen in it (the optimizer skips a parameter whose gradient stays None)."""

    def __init__(self, *args: Any, groups: list[nn.Module], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups = groups

    def rounds(self) -> Iterator[tuple[int, Iterable[Any]]]:
        for epoch, batches in super().rounds():
            freeze_before(self.groups, first_trainable(epoch, len(self.groups), gradual=True))
            yield epoch, batches


def trainable_groups(model: ConcatPoolingClassifier, cfg: AWDClassifierConfig) -> list[nn.Module]:
    """The layer groups that train, bottom to top: embedding (unless frozen), each recurrent layer, the head."""
    groups = model.layer_groups()
    return groups[1:] if cfg.freeze_embedding else groups


def train_awd_classifier(lm: Checkpoint, splits: dict[str, EncodedSplit], classes: list[str],
                         cfg: AWDClassifierConfig, seed: int, tracker: Tracker,
                         state: RunState | None = None) -> tuple[ConcatPoolingClassifier, TrainResult, dict[str, Any]]:
    """One seed's classifier, trained with early stopping on validation macro-F1, and its test scores."""
    set_seed(seed)
    model = build_awd_classifier(lm, cfg, len(classes))
    device, trainer = resolve_device(cfg.trainer.device), cfg.trainer
    if cfg.gradual_unfreezing:
        objective = UnfreezingObjective(splits["train"], splits["val"], trainer, len(classes), seed, device,
                                        groups=trainable_groups(model, cfg))
    else:
        objective = ClassificationObjective(splits["train"], splits["val"], trainer, len(classes), seed, device)
    optimization = Optimization(trainer.lr, trainer.weight_decay, trainer.clip_grad_norm, trainer.autocast)
    result = train(model, objective, optimization, device, tracker, patience=trainer.patience, state=state)
    logits = predict_logits(model, splits["test"], cfg.trainer.batch_size * 4, next(model.parameters()).device)
    test = score(splits["test"].labels.tolist(), logits.argmax(1).tolist(), classes)
    return model, result, test
