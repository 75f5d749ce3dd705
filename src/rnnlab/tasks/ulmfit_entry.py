"""ULMFiT's classifier in the main pipeline: an entry of `train_ulmfit` (`awd`), trained by stage
train_ulmfit@<name> on the fine-tuned language model's encoder, then scored by evaluate, registered and served
like `train`'s recurrent classifiers (one namespace of model names across the two sections).

It is a section of its own because a dvc.yaml foreach gives its stages one command and one list of inputs, and
this classifier reads the language model and raw text, not the featurized tensors. It trains with a trainer of
its own (its rate and batch are not the small classifiers'). Its checkpoint (kind `awd_classifier`) carries the
language model's architecture, text settings and vocabulary: it rebuilds and reads raw text without the LM's file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rnnlab.config import (
    SECTIONS, ConfigError, Dropout, ModelConfig, PositiveInt, TrainerConfig, flatten, load_section,
)
from rnnlab.models.awd import AWDEncoder, ConcatPoolingClassifier
from rnnlab.models.classifier import count_parameters
from rnnlab.tasks.pretraining import AWDConfig
from rnnlab.tasks.ulmfit import encode_target, train_awd_classifier
from rnnlab.training.checkpoint import KINDS, Checkpoint, ModelKind, load_checkpoint
from rnnlab.training.classification import predict_logits
from rnnlab.training.decision import Decision, fit_offsets
from rnnlab.training.loop import TrainResult
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import Tracker

KIND = "awd_classifier"


@dataclass(frozen=True)
class ULMFiTEntry:
    """`train_ulmfit.<name>`: lm.classifier's settings for one classifier (the pipeline's seed, one run)."""

    max_len: PositiveInt  # tokens read per text, xxbos included
    embedding_dropout: Dropout  # the encoder's dropouts while it classifies
    input_dropout: Dropout
    hidden_dropout: Dropout
    weight_dropout: Dropout
    head_size: PositiveInt
    head_dropout: Dropout
    freeze_embedding: bool  # keep the language model's word vectors as they are
    gradual_unfreezing: bool  # epoch 1 the head alone, then one more layer group each epoch
    decision: Decision  # argmax, or per-class offsets fitted on validation macro-F1 (`training.decision`)
    trainer: TrainerConfig  # its own: the recurrent classifiers share the `trainer` section


SECTIONS["train_ulmfit"] = dict[str, ULMFiTEntry]  # registered beside config.py's own sections
SECTIONS["train_ulmfit.*"] = ULMFiTEntry


def load_models(path: str | Path) -> dict[str, ModelConfig | ULMFiTEntry]:
    """Every classifier the pipeline trains: `train`'s recurrent ones and `train_ulmfit`'s, by name."""
    recurrent, ulmfit = load_section(path, "train"), load_section(path, "train_ulmfit")
    if both := sorted(set(recurrent) & set(ulmfit)):
        raise ConfigError(f"{path}: train_ulmfit.{both[0]}: the name of a `train` entry too (names are the "
                          "models' names: in metrics, the registry and `rnnlab predict`)")
    return recurrent | ulmfit


def training_stage(name: str, models: dict[str, ModelConfig | ULMFiTEntry]) -> str:
    """The dvc.yaml stage that trains model `name`."""
    return f"train_ulmfit@{name}" if isinstance(models[name], ULMFiTEntry) else f"train@{name}"


@dataclass(frozen=True)
class AWDClassifierModel:
    """What rebuilds a checkpoint of kind awd_classifier: the language model's architecture and the entry."""

    lm: AWDConfig
    entry: ULMFiTEntry


def build_shell(cfg: AWDClassifierModel, vocab_size: int, n_classes: int) -> ConcatPoolingClassifier:
    """The classifier's modules, untrained (the weights come from a checkpoint or the language model)."""
    m, e = cfg.lm, cfg.entry
    encoder = AWDEncoder(vocab_size, m.embedding_dim, m.hidden_size, m.num_layers, output_size=m.embedding_dim,
                         embedding_dropout=e.embedding_dropout, input_dropout=e.input_dropout,
                         hidden_dropout=e.hidden_dropout, weight_dropout=e.weight_dropout)
    return ConcatPoolingClassifier(encoder, n_classes, e.head_size, e.head_dropout)


KINDS[KIND] = ModelKind(AWDClassifierModel, build_shell)


def train_entry(name: str, entry: ULMFiTEntry, lm_path: Path, prepared: Path, seed: int, tracker: Tracker,
                state: RunState | None = None) -> tuple[Checkpoint, TrainResult]:
    """Train `entry` on the prepared corpus's splits, read as the language model reads text; its checkpoint."""
    lm = load_checkpoint(lm_path, kind="awd_lm")
    frame = pd.read_csv(prepared, dtype=str, keep_default_na=False)
    splits, classes = encode_target(frame, lm, entry.max_len)
    tracker.log_params({"seed": seed, **flatten(entry, "model."), **flatten(lm.config, "lm.")})
    model, result, _ = train_awd_classifier(lm, splits, classes, entry, seed, tracker, state)
    offsets = None
    if entry.decision == "macro_f1_offsets":
        val = splits["val"]
        offsets = fit_offsets(predict_logits(model, val, entry.trainer.batch_size * 4, next(model.parameters()).device),
                              val.labels)
        tracker.log_params({f"decision_offset.{c}": o for c, o in zip(classes, offsets)})
    meta = {
        "name": name, "best_epoch": result.best_position, "n_parameters": count_parameters(model),
        "val_macro_f1": result.best["val_macro_f1"], "history": result.history,
        # what `rnnlab predict` reads a raw text with: the language model's surface forms, after xxbos
        "preprocess": lm.meta["text"], "max_len": entry.max_len, "stopwords": [], "decision_offsets": offsets,
    }
    return Checkpoint(KIND, AWDClassifierModel(lm.config, entry), model.cpu(), lm.vocab, classes, meta), result

