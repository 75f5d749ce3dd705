"""Recurrent text classifier: embedding -> encoder -> pooling -> head, built once from a ModelConfig."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.config import ModelConfig
from rnnlab.models.cells import (
    LoopLSTM,
    RecurrentWeights,
    ScratchRNN,
    SemeniutaLSTM,
    WeightDropLSTM,
    length_mask,
    recurrent_weights,
)
from rnnlab.models.embeddings import EMBEDDINGS

State = Tensor | tuple[Tensor, Tensor] | None


@dataclass(frozen=True)
class EncoderSpec:
    """How to build one cell kind and how to run it."""

    build: Callable[[ModelConfig], nn.Module]
    lstm_state: bool  # carries (h, c) rather than h alone
    fused: bool  # torch's fused kernel (cuDNN on GPU): called like nn.LSTM, can run packed
    uses_recurrent_dropout: bool


def _torch_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    # torch warns about dropout on a single layer, where it would do nothing.
    return dict(input_size=cfg.embedding_dim, hidden_size=cfg.hidden_size, num_layers=cfg.num_layers,
                batch_first=True, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
                bidirectional=cfg.bidirectional)


def _loop_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    return dict(input_size=cfg.embedding_dim, hidden_size=cfg.hidden_size, num_layers=cfg.num_layers,
                bidirectional=cfg.bidirectional, dropout=cfg.dropout)


ENCODERS: dict[str, EncoderSpec] = {
    "rnn": EncoderSpec(lambda c: nn.RNN(nonlinearity=c.nonlinearity, **_torch_kwargs(c)),
                       lstm_state=False, fused=True, uses_recurrent_dropout=False),
    "lstm": EncoderSpec(lambda c: nn.LSTM(**_torch_kwargs(c)),
                        lstm_state=True, fused=True, uses_recurrent_dropout=False),
    "gru": EncoderSpec(lambda c: nn.GRU(**_torch_kwargs(c)),
                       lstm_state=False, fused=True, uses_recurrent_dropout=False),
    "scratch_rnn": EncoderSpec(lambda c: ScratchRNN(nonlinearity=c.nonlinearity, **_loop_kwargs(c)),
                               lstm_state=False, fused=False, uses_recurrent_dropout=False),
    "lstm_loop": EncoderSpec(lambda c: LoopLSTM(recurrent_dropout=c.recurrent_dropout, **_loop_kwargs(c)),
                             lstm_state=True, fused=False, uses_recurrent_dropout=True),
    "weight_drop_lstm": EncoderSpec(lambda c: WeightDropLSTM(recurrent_dropout=c.recurrent_dropout, **_loop_kwargs(c)),
                                    lstm_state=True, fused=True, uses_recurrent_dropout=True),
    "semeniuta_lstm": EncoderSpec(lambda c: SemeniutaLSTM(recurrent_dropout=c.recurrent_dropout, **_loop_kwargs(c)),
                                  lstm_state=True, fused=False, uses_recurrent_dropout=True),
}


def encoder_spec(cfg: ModelConfig) -> EncoderSpec:
    """The spec of cfg.cell, rejecting unknown cells and settings the cell would ignore."""
    spec = ENCODERS.get(cfg.cell)
    if spec is None:
        raise ValueError(f"unknown cell {cfg.cell!r}; known cells: {', '.join(ENCODERS)}")
    if cfg.recurrent_dropout > 0 and not spec.uses_recurrent_dropout:
        users = [name for name, s in ENCODERS.items() if s.uses_recurrent_dropout]
        raise ValueError(f"cell {cfg.cell!r} has no recurrent_dropout (set it to 0); "
                         f"cells with it: {', '.join(users)}")
    return spec


def run_packed(rnn: nn.Module, x: Tensor, lengths: Tensor, state: State) -> Tensor:
    """Fused RNN on a packed batch: padded steps are never computed, outputs there are zero."""
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = rnn(packed, state)
    return pad_packed_sequence(out, batch_first=True, total_length=x.size(1))[0]  # (B, T, H*D)


def run_padded(rnn: nn.Module, x: Tensor, lengths: Tensor, state: State) -> Tensor:
    """Fused RNN over the padded batch: forward outputs at real steps are exact; pooling masks the rest."""
    return rnn(x, state)[0]  # (B, T, H*D)


def run_loop(rnn: nn.Module, x: Tensor, lengths: Tensor, state: State) -> Tensor:
    """Hand-written encoders take lengths themselves."""
    return rnn(x, lengths, state)  # (B, T, H*D)


class Encoder(nn.Module):
    """The recurrent layers of cfg.cell and the way to run them, both chosen here once.

    A fused bidirectional encoder always runs packed: on the padded batch its backward
    direction would start on padding. The hand-written ones reverse within lengths instead.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        spec = encoder_spec(cfg)
        self.rnn = spec.build(cfg)
        self.lstm_state = spec.lstm_state
        self.packed = spec.fused and (cfg.packed or cfg.bidirectional)
        self.run = run_loop if not spec.fused else run_packed if self.packed else run_padded

    def forward(self, x: Tensor, lengths: Tensor, state: State = None) -> Tensor:
        """(B, T, E), (B,) -> (B, T, H*D)."""
        return self.run(self.rnn, x, lengths, state)


