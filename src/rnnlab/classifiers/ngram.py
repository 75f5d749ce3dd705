"""The character n-gram classifier in the main pipeline: an entry of `train_subword` (`lstm_subword`), a `train`
entry's classifier whose tokens also carry their character n-grams' vectors (`models.subword`, the zoo study
`subword`), trained by stage train_subword@<name>, then scored by evaluate, registered and served like the others.

Its checkpoint (kind `subword_classifier`) keeps the vocabulary's types and the n-gram list. A text to classify
brings its own types: each new one gets its n-grams' rows (and navec's vector when the entry asks), as fastText
builds an unseen word's vector, so `rnnlab predict` reads a misspelt or new word by what it is made of.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd
import torch
from torch import nn

from rnnlab.config import ModelConfig, TrainerConfig
from rnnlab.models.embeddings import load_navec
from rnnlab.models.subword import SubwordEmbedding, ngram_index, ngram_vocab, type_vocab
from rnnlab.params import ConfigError, PositiveInt, load_section
from rnnlab.text.batching import EncodedSplit, encode_split
from rnnlab.text.vocab import Vocab
from rnnlab.training.checkpoint import CLASSIFIER, ModelKind
from rnnlab.training.classification import build_classifier, fit, predict_logits
from rnnlab.training.decision import Decision, fit_offsets
from rnnlab.training.loop import TrainResult
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import Tracker

KIND = "subword_classifier"


class NgramSettings(Protocol):
    """What the n-gram encoding reads: a `train_subword` entry, or the zoo study's `subword` section."""

    model: str  # the `train` entry whose classifier gains the n-grams
    ngram_low: int
    ngram_high: int
    min_count: int  # an n-gram gets a vector when at least this many training tokens hold it
    unseen_navec: bool  # types outside the vocabulary read navec's (fixed) vector where it has one


def check_ngrams(cfg: NgramSettings) -> None:
    if cfg.ngram_low > cfg.ngram_high:
        raise ConfigError(f"ngram_low {cfg.ngram_low} > ngram_high {cfg.ngram_high}")


@dataclass(frozen=True)
class SubwordEntry:
    """`train_subword.<name>`: the `train` entry it extends (with the main `trainer`) and its n-grams."""

    model: str
    ngram_low: PositiveInt
    ngram_high: PositiveInt
    min_count: PositiveInt  # an n-gram gets a vector when at least this many training tokens hold it
    unseen_navec: bool  # types outside the vocabulary read navec's (fixed) vector where it has one
    decision: Decision  # argmax, or per-class offsets fitted on validation macro-F1 (`training.decision`)

    def __post_init__(self) -> None:
        check_ngrams(self)


@dataclass(frozen=True)
class SubwordData:
    """The corpus encoded over the type table, and each type's n-gram rows."""

    types: Vocab
    splits: dict[str, EncodedSplit]
    index: torch.Tensor  # (types, K)
    n_ngrams: int


def encode_types(frame: pd.DataFrame, vocab: Vocab, classes: Sequence[str], cfg: NgramSettings,
                 max_len: int) -> SubwordData:
    """Every split of a preprocessed corpus (tokens, label, split) over `vocab` extended by the corpus's other
    types; n-grams are counted on the training split only."""
    docs = frame["tokens"].str.split()
    types = type_vocab(vocab, docs)
    label_ids = frame["label"].map({c: i for i, c in enumerate(classes)})
    if label_ids.isna().any():
        row = int(label_ids.isna().to_numpy().argmax())
        raise ValueError(f"row {row}: label {frame['label'].iloc[row]!r} is not one of {list(classes)}")
    splits = {name: encode_split(docs[frame["split"] == name].tolist(), label_ids[frame["split"] == name].tolist(),
                                 types, max_len) for name in ("train", "val", "test")}
    ngrams = ngram_vocab(docs[frame["split"] == "train"], cfg.ngram_low, cfg.ngram_high, cfg.min_count)
    return SubwordData(types, splits, ngram_index(types.itos, ngrams, cfg.ngram_low, cfg.ngram_high), len(ngrams))


