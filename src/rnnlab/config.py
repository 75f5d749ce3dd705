"""Typed configs for each section of params.yaml, validated on load."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A params file has an unknown, missing or mistyped key."""


@dataclass(frozen=True)
class DownloadConfig:
    corpora: tuple[str, ...] = ("rusentiment", "nltk_stopwords")


@dataclass(frozen=True)
class LocalCsvConfig:
    path: str = ""
    text_column: str = "text"
    label_column: str = "label"
    split_column: str = ""  # empty: all rows are training rows; test is carved out
    test_size: float = 0.2


@dataclass(frozen=True)
class PrepareConfig:
    corpus: Literal["rusentiment", "opensentimentcorpus", "local_csv"] = "rusentiment"
    # Raw label -> class name; raw labels absent from the map are dropped.
    label_map: dict[str, str] = field(
        default_factory=lambda: {"positive": "positive", "negative": "negative", "neutral": "neutral"}
    )
    val_size: float = 0.1
    local_csv: LocalCsvConfig = LocalCsvConfig()
    max_rows_per_split: int = 0  # 0: all rows; a small number gives a fast profile


@dataclass(frozen=True)
class PreprocessConfig:
    lowercase: bool = True
    replace_urls: bool = True
    replace_mentions: bool = True
    replace_numbers: bool = True
    remove_stopwords: bool = True
    keep_negations: bool = True
    normalize: Literal["lemma", "stem", "none"] = "lemma"
    workers: int = 2


@dataclass(frozen=True)
class TfidfConfig:
    word_ngram_max: int = 2
    char_ngrams: bool = True
    char_ngram_range: tuple[int, int] = (2, 5)
    min_df: int = 2
    max_features: int = 200_000
    C: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    class_weight: Literal["balanced", "none"] = "balanced"


@dataclass(frozen=True)
class FeaturizeConfig:
    max_vocab: int = 30_000
    min_freq: int = 2
    max_len: int = 100


@dataclass(frozen=True)
class ModelConfig:
    """One recurrent classifier: embedding -> encoder -> pooling -> head."""

    cell: Literal["rnn", "lstm", "gru", "scratch_rnn", "lstm_loop", "weight_drop_lstm", "semeniuta_lstm"] = "lstm"
    nonlinearity: Literal["tanh", "relu"] = "tanh"
    embedding_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    pooling: Literal["last", "mean", "max"] = "last"
    packed: bool = True
    embedding_dropout: float = 0.0
    dropout: float = 0.0  # between layers and before the head
    recurrent_dropout: float = 0.0  # variational / weight-drop / Semeniuta, by cell
    init: Literal["default", "uniform_embedding", "orthogonal", "normal", "forget_bias", "keras"] = "default"
    learned_init_state: bool = False
    embeddings: Literal["scratch", "navec"] = "scratch"
    freeze_embeddings: bool = False


@dataclass(frozen=True)
class TrainerConfig:
    device: str = "auto"
    epochs: int = 10
    batch_size: int = 64
    bucket_by_length: bool = True
    pad_to_max_len: bool = False  # the naive way: every batch as wide as the longest text
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip_grad_norm: float = 1.0
    patience: int = 3
    class_weight: Literal["balanced", "none"] = "none"
    num_threads: int = 2


SECTIONS: dict[str, type] = {
    "download": DownloadConfig,
    "prepare": PrepareConfig,
    "preprocess": PreprocessConfig,
    "tfidf": TfidfConfig,
    "featurize": FeaturizeConfig,
    "trainer": TrainerConfig,
}


def read_params(path: str | Path) -> dict[str, Any]:
    """Read a params YAML file into a dict."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def load_section(path: str | Path, key: str, cls: type | None = None) -> Any:
    """Load section `key` (dotted, e.g. 'train.lstm') of a params file into its dataclass."""
    data: Any = read_params(path)
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            raise ConfigError(f"{path}: missing key '{key}'")
        data = data[part]
    cls = cls or SECTIONS[key]
    return from_dict(cls, data, where=f"{path}: {key}")


def load_seed(path: str | Path) -> int:
    """The global seed (top-level `seed`)."""
    seed = read_params(path).get("seed")
    if type(seed) is not int:
        raise ConfigError(f"{path}: key 'seed' must be an int, got {seed!r}")
    return seed


def from_dict(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from `data`, rejecting unknown keys and wrong types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        key = unknown[0]  # named dotted, as `dvc exp run -S` spells it
        raise ConfigError(f"{where}.{key}: unknown key '{key}' (known: {', '.join(sorted(names))})")
    values = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    return cls(**values)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _coerce(option, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {tp}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_types = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
        if len(item_types) != len(value):
            raise ConfigError(f"{where}: expected {len(item_types)} items, got {len(value)}")
        return tuple(_coerce(t, v, f"{where}[{i}]") for i, (t, v) in enumerate(zip(item_types, value, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {_coerce(args[0], k, where): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is float and type(value) is int:
        return float(value)
    if tp is type(None) and value is None:
        return None
    if type(value) is not tp:
        raise ConfigError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")
    return value


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a (nested) config dataclass or dict into dotted keys, for logging."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out