def pool_last(outputs: Tensor, lengths: Tensor, directions: int) -> Tensor:
    """Forward state after the last real token; backward state after reading back to step 0."""
    last = outputs[torch.arange(outputs.size(0), device=outputs.device), lengths - 1]  # (B, H*D)
    if directions == 1:
        return last
    hidden = outputs.size(-1) // 2
    return torch.cat([last[:, :hidden], outputs[:, 0, hidden:]], dim=-1)  # (B, 2H)


def pool_mean(outputs: Tensor, lengths: Tensor, directions: int) -> Tensor:
    """Mean over real tokens."""
    mask = length_mask(lengths, outputs.size(1)).unsqueeze(-1)  # (B, T, 1)
    return (outputs * mask).sum(1) / lengths.unsqueeze(1).to(outputs.dtype)  # (B, H*D)


def pool_max(outputs: Tensor, lengths: Tensor, directions: int) -> Tensor:
    """Max over real tokens."""
    mask = length_mask(lengths, outputs.size(1)).unsqueeze(-1)  # (B, T, 1)
    return outputs.masked_fill(~mask, float("-inf")).amax(1)  # (B, H*D)


POOLINGS: dict[str, Callable[[Tensor, Tensor, int], Tensor]] = {"last": pool_last, "mean": pool_mean, "max": pool_max}


class Pooling(nn.Module):
    """Encoder outputs (B, T, H*D) -> one vector per sequence (B, H*D), over real tokens only."""

    def __init__(self, mode: str, directions: int) -> None:
        super().__init__()
        if mode not in POOLINGS:
            raise ValueError(f"unknown pooling {mode!r}; known: {', '.join(POOLINGS)} (attention pooling has learned "
                             "weights: rnnlab.models.attention.build_attention_classifier builds it)")
        self.pool, self.directions = POOLINGS[mode], directions

    def forward(self, outputs: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, H*D), (B,) -> (B, H*D)."""
        return self.pool(outputs, lengths.to(outputs.device), self.directions)


class InitialState(nn.Module):
    """Learned h0 (and c0) shared by every sequence; with no parts, None (zeros in the encoder)."""

    def __init__(self, stacked: int, hidden_size: int, parts: int) -> None:
        super().__init__()
        self.parts = nn.ParameterList(nn.Parameter(torch.zeros(stacked, 1, hidden_size)) for _ in range(parts))

    def forward(self, batch: int) -> State:
        """Torch's state layout: (L*D, B, H), or a tuple (h0, c0)."""
        if len(self.parts) == 0:
            return None
        states = [p.expand(-1, batch, -1).contiguous() for p in self.parts]  # cuDNN wants contiguous hx
        return states[0] if len(states) == 1 else (states[0], states[1])


def _orthogonal_chunks(weight: Tensor, gates: int) -> None:
    for chunk in weight.chunk(gates, dim=0):  # each (H, H): one gate's recurrent matrix
        chunk.copy_(nn.init.orthogonal_(torch.empty_like(chunk)))


def _forget_bias(group: RecurrentWeights) -> None:
    if group.gates != 4:
        raise ValueError("init 'forget_bias' needs an LSTM cell (gates i, f, g, o)")
    hidden = group.weight_hh.size(1)
    for k, bias in enumerate(group.biases):  # the cell sums them: 1 in the first, 0 in the rest
        bias[hidden: 2 * hidden] = 1.0 if k == 0 else 0.0


def _keras(group: RecurrentWeights) -> None:
    group.weight_ih.copy_(nn.init.xavier_uniform_(torch.empty_like(group.weight_ih)))
    _orthogonal_chunks(group.weight_hh, group.gates)
    for bias in group.biases:
        bias.zero_()
    if group.gates == 4:  # Keras' unit_forget_bias; GRU and RNN have no forget gate
        _forget_bias(group)


