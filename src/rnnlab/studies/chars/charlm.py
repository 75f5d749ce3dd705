"""The character language model task: a vocabulary from the training text, TBPTT over its stream, samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import torch

from rnnlab.config import LMConfig, LMTrainerConfig
from rnnlab.models.language import CharLM
from rnnlab.models.sampling import generate
from rnnlab.params import (
    Choice,
    NonNegativeFloat,
    NonNegativeInt,
    Pattern,
    PositiveInt,
    Share,
)
from rnnlab.text.vocab import Vocab, build_vocab
from rnnlab.training.checkpoint import Checkpoint
from rnnlab.training.language import fit_language_model, stream_batches, stream_epochs
from rnnlab.training.loop import TrainResult
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import Tracker


@dataclass(frozen=True)
class SampleConfig:
    prime: Annotated[str, Pattern(r"(?s).+", "a non-empty text")]
    length: PositiveInt
    temperature: NonNegativeFloat
    top_k: NonNegativeInt  # 0 = the whole alphabet


@dataclass(frozen=True)
class CharLMConfig:
    corpus: Annotated[str, Choice("rnnlab.data.texts:BOOKS")]
    val_fraction: Share  # the last part of the text, held out
    batch_size: PositiveInt  # rows of the stream
    seq_len: PositiveInt  # steps of truncated backpropagation through time
    model: LMConfig
    trainer: LMTrainerConfig


def train_charlm(text: str, cfg: CharLMConfig, tracker: Tracker, seed: int,
                 state: RunState | None = None) -> tuple[CharLM, Vocab, TrainResult]:
    """Character vocabulary from the training text, an LSTM trained on it, validated on the held-out tail."""
    cut = int(len(text) * (1 - cfg.val_fraction))
    vocab = build_vocab([text[:cut]], max_size=10**6, min_freq=1)
    train_ids = torch.tensor(vocab.encode(text[:cut]), dtype=torch.long)
    val_ids = torch.tensor(vocab.encode(text[cut:]), dtype=torch.long)
    model = CharLM(cfg.model, len(vocab))
    batches = stream_epochs(train_ids, cfg.batch_size, cfg.seq_len, torch.Generator().manual_seed(seed))
    val = stream_batches(val_ids, cfg.batch_size, cfg.seq_len)
    return model, vocab, fit_language_model(model, batches, val, cfg.trainer, tracker, state)


def sample_text(ckpt: Checkpoint, prime: str, length: int, temperature: float, top_k: int, seed: int) -> str:
    """The prime followed by `length` sampled characters; characters outside the alphabet are an error."""
    unknown = sorted({c for c in prime if c not in ckpt.vocab.stoi})
    if not prime or unknown:
        raise ValueError(f"prime characters not in the model's alphabet: {unknown}" if prime else "the prime is empty")
    generator = torch.Generator().manual_seed(seed)
    ids = generate(ckpt.model, ckpt.vocab.encode(prime), length, temperature, top_k, generator)
    return prime + "".join(ckpt.vocab.decode(ids))
