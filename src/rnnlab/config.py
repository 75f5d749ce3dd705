"""Every section of params.yaml as a frozen dataclass, read as DVC reads the file, validated on load.

`params.yaml` is the only place a value lives: no field has a default, so a missing key fails like an
unknown one, naming the file and the dotted key. Ranges are checked at load time, and a choice (cell,
pooling, init, ...) is checked against the registry of the module that implements it, which that
module fills with `register_choices` when it is imported.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


class ConfigError(ValueError):
    """A params file has an unknown, missing, mistyped or out-of-range key."""


@dataclass(frozen=True)
class Range:
    """Bounds of a number; `open` ends exclude the bound itself."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def check(self, value: float, where: str) -> None:
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if too_low or too_high:
            raise ConfigError(f"{where}: {value!r} is out of range, must be {self}")

    def __str__(self) -> str:
        low = "" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        high = "" if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        return " and ".join(part for part in (low, high) if part)


@dataclass(frozen=True)
class Choice:
    """One of the names in registry `kind`."""

    kind: str

    def check(self, value: str, where: str) -> None:
        if self.kind not in _CHOICES:
            # A bug, not bad input: the stage loads a config before importing what implements it.
            raise RuntimeError(f"{where}: no registry '{self.kind}'; import the module that implements it first")
        if value not in _CHOICES[self.kind]:
            raise ConfigError(f"{where}: {value!r} is not one of {sorted(_CHOICES[self.kind])}")


@dataclass(frozen=True)
class Pattern:
    """A string matching a regular expression."""

    regex: str
    meaning: str

    def check(self, value: str, where: str) -> None:
        if not re.fullmatch(self.regex, value):
            raise ConfigError(f"{where}: {value!r} is not {self.meaning}")


_CHOICES: dict[str, frozenset[str]] = {}


def register_choices(kind: str, names: Iterable[str]) -> None:
    """Declare the names a `Choice(kind)` field accepts: the keys of the registry that implements them."""
    _CHOICES[kind] = frozenset(names)


PositiveInt = Annotated[int, Range(low=1)]
NonNegativeInt = Annotated[int, Range(low=0)]
PositiveFloat = Annotated[float, Range(low=0, low_open=True)]
NonNegativeFloat = Annotated[float, Range(low=0)]
Dropout = Annotated[float, Range(low=0, high=1, high_open=True)]
Share = Annotated[float, Range(low=0, high=1, low_open=True, high_open=True)]  # a part of the data: (0, 1)
Device = Annotated[str, Pattern(r"auto|cpu|cuda(:\d+)?", "a device: auto, cpu, cuda or cuda:N")]


@dataclass(frozen=True)
class DownloadConfig:
    corpora: tuple[Annotated[str, Choice("corpus")], ...]


@dataclass(frozen=True)
class LocalCsvConfig:
    path: str
    text_column: str
    label_column: str
    split_column: str  # empty: all rows are training rows; test is carved out
    test_size: Share
    encoding: str  # the file's text encoding, as Python names it: utf-8, cp1251, ...


@dataclass(frozen=True)
class PrepareConfig:
    corpus: Annotated[str, Choice("labelled_corpus")]
    label_map: dict[str, str]  # raw label -> class name; raw labels absent from the map are dropped
    val_size: Share
    local_csv: LocalCsvConfig
    max_rows_per_split: NonNegativeInt  # 0: all rows; a small number gives a fast profile


@dataclass(frozen=True)
class TextConfig:
    """What turns a raw text into tokens; a classifier's checkpoint carries it, to read new texts alike."""

    lowercase: bool
    replace_urls: bool
    replace_mentions: bool
    replace_numbers: bool
    remove_stopwords: bool
    keep_negations: bool
    normalize: Annotated[str, Choice("normalize")]


@dataclass(frozen=True)
class PreprocessConfig:
    text: TextConfig
    workers: PositiveInt  # speed only: the output is the same for any number


@dataclass(frozen=True)
class TfidfConfig:
    word_ngram_max: PositiveInt
    char_ngrams: bool
    char_ngram_range: tuple[PositiveInt, PositiveInt]
    min_df: PositiveInt
    max_features: PositiveInt
    C: tuple[PositiveFloat, ...]
    class_weight: Literal["balanced", "none"]

    def __post_init__(self) -> None:
        if self.char_ngram_range[0] > self.char_ngram_range[1]:
            raise ConfigError(f"char_ngram_range: {list(self.char_ngram_range)} runs backwards")
        if not self.C:
            raise ConfigError("C: needs at least one value")


@dataclass(frozen=True)
class FeaturizeConfig:
    max_vocab: Annotated[int, Range(low=3)]  # <pad>, <unk> and at least one word
    min_freq: PositiveInt
    max_len: PositiveInt


