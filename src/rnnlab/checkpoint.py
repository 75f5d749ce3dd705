"""Classifier checkpoints: weights plus everything needed to predict on raw text."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlab.config import ModelConfig, PreprocessConfig, from_dict
from rnnlab.files import atomic_path
from rnnlab.models import build_model
from rnnlab.vocab import Vocab


@dataclass
class Classifier:
    """A trained model with its vocabulary, classes and preprocessing settings."""

    model: nn.Module
    model_cfg: ModelConfig
    vocab: Vocab
    classes: list[str]
    preprocess: PreprocessConfig
    max_len: int
    meta: dict[str, Any]


def save_checkpoint(path: str | Path, clf: Classifier) -> None:
    """Write a checkpoint atomically; configs are stored as plain dicts."""
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in clf.model.state_dict().items()},
        "model_cfg": dataclasses.asdict(clf.model_cfg),
        "itos": list(clf.vocab.itos),
        "classes": clf.classes,
        "preprocess": dataclasses.asdict(clf.preprocess),
        "max_len": clf.max_len,
        "meta": clf.meta,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Classifier:
    """Rebuild the model from a checkpoint, in eval mode."""
    payload = torch.load(path, map_location=device, weights_only=True)
    where = str(path)
    model_cfg = from_dict(ModelConfig, payload["model_cfg"], where)
    vocab = Vocab(tuple(payload["itos"]))
    # navec vectors are in the state dict already: build a plain embedding, then load into it
    model = build_model(dataclasses.replace(model_cfg, embeddings="scratch"), len(vocab), len(payload["classes"]))
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    return Classifier(
        model, model_cfg, vocab, payload["classes"],
        from_dict(PreprocessConfig, payload["preprocess"], where), payload["max_len"], payload["meta"],
    )
