"""The one checkpoint format: every model rnnlab trains is written and read here.

A checkpoint is a dict saved with `torch.save` (read back with `weights_only=True`): the format name
and version, the model's kind and config, its vocabulary or alphabet, its classes (or a conditional
model's conditions), task-specific `meta` (JSON-like: preprocessing, scores, history) and the weights.
What a killed training resumes from is not here: DVC deletes a stage's outputs before rerunning it,
so `rnnlab.training.resume` keeps that state in files of its own.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlab import UserError
from rnnlab.config import LMConfig, ModelConfig
from rnnlab.data.files import atomic_path
from rnnlab.models.classifier import build_model
from rnnlab.models.language import CharLM
from rnnlab.params import ConfigError, from_dict
from rnnlab.text.vocab import Vocab

FORMAT = "rnnlab-checkpoint"
VERSION = 1


@dataclass(frozen=True)
class ModelKind:
    """How to rebuild one kind of model: its config class and builder(config, vocab size, classes)."""

    config: type
    build: Callable[[Any, int, int], nn.Module]


# pretrained vectors are in the weights already: build a plain embedding, then load into it
CLASSIFIER = ModelKind(ModelConfig, lambda cfg, v, c: build_model(dataclasses.replace(cfg, embeddings="scratch"), v, c))
CHAR_LM = ModelKind(LMConfig, lambda cfg, v, c: CharLM(cfg, v, c))

# Every kind of checkpoint, and the `ModelKind` ("module:attribute") that rebuilds it, imported when one is read.
KINDS: dict[str, str] = {
    "classifier": "rnnlab.training.checkpoint:CLASSIFIER",
    "char_lm": "rnnlab.training.checkpoint:CHAR_LM",
    "attention_classifier": "rnnlab.training.attention:MODEL_KIND",
    "subword_classifier": "rnnlab.classifiers.ngram:MODEL_KIND",
    "awd_lm": "rnnlab.studies.pretraining.lm:MODEL_KIND",
    "tagger": "rnnlab.studies.tagger.tagger:MODEL_KIND",
    "lemmatizer": "rnnlab.studies.tagger.lemmatizer:MODEL_KIND",
}


def model_kind(kind: str) -> ModelKind:
    """How to rebuild a checkpoint of `kind` (one of KINDS)."""
    module, _, attribute = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), attribute)


class CheckpointError(UserError, ValueError):
    """A checkpoint file is missing, damaged, foreign, too new or of another kind."""


@dataclass
class Checkpoint:
    kind: str
    config: Any
    model: nn.Module
    vocab: Vocab
    classes: list[str]  # class names, or a conditional model's conditions; empty for neither
    meta: dict[str, Any]


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    """Write a checkpoint atomically; the same checkpoint always gives the same bytes."""
    if ckpt.kind not in KINDS:
        raise ValueError(f"unknown model kind {ckpt.kind!r} (known: {', '.join(KINDS)})")
    payload = {
        "format": FORMAT, "version": VERSION, "kind": ckpt.kind, "config": dataclasses.asdict(ckpt.config),
        "vocab": list(ckpt.vocab.itos), "classes": list(ckpt.classes), "meta": ckpt.meta,
        "weights": {k: v.detach().cpu() for k, v in ckpt.model.state_dict().items()},
    }
    buffer = io.BytesIO()  # a file name would end up inside the zip archive, and ours is a temporary one
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def read_payload(path: str | Path) -> dict[str, Any]:
    """A checkpoint's raw dict, with clear errors for a missing, damaged, foreign or too-new file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, TypeError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an rnnlab checkpoint")
    if not isinstance(payload.get("version"), int) or payload["version"] > VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {payload.get('version')!r} is newer than this "
                              f"rnnlab reads ({VERSION}); update rnnlab")
    return payload


def load_checkpoint(path: str | Path, kind: str | None = None, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model of a checkpoint, in eval mode; `kind` rejects a checkpoint of another kind."""
    payload = read_payload(path)
    if kind is not None and payload["kind"] != kind:
        raise CheckpointError(f"{path}: a {payload['kind']} checkpoint, not a {kind}")
    if payload["kind"] not in KINDS:
        raise CheckpointError(f"{path}: unknown model kind {payload['kind']!r}")
    spec = model_kind(payload["kind"])
    try:
        config = from_dict(spec.config, payload["config"], where=f"{path}: config")
    except ConfigError as err:
        raise CheckpointError(str(err)) from err
    vocab = Vocab(tuple(payload["vocab"]))
    model = spec.build(config, len(vocab), len(payload["classes"]))
    try:
        model.load_state_dict(payload["weights"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the model its config describes ({err})") from err
    model.to(device).eval()
    return Checkpoint(payload["kind"], config, model, vocab, list(payload["classes"]), payload["meta"])