@dataclass(frozen=True)
class ModelConfig:
    """One recurrent classifier: embedding -> encoder -> pooling -> head."""

    cell: Annotated[str, Choice("cell")]
    nonlinearity: Literal["tanh", "relu"]
    embedding_dim: PositiveInt
    hidden_size: PositiveInt
    num_layers: PositiveInt
    bidirectional: bool
    pooling: Annotated[str, Choice("pooling")]
    packed: bool
    embedding_dropout: Dropout
    dropout: Dropout  # between layers and before the head
    recurrent_dropout: Dropout  # variational / weight-drop / Semeniuta, by cell
    init: Annotated[str, Choice("init")]
    learned_init_state: bool
    embeddings: Annotated[str, Choice("embeddings")]
    freeze_embeddings: bool


@dataclass(frozen=True)
class TrainerConfig:
    device: Device
    autocast: Literal["bf16", "fp16", "off"]  # mixed precision on CUDA (fp16 with a GradScaler); CPU: always off
    epochs: PositiveInt
    batch_size: PositiveInt
    bucket_by_length: bool
    pad_to_max_len: bool  # the naive way: every batch as wide as the longest text
    lr: PositiveFloat
    weight_decay: NonNegativeFloat
    clip_grad_norm: NonNegativeFloat  # 0 = no clipping
    patience: PositiveInt
    class_weight: Literal["balanced", "none"]
    num_threads: PositiveInt


@dataclass(frozen=True)
class DataParallelConfig:
    """How many workers train one classifier together (DistributedDataParallel under Ray Train)."""

    workers: PositiveInt  # 1: in the stage's own process; N > 1: N Ray Train workers, each a share of every epoch


@dataclass(frozen=True)
class Variant:
    """A zoo variant: overrides of the zoo's base model and trainer (empty when absent)."""

    model: dict[str, Any] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SplitConfig:
    val_size: Share
    test_size: Share

    def __post_init__(self) -> None:
        if self.val_size + self.test_size >= 1:
            raise ConfigError(f"val_size + test_size must be < 1, got {self.val_size} + {self.test_size}")


@dataclass(frozen=True)
class ClassifierConfig:
    max_len: PositiveInt  # characters read per name
    min_char_freq: PositiveInt  # rarer training characters become <unk>, so <unk> is learned
    model: ModelConfig
    trainer: TrainerConfig


@dataclass(frozen=True)
class LMConfig:
    embedding_dim: PositiveInt
    hidden_size: PositiveInt
    num_layers: PositiveInt
    dropout: Dropout


@dataclass(frozen=True)
class LMTrainerConfig:
    device: Device
    autocast: Literal["bf16", "fp16", "off"]  # mixed precision on CUDA (fp16 with a GradScaler); CPU: always off
    steps: PositiveInt
    lr: PositiveFloat
    clip_grad_norm: NonNegativeFloat  # 0 = no clipping
    eval_every: PositiveInt
    num_threads: PositiveInt


@dataclass(frozen=True)
class GeneratorConfig:
    batch_size: PositiveInt
    max_length: PositiveInt  # characters sampled at most per name
    model: LMConfig
    trainer: LMTrainerConfig
    temperature: NonNegativeFloat
    samples: PositiveInt  # names per reported language
    languages: tuple[str, ...]


@dataclass(frozen=True)
class SampleConfig:
    prime: Annotated[str, Pattern(r"(?s).+", "a non-empty text")]
    length: PositiveInt
    temperature: NonNegativeFloat
    top_k: NonNegativeInt  # 0 = the whole alphabet


@dataclass(frozen=True)
class CharLMConfig:
    corpus: Annotated[str, Choice("book")]
    val_fraction: Share  # the last part of the text, held out
    batch_size: PositiveInt  # rows of the stream
    seq_len: PositiveInt  # steps of truncated backpropagation through time
    model: LMConfig
    trainer: LMTrainerConfig


@dataclass(frozen=True)
class ProbeModelConfig:
    """The probe's network, less what each probed cell fixes (cell, nonlinearity, one direction, last state)."""

    embedding_dim: PositiveInt
    hidden_size: PositiveInt
    num_layers: PositiveInt
    packed: bool
    embedding_dropout: Dropout
    dropout: Dropout
    recurrent_dropout: Dropout
    init: Annotated[str, Choice("init")]
    learned_init_state: bool
    embeddings: Annotated[str, Choice("embeddings")]
    freeze_embeddings: bool


@dataclass(frozen=True)
class ProbeConfig:
    cells: tuple[Annotated[str, Choice("probe_cell")], ...]
    lengths: tuple[PositiveInt, ...]
    train_length: PositiveInt  # the short length trained on before testing on every length
    train_size: PositiveInt
    val_size: PositiveInt
    test_size: PositiveInt
    fail_below: Annotated[float, Range(low=0, high=1)]  # test accuracy under which a cell fails (chance: 0.1)
    model: ProbeModelConfig
    trainer: TrainerConfig

    def __post_init__(self) -> None:
        if not self.cells or not self.lengths:
            raise ConfigError("cells and lengths: need at least one each")


@dataclass(frozen=True)
class ClusterConfig:
    """Where independent training runs go: Ray tasks (local, or RAY_ADDRESS's cluster), or one after another."""

    executor: Literal["ray", "local"]
    max_cpus: NonNegativeInt  # a local Ray's CPUs: 0 = every core
    gpus_per_run: Annotated[float, Range(low=0, high=1)]  # the share of a GPU a run on CUDA asks for
    max_retries: NonNegativeInt  # a task whose worker died is retried, resuming from the run's saved state


