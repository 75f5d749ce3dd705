"""ULMFiT's language model: an AWD-LSTM trained on unlabelled text, then on the target corpus's training texts.

Texts are read as surface forms (the `lm.text` settings, `normalize: none`): the recurrent network sees what
a text says, its negations, cases and bracket runs. Each document starts with `xxbos`; documents are shuffled
once (seeded) and read as one stream with truncated backpropagation through time, through the one loop.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
from torch import Tensor

from rnnlab.config import LMTrainerConfig, TextConfig
from rnnlab.models.awd import IGNORE, AWDEncoder, AWDLanguageModel
from rnnlab.models.embeddings import EMBEDDINGS
from rnnlab.params import Choice, Dropout, PositiveInt, Range, from_dict
from rnnlab.text.preprocessing import preprocess_texts
from rnnlab.text.vocab import Vocab, build_vocab
from rnnlab.training.checkpoint import Checkpoint, ModelKind
from rnnlab.training.language import (
    LanguageModelObjective,
    LMBatch,
    stream_batches,
    stream_epochs,
)
from rnnlab.training.loop import (
    Optimization,
    TrainResult,
    resolve_device,
    to_device,
    train,
)
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import Tracker

BOS = "xxbos"  # starts every document: the model learns where a text begins, as a classifier reads it


@dataclass(frozen=True)
class LMVocabConfig:
    max_size: Annotated[int, Range(low=3)]  # <pad>, <unk> and at least one word
    min_freq: PositiveInt


@dataclass(frozen=True)
class AWDConfig:
    """The AWD-LSTM language model: its last layer is as wide as the embedding, which the output layer reuses."""

    embeddings: Annotated[str, Choice("rnnlab.models.embeddings:EMBEDDINGS")]  # navec: the input (and so output) vectors start from navec
    embedding_dim: PositiveInt
    hidden_size: PositiveInt
    num_layers: PositiveInt
    cutoffs: tuple[PositiveInt, ...]  # adaptive softmax clusters by frequency rank; empty: a full softmax
    embedding_dropout: Dropout  # whole words
    input_dropout: Dropout
    hidden_dropout: Dropout  # between layers
    weight_dropout: Dropout  # DropConnect on the hidden-to-hidden weights
    output_dropout: Dropout


@dataclass(frozen=True)
class LMStageConfig:
    """One language-model stage: pretraining on the unlabelled corpus, or fine-tuning on the target's texts."""

    batch_size: PositiveInt  # rows of the stream
    seq_len: PositiveInt  # steps of truncated backpropagation through time
    trainer: LMTrainerConfig


def build_lm(cfg: AWDConfig, vocab_size: int) -> AWDLanguageModel:
    """The language model `cfg` describes, its embedding initialised uniformly (pretrained rows come after)."""
    encoder = AWDEncoder(vocab_size, cfg.embedding_dim, cfg.hidden_size, cfg.num_layers, output_size=cfg.embedding_dim,
                         embedding_dropout=cfg.embedding_dropout, input_dropout=cfg.input_dropout,
                         hidden_dropout=cfg.hidden_dropout, weight_dropout=cfg.weight_dropout)
    return AWDLanguageModel(encoder, cfg.output_dropout, cfg.cutoffs)


MODEL_KIND = ModelKind(AWDConfig, lambda cfg, v, c: build_lm(cfg, v))


def documents_tokens(texts: Sequence[str], cfg: TextConfig) -> list[list[str]]:
    """Each text's surface tokens after `xxbos`."""
    if cfg.normalize != "none":
        raise ValueError(f"lm.text.normalize: the language model reads surface forms ('none'), got {cfg.normalize!r}")
    return [[BOS, *doc.split()] for doc in preprocess_texts(texts, cfg, frozenset())]


def stream(docs: Sequence[list[str]], vocab: Vocab, seed: int | None) -> Tensor:
    """The documents' ids end to end (1-D), in an order shuffled by `seed` (None: as given)."""
    order = range(len(docs)) if seed is None else np.random.default_rng(seed).permutation(len(docs))
    return torch.tensor([i for d in order for i in vocab.encode(docs[d])], dtype=torch.long)


def _flat(state: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, ...]:
    return tuple(t for layer in state for t in layer)


class AWDObjective(LanguageModelObjective):
    """The character model's rounds of stream batches, scored by an AWD language model's tied output layer."""

    unit = "tokens"

    def loss(self, model: AWDLanguageModel, batch: LMBatch) -> tuple[Tensor, int, int]:
        loss, n, self.state = _awd_step(model, batch, self.state, self.device)
        return loss, n, max(n, 1)

    def validate(self, model: AWDLanguageModel) -> dict[str, float]:
        val_loss = evaluate_awd(model, self.val, self.device)
        return {"val_loss": val_loss, "val_perplexity": math.exp(val_loss)}


def _awd_step(model: AWDLanguageModel, batch: LMBatch, state: tuple[Tensor, ...] | None,
              device: torch.device) -> tuple[Tensor, int, tuple[Tensor, ...]]:
    """Summed negative log-likelihood, number of predicted tokens, the next state (flat: h, c per layer)."""
    carried = None
    if batch.carry and state is not None:  # truncated BPTT: the state goes on, its gradient stops
        carried = [(state[i].detach(), state[i + 1].detach()) for i in range(0, len(state), 2)]
    hidden, new_state = model(to_device(batch.inputs, device), carried)  # (B, T, E)
    log_probs = model.target_log_probs(hidden, to_device(batch.targets, device))  # (N,)
    return -log_probs.sum(), int((batch.targets != IGNORE).sum()), _flat(new_state)