def init_default(embedding: nn.Embedding, groups: list[RecurrentWeights]) -> None:
    """Torch's own: U(-1/sqrt(H), 1/sqrt(H)) recurrent weights, N(0, 1) embedding."""


def init_uniform_embedding(embedding: nn.Embedding, groups: list[RecurrentWeights]) -> None:
    """Embedding ~ U[-0.05, 0.05], padding row zero."""
    embedding.weight.uniform_(-0.05, 0.05)
    embedding.weight[embedding.padding_idx] = 0.0


def init_orthogonal(embedding: nn.Embedding, groups: list[RecurrentWeights]) -> None:
    """Each gate's (H, H) block of W_hh orthogonal on its own."""
    for group in groups:
        _orthogonal_chunks(group.weight_hh, group.gates)


def init_normal(embedding: nn.Embedding, groups: list[RecurrentWeights]) -> None:
    """Every recurrent weight matrix, input and hidden, ~ N(0, 0.1^2); biases kept."""
    for group in groups:
        group.weight_ih.normal_(0.0, 0.1)
        group.weight_hh.normal_(0.0, 0.1)


def init_forget_bias(embedding: nn.Embedding, groups: list[RecurrentWeights]) -> None:
    """LSTM forget-gate bias 1, so memory is kept early in training."""
    for group in groups:
        _forget_bias(group)


def init_keras(embedding: nn.Embedding, groups: list[RecurrentWeights]) -> None:
    """Keras' LSTM/GRU defaults: Xavier input weights, orthogonal W_hh blocks, zero biases, forget 1."""
    for group in groups:
        _keras(group)


INIT_SCHEMES: dict[str, Callable[[nn.Embedding, list[RecurrentWeights]], None]] = {
    "default": init_default, "uniform_embedding": init_uniform_embedding, "orthogonal": init_orthogonal,
    "normal": init_normal, "forget_bias": init_forget_bias, "keras": init_keras,
}


@torch.no_grad()
def apply_init(scheme: str, embedding: nn.Embedding, encoder: Encoder) -> None:
    """Initialise the embedding and recurrent weights by the named scheme."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init {scheme!r}; known: {', '.join(INIT_SCHEMES)}")
    INIT_SCHEMES[scheme](embedding, recurrent_weights(encoder.rnn))


class TextClassifier(nn.Module):
    """Token ids and lengths -> class logits; every choice is made here from the config."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, num_classes: int) -> None:
        super().__init__()
        directions = 2 if cfg.bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, cfg.embedding_dim, padding_idx=0)
        self.embedding_dropout = nn.Dropout(cfg.embedding_dropout)
        self.encoder = Encoder(cfg)
        parts = (2 if self.encoder.lstm_state else 1) if cfg.learned_init_state else 0
        self.initial_state = InitialState(cfg.num_layers * directions, cfg.hidden_size, parts)
        self.pooling = Pooling(cfg.pooling, directions)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden_size * directions, num_classes))
        apply_init(cfg.init, self.embedding, self.encoder)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """(B, T) token ids, (B,) lengths -> (B, C) logits."""
        lengths = lengths.clamp(min=1)  # an empty text still has one step to read; may stay on the CPU
        x = self.embedding_dropout(self.embedding(tokens))  # (B, T, E)
        outputs = self.encoder(x, lengths, self.initial_state(tokens.size(0)))  # (B, T, H*D)
        return self.head(self.pooling(outputs, lengths))  # (B, C)


def build_model(cfg: ModelConfig, vocab_size: int, num_classes: int,
                pretrained: Tensor | None = None) -> TextClassifier:
    """A classifier for cfg; `pretrained` (vocab_size, embedding_dim) fills the embedding for 'navec'."""
    if (pretrained is not None) != (EMBEDDINGS[cfg.embeddings] is not None):
        raise ValueError(f"embeddings {cfg.embeddings!r} needs pretrained "
                         f"{'None' if EMBEDDINGS[cfg.embeddings] is None else 'a (vocab_size, embedding_dim) matrix'}")
    model = TextClassifier(cfg, vocab_size, num_classes)
    if pretrained is not None:
        if tuple(pretrained.shape) != (vocab_size, cfg.embedding_dim):
            raise ValueError(f"pretrained shape {tuple(pretrained.shape)} != {(vocab_size, cfg.embedding_dim)}")
        with torch.no_grad():
            model.embedding.weight.copy_(pretrained)
    model.embedding.weight.requires_grad_(not cfg.freeze_embeddings)
    return model


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
