"""Attention classifiers in the one loop: any `pooling: attention` model config (a `train.<name>` entry, the zoo's
attention runs) built by `build_attention_classifier`, fitted like every classifier and saved as checkpoints of
kind `attention_classifier` (a learned pooling: `build_model` alone cannot rebuild it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from rnnlab.config import ModelConfig, TrainerConfig
from rnnlab.models.attention import ATTENTION, build_attention_classifier
from rnnlab.models.classifier import TextClassifier, count_parameters
from rnnlab.models.embeddings import EMBEDDINGS
from rnnlab.params import flatten
from rnnlab.text.batching import EncodedSplit
from rnnlab.training.checkpoint import ModelKind
from rnnlab.training.classification import fit
from rnnlab.training.loop import TrainResult, set_seed
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import Tracker

KIND = "attention_classifier"
# pretrained vectors are in the weights already: build a plain embedding, then load into it
MODEL_KIND = ModelKind(ModelConfig, lambda cfg, v, c: build_attention_classifier(
    dataclasses.replace(cfg, embeddings="scratch"), v, c))
CLASSIFIER_KINDS = ("classifier", KIND)  # the checkpoints a sentiment model may be


def classifier_kind(cfg: ModelConfig) -> str:
    """The checkpoint kind of a classifier of `cfg`."""
    return KIND if cfg.pooling == ATTENTION else "classifier"


def train_attention(model_cfg: ModelConfig, trainer: TrainerConfig, itos: list[str], splits: Mapping[str, EncodedSplit],
                    n_classes: int, tracker: Tracker, seed: int,
                    state: RunState | None = None) -> tuple[TextClassifier, TrainResult]:
    """`classification.train_classifier` for a `pooling: attention` config: seed, build (pretrained vectors when
    the config asks), log the configs, fit."""
    set_seed(seed)
    pretrained = None
    if (source := EMBEDDINGS[model_cfg.embeddings]) is not None:
        pretrained, coverage = source(itos, model_cfg.embedding_dim, seed)
        tracker.log_metrics({f"{model_cfg.embeddings}_coverage": coverage})
    model = build_attention_classifier(model_cfg, len(itos), n_classes, pretrained)
    tracker.log_params({"seed": seed, "n_parameters": count_parameters(model),
                        **flatten(trainer, "trainer."), **flatten(model_cfg, "model.")})
    return model, fit(model, splits["train"], splits["val"], trainer, tracker, seed, state)