@torch.no_grad()
def evaluate_awd(model: AWDLanguageModel, batches: Sequence[LMBatch], device: torch.device) -> float:
    """Mean negative log-likelihood per token, in nats; state carried as in training."""
    model.eval()
    total, count, state = 0.0, 0, None
    for batch in batches:
        loss, n, state = _awd_step(model, batch, state, device)
        total, count = total + float(loss), count + n
    return total / max(count, 1)


def fit_lm(model: AWDLanguageModel, train_ids: Tensor, val_ids: Tensor, cfg: LMStageConfig, tracker: Tracker,
           seed: int, state: RunState | None = None) -> TrainResult:
    """`cfg.trainer.steps` windows of the training stream (passes start at seeded offsets), validated every
    `eval_every` steps on the whole validation stream; the weights with the lowest validation loss win."""
    device = resolve_device(cfg.trainer.device)
    batches: Iterator[LMBatch] = stream_epochs(train_ids, cfg.batch_size, cfg.seq_len,
                                               torch.Generator().manual_seed(seed))
    val = stream_batches(val_ids, cfg.batch_size, cfg.seq_len)
    objective = AWDObjective(batches, val, cfg.trainer.steps, cfg.trainer.eval_every, device)
    optimization = Optimization(cfg.trainer.lr, 0.0, cfg.trainer.clip_grad_norm, cfg.trainer.autocast)
    return train(model, objective, optimization, device, tracker, state=state)


def pretrain(documents: Any, text: TextConfig, vocab_cfg: LMVocabConfig, model_cfg: AWDConfig, cfg: LMStageConfig,
             tracker: Tracker, seed: int, state: RunState | None = None) -> tuple[Checkpoint, TrainResult]:
    """A vocabulary of the training documents' tokens, the language model, and its training.

    Args:
        documents: the lm_corpus table (text, source, split: train | val).
    """
    docs = documents_tokens(documents["text"].tolist(), text)
    is_train = (documents["split"] == "train").tolist()
    train_docs = [d for d, t in zip(docs, is_train) if t]
    vocab = build_vocab(train_docs, vocab_cfg.max_size, vocab_cfg.min_freq)
    model = build_lm(model_cfg, len(vocab))
    coverage = _init_embedding(model, vocab, model_cfg, seed)
    train_ids = stream(train_docs, vocab, seed)
    val_ids = stream([d for d, t in zip(docs, is_train) if not t], vocab, None)
    result = fit_lm(model, train_ids, val_ids, cfg, tracker, seed, state)
    meta = {"text": dataclasses.asdict(text), "train_tokens": len(train_ids), "val_tokens": len(val_ids),
            "unk_share": float((train_ids == 1).float().mean()), "embedding_coverage": coverage,
            **_scores(result)}
    return Checkpoint("awd_lm", model_cfg, model, vocab, [], meta), result


def _init_embedding(model: AWDLanguageModel, vocab: Vocab, cfg: AWDConfig, seed: int) -> float:
    """Pretrained rows into the embedding (and so the output layer) when `cfg.embeddings` names them."""
    init = EMBEDDINGS[cfg.embeddings]
    if init is None:
        return 0.0
    matrix, coverage = init(vocab.itos, cfg.embedding_dim, seed)  # (V, E)
    with torch.no_grad():
        model.encoder.embedding.weight.copy_(matrix)
    return coverage


def finetune(pretrained: Checkpoint, texts: Sequence[str], val_share: float, cfg: LMStageConfig, tracker: Tracker,
             seed: int, state: RunState | None = None) -> tuple[Checkpoint, TrainResult]:
    """The pretrained language model trained on the target's training texts (its vocabulary kept), validated on
    a seeded `val_share` of them."""
    text = from_dict(TextConfig, pretrained.meta["text"], "the pretrained checkpoint's text settings")
    docs = documents_tokens(texts, text)
    order = np.random.default_rng(seed).permutation(len(docs))
    held = set(order[: max(1, round(val_share * len(docs)))].tolist())
    train_ids = stream([d for i, d in enumerate(docs) if i not in held], pretrained.vocab, seed)
    val_ids = stream([d for i, d in enumerate(docs) if i in held], pretrained.vocab, None)
    model, device = pretrained.model, resolve_device(cfg.trainer.device)
    before = evaluate_awd(model.to(device), stream_batches(val_ids, cfg.batch_size, cfg.seq_len), device)
    result = fit_lm(model, train_ids, val_ids, cfg, tracker, seed, state)
    meta = {**pretrained.meta, "finetune_tokens": len(train_ids), "finetune_val_tokens": len(val_ids),
            "pretrained": {k: pretrained.meta[k] for k in ("best_step", "val_loss", "val_perplexity")},
            "val_perplexity_before": math.exp(before), **_scores(result)}
    return Checkpoint("awd_lm", pretrained.config, model, pretrained.vocab, [], meta), result


def _scores(result: TrainResult) -> dict[str, float]:
    return {"best_step": result.best_position, "val_loss": result.best["val_loss"],
            "val_perplexity": result.best["val_perplexity"]}