def unseen_vectors(itos: Sequence[str], words: int, dim: int, use_navec: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(types, dim) navec vectors of the types from `words` on, and which of them navec has."""
    vectors, has = torch.zeros(len(itos), dim), torch.zeros(len(itos), dtype=torch.bool)
    if use_navec:
        navec = load_navec()
        for i in range(words, len(itos)):
            if (vector := navec.get(itos[i])) is not None:
                vectors[i], has[i] = torch.from_numpy(vector.copy()), True
    return vectors, has


def build_subword_classifier(model_cfg: ModelConfig, trainer: TrainerConfig, vocab: Vocab, data: SubwordData,
                             cfg: NgramSettings, n_classes: int, tracker: Tracker, seed: int) -> nn.Module:
    """`train`'s classifier for `model_cfg` (navec filling its word vectors as usual) with a `SubwordEmbedding`."""
    if cfg.unseen_navec and model_cfg.embeddings != "navec":
        raise ConfigError(f"subword.unseen_navec reads navec's vectors: train.{cfg.model}.embeddings must be navec, "
                          f"not {model_cfg.embeddings!r}")
    model = build_classifier(model_cfg, trainer, list(vocab.itos), n_classes, tracker, seed)
    fixed, has = unseen_vectors(data.types.itos, len(vocab), model_cfg.embedding_dim, cfg.unseen_navec)
    model.embedding = SubwordEmbedding(model.embedding, len(vocab), data.index, data.n_ngrams, fixed, has)
    tracker.log_params({"subword.n_ngrams": data.n_ngrams, "subword.types": len(data.types),
                        **{f"subword.{k}": getattr(cfg, k) for k in NgramSettings.__annotations__}})
    tracker.log_metrics({"subword_unseen_navec": float(has.sum()) / max(len(data.types) - len(vocab), 1)})
    return model


def load_models(path: str | Path) -> dict[str, ModelConfig | SubwordEntry]:
    """Every classifier the pipeline trains, by name: `train`'s recurrent ones and `train_subword`'s."""
    models = load_section(path, "train", dict[str, ModelConfig])
    subword = load_section(path, "train_subword", dict[str, SubwordEntry])
    if both := sorted(set(models) & set(subword)):
        raise ConfigError(f"{path}: train_subword.{both[0]}: the name of another model too (names are the models' "
                          "names: in metrics, the registry and `rnnlab predict`)")
    return models | subword


def training_stage(name: str, models: dict[str, ModelConfig | SubwordEntry]) -> str:
    """The dvc.yaml stage that trains model `name`."""
    return f"train_subword@{name}" if isinstance(models[name], SubwordEntry) else f"train@{name}"


@dataclass(frozen=True)
class SubwordClassifierModel:
    """What rebuilds a checkpoint of kind subword_classifier (its types are the vocabulary's)."""

    model: ModelConfig
    entry: SubwordEntry
    n_ngrams: int
    width: int  # n-gram rows per type in the saved index


def build_shell(cfg: SubwordClassifierModel, vocab_size: int, n_classes: int) -> nn.Module:
    """The classifier's modules with the shapes of a saved one; its weights and buffers come from the checkpoint."""
    model = CLASSIFIER.build(cfg.model, vocab_size, n_classes)
    index = torch.zeros(vocab_size, cfg.width, dtype=torch.long)
    model.embedding = SubwordEmbedding(model.embedding, vocab_size, index, cfg.n_ngrams,
                                       torch.zeros(vocab_size, cfg.model.embedding_dim),
                                       torch.zeros(vocab_size, dtype=torch.bool))
    return model


MODEL_KIND = ModelKind(SubwordClassifierModel, build_shell)


def set_types(model: nn.Module, itos: Sequence[str], words: int, ngrams: dict[str, int], entry: SubwordEntry) -> None:
    """Point the classifier's `SubwordEmbedding` at the type table `itos` (its first `words` are the vocabulary);
    the trained word and n-gram vectors stay as they are."""
    old = model.embedding
    fixed, has = unseen_vectors(itos, words, old.word.embedding_dim, entry.unseen_navec and len(itos) > words)
    new = SubwordEmbedding(old.word, words, ngram_index(itos, ngrams, entry.ngram_low, entry.ngram_high),
                           len(ngrams), fixed, has)
    new.ngrams = old.ngrams
    model.embedding = new.to(old.index.device)


def train_entry(entry: SubwordEntry, model_cfg: ModelConfig, trainer: TrainerConfig, vocab: Vocab,
                frame: pd.DataFrame, classes: list[str], max_len: int, seed: int, tracker: Tracker,
                state: RunState | None = None
                ) -> tuple[nn.Module, SubwordClassifierModel, list[str], TrainResult, list[float] | None]:
    """Train the entry on the preprocessed corpus (tokens, label, split), early-stopped on validation.

    Returns the model over the vocabulary's types (as saved), its rebuild config, its n-grams in row order and its
    decision offsets (None for argmax).
    """
    data = encode_types(frame, vocab, classes, entry, max_len)
    model = build_subword_classifier(model_cfg, trainer, vocab, data, entry, len(classes), tracker, seed)
    result = fit(model, data.splits["train"], data.splits["val"], trainer, tracker, seed, state)
    offsets = None
    if entry.decision == "macro_f1_offsets":
        val = data.splits["val"]
        offsets = fit_offsets(predict_logits(model, val, trainer.batch_size * 4, next(model.parameters()).device),
                              val.labels)
        tracker.log_params({f"decision_offset.{c}": o for c, o in zip(classes, offsets)})
    train_docs = frame.loc[frame["split"] == "train", "tokens"].str.split()
    ngrams = ngram_vocab(train_docs, entry.ngram_low, entry.ngram_high, entry.min_count)  # encode_types' rows
    model = model.cpu()
    set_types(model, vocab.itos, len(vocab), ngrams, entry)
    shell = SubwordClassifierModel(model_cfg, entry, len(ngrams), model.embedding.index.size(1))
    return model, shell, list(ngrams), result, offsets
