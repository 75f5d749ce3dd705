"""Featurize: vocabulary from the training split and encoded tensors for every split."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import torch

from rnnlab.config import FeaturizeConfig
from rnnlab.data.datasets import SPLITS, class_names
from rnnlab.data.files import atomic_path
from rnnlab.text.batching import EncodedSplit, encode_split
from rnnlab.text.vocab import Vocab, build_vocab


def featurize(frame: pd.DataFrame, cfg: FeaturizeConfig) -> tuple[Vocab, dict[str, EncodedSplit], list[str]]:
    """Build the vocabulary on train and encode train, val and test."""
    docs = frame["tokens"].str.split()
    classes = class_names(frame)
    label_ids = frame["label"].map({c: i for i, c in enumerate(classes)})
    train = frame["split"] == "train"
    vocab = build_vocab(docs[train], cfg.max_vocab, cfg.min_freq)
    splits = {
        name: encode_split(docs[frame["split"] == name].tolist(), label_ids[frame["split"] == name].tolist(), vocab, cfg.max_len)
        for name in SPLITS
    }
    return vocab, splits, classes


def save_features(path: str | Path, splits: dict[str, EncodedSplit], classes: list[str]) -> None:
    """One .pt file with every split's tensors and the class names."""
    payload = {"classes": classes, **{name: vars(split) for name, split in splits.items()}}
    buffer = io.BytesIO()  # a file name would end up inside the zip archive, and ours is a temporary one
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_features(path: str | Path) -> tuple[dict[str, EncodedSplit], list[str]]:
    """Read what `save_features` wrote."""
    payload = torch.load(path, weights_only=True)
    return {name: EncodedSplit(**payload[name]) for name in SPLITS}, payload["classes"]