@dataclass(frozen=True)
class TuneConfig:
    """A search over the main model's hyperparameters: Optuna's TPE proposes, ASHA stops poor trials early."""

    model: str  # the `train` entry (with the `trainer` section) the search starts from
    trials: PositiveInt
    time_budget_s: PositiveInt  # no trial starts after this many seconds
    max_concurrent: PositiveInt  # 1: one trial after another, the same trials on every run
    grace_period: PositiveInt  # ASHA: epochs a trial trains before it may be stopped
    reduction_factor: Annotated[int, Range(low=2)]  # ASHA: 1 in this many trials goes on at each rung
    space: dict[str, dict[str, tuple[Any, ...]]]  # params key -> {choice: [...]} | {uniform|loguniform: [low, high]}


# Every params key a stage may load, and what it loads into; `*` stands for any one name.
SECTIONS: dict[str, Any] = {
    "seed": NonNegativeInt,
    "download": DownloadConfig,
    "prepare": PrepareConfig,
    "preprocess": PreprocessConfig,
    "preprocess.text": TextConfig,
    "tfidf": TfidfConfig,
    "featurize": FeaturizeConfig,
    "featurize.max_len": PositiveInt,
    "trainer": TrainerConfig,
    "data_parallel": DataParallelConfig,
    "train": dict[str, ModelConfig],
    "train.*": ModelConfig,
    "cluster": ClusterConfig,
    "tune": TuneConfig,
    "zoo.seeds": tuple[NonNegativeInt, ...],
    "zoo.base": ModelConfig,
    "zoo.trainer": TrainerConfig,
    "zoo.variants": dict[str, Variant],
    "zoo.variants.*": Variant,
    "download_chars": DownloadConfig,
    "names.split": SplitConfig,
    "names.classifier": ClassifierConfig,
    "names.generator": GeneratorConfig,
    "charlm.train": CharLMConfig,
    "charlm.sample": SampleConfig,
    "probe": ProbeConfig,
}


def read_params(path: str | Path) -> dict[str, Any]:
    """A params file as DVC reads it: YAML 1.2 (so `1e-3` is a float, as DVC compares it)."""
    path = Path(path)
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def require_entry(path: str | Path, section: str, name: str, where: str) -> None:
    """Fail naming the key `where` unless `name` is an entry of the mapping `section` (`train.<name>`)."""
    entries = read_params(path).get(section)
    if not isinstance(entries, dict) or name not in entries:
        raise ConfigError(f"{path}: {where} {name!r} is not a `{section}` entry ({', '.join(entries or [])})")


def section_type(key: str) -> Any:
    """What params key `key` loads into, from SECTIONS (a field of a registered section: that field's type)."""
    if key in SECTIONS:
        return SECTIONS[key]
    parent, _, field = key.rpartition(".")
    if parent and parent + ".*" in SECTIONS:
        return SECTIONS[parent + ".*"]
    if parent:
        try:
            outer = section_type(parent)
        except KeyError:
            outer = None
        if dataclasses.is_dataclass(outer) and field in (hints := typing.get_type_hints(outer, include_extras=True)):
            return hints[field]
    raise KeyError(f"no config registered for params key '{key}'")


def load_section(path: str | Path, key: str) -> Any:
    """Load the value at dotted `key` of a params file into its registered, validated type."""
    data: Any = read_params(path)
    for depth, part in enumerate(key.split(".")):
        if not isinstance(data, dict) or part not in data:
            missing = ".".join(key.split(".")[: depth + 1])
            raise ConfigError(f"{path}: {missing}: missing key '{part}'")
        data = data[part]
    return coerce(section_type(key), data, f"{path}: {key}")


def from_dict(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from a mapping, rejecting unknown, missing, mistyped and out-of-range keys."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        key = unknown[0]  # named dotted, as `dvc exp run -S` spells it
        raise ConfigError(f"{where}.{key}: unknown key '{key}' (known: {', '.join(fields)})")
    required = [name for name, f in fields.items() if f.default is f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise ConfigError(f"{where}.{missing[0]}: missing key '{missing[0]}'")
    values = {name: coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**values)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def coerce(tp: Any, value: Any, where: str) -> Any:
    """`value` checked against type `tp` (dataclasses, Annotated checks, Literal, unions, tuples, dicts)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is Annotated:
        value = coerce(args[0], value, where)
        for check in tp.__metadata__:
            check.check(value, where)
        return value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return coerce(option, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {tp}")
    if origin is tuple:
        return _coerce_tuple(args, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {coerce(args[0], k, where): coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is float and type(value) is int:
        return float(value)
    if type(value) is not tp:
        raise ConfigError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")
    return value


def _coerce_tuple(args: tuple, value: Any, where: str) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    item_types = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
    if len(item_types) != len(value):
        raise ConfigError(f"{where}: expected {len(item_types)} items, got {len(value)}")
    return tuple(coerce(t, v, f"{where}[{i}]") for i, (t, v) in enumerate(zip(item_types, value, strict=True)))


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
