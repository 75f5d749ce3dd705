"""The main pipeline's params sections (params.yaml), and the ones its library layers share with the studies, as
frozen dataclasses; `rnnlab.params.load_section` reads and checks them. A study's sections live with its code
(`rnnlab.studies.<study>`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from rnnlab.params import (
    Choice,
    ConfigError,
    Device,
    Dropout,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Range,
    Share,
)


@dataclass(frozen=True)
class DownloadConfig:
    corpora: tuple[Annotated[str, Choice("rnnlab.data.corpora:CORPORA")], ...]



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
    corpus: Annotated[str, Choice("rnnlab.data.datasets:READERS")]
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
    normalize: Annotated[str, Choice("rnnlab.text.lemmas:NORMALIZERS")]



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

    cell: Annotated[str, Choice("rnnlab.models.classifier:ENCODERS")]
    nonlinearity: Literal["tanh", "relu"]
    embedding_dim: PositiveInt
    hidden_size: PositiveInt
    num_layers: PositiveInt
    bidirectional: bool
    pooling: Annotated[str, Choice("rnnlab.models.attention:POOLING_CHOICES")]
    packed: bool
    embedding_dropout: Dropout
    dropout: Dropout  # between layers and before the head
    recurrent_dropout: Dropout  # variational / weight-drop / Semeniuta, by cell
    init: Annotated[str, Choice("rnnlab.models.classifier:INIT_SCHEMES")]
    learned_init_state: bool
    embeddings: Annotated[str, Choice("rnnlab.models.embeddings:EMBEDDINGS")]
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
class ClusterConfig:
    """Where independent training runs go: Ray tasks (local, or RAY_ADDRESS's cluster), or one after another."""

    executor: Literal["ray", "local"]
    max_cpus: NonNegativeInt  # a local Ray's CPUs: 0 = every core
    gpus_per_run: Annotated[float, Range(low=0, high=1)]  # the share of a GPU a run on CUDA asks for
    max_retries: NonNegativeInt  # a task whose worker died is retried, resuming from the run's saved state
