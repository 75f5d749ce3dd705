"""AWD-LSTM (Merity et al., 2018), the encoder ULMFiT pretrains as a language model and fine-tunes as a classifier.

One `AWDEncoder` serves both: the language model puts a decoder on it (tied to the input embedding, or an
adaptive softmax when the vocabulary is large), the classifier a concat-pooling head; moving the pretrained
encoder into the classifier is one `load_state_dict`. Regularisation, each off in eval: whole words dropped from
the embedding matrix, variational (same mask at every step) dropout on the embeddings, between layers and on
the output, and DropConnect on every layer's hidden-to-hidden weights (`WeightDropLSTM`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.models.cells import WeightDropLSTM, variational_mask
from rnnlab.models.classifier import pool_last, pool_max, pool_mean

IGNORE = -100  # a target the loss skips
State = list[tuple[Tensor, Tensor]]  # per layer (h, c), each (1, B, H_layer)


def embedding_dropout(embedding: nn.Embedding, tokens: Tensor, p: float, training: bool) -> Tensor:
    """Look `tokens` up with whole rows of the matrix dropped (a dropped word is zero wherever it occurs) and
    the kept rows scaled by 1 / (1 - p)."""
    weight = embedding.weight
    if training and p > 0:
        weight = weight * F.dropout(weight.new_ones(weight.size(0), 1), p, training=True)  # (V, E)
    return F.embedding(tokens, weight, embedding.padding_idx)


def locked_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """(B, T, F) with one dropout mask per sequence, the same at every step."""
    if not training or p == 0:
        return x
    return x * variational_mask(x.size(0), x.size(2), p, x).unsqueeze(1)


class AWDEncoder(nn.Module):
    """Embedding -> `num_layers` single-layer weight-dropped LSTMs; the last one's width is `output_size`
    (the embedding's, so a language model can tie its decoder to the embedding)."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, num_layers: int,
                 output_size: int | None = None, embedding_dropout: float = 0.1, input_dropout: float = 0.6,
                 hidden_dropout: float = 0.3, weight_dropout: float = 0.5, padding_idx: int = 0) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        with torch.no_grad():
            nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
            self.embedding.weight[padding_idx].zero_()  # as nn.Embedding leaves it: padding reads as nothing
        sizes = [embedding_dim] + [hidden_size] * (num_layers - 1) + [output_size or hidden_size]
        self.layers = nn.ModuleList(WeightDropLSTM(sizes[i], sizes[i + 1], recurrent_dropout=weight_dropout)
                                    for i in range(num_layers))
        self.output_size = sizes[-1]
        self.embedding_p, self.input_p, self.hidden_p = embedding_dropout, input_dropout, hidden_dropout

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """(B, T) ids and the state the previous window left -> (B, T, output_size) outputs (the last layer's,
        before output dropout) and the new state."""
        x = embedding_dropout(self.embedding, tokens, self.embedding_p, self.training)  # (B, T, E)
        x = locked_dropout(x, self.input_p, self.training)
        new_state = []
        for i, layer in enumerate(self.layers):
            x, layer_state = layer(x, None if state is None else state[i])  # (B, T, H_i)
            new_state.append(layer_state)
            if i < len(self.layers) - 1:
                x = locked_dropout(x, self.hidden_p, self.training)
        return x, new_state

    def layer_groups(self) -> list[nn.Module]:
        """What gradual unfreezing and discriminative learning rates treat as one: the embedding, each layer."""
        return [self.embedding, *self.layers]


class AWDLanguageModel(nn.Module):
    """An AWD encoder with a next-token decoder: a linear layer tied to the embedding (`cutoffs` empty), or an
    adaptive softmax whose head holds the `cutoffs[0]` most frequent ids (ids must be sorted by frequency)."""

    def __init__(self, encoder: AWDEncoder, output_dropout: float = 0.4, cutoffs: Sequence[int] = ()) -> None:
        super().__init__()
        self.encoder, self.output_p = encoder, output_dropout
        vocab_size, width = encoder.embedding.num_embeddings, encoder.output_size
        if cutoffs:
            self.decoder = None
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(width, vocab_size, list(cutoffs), div_value=4.0)
        else:
            if width != encoder.embedding.embedding_dim:
                raise ValueError(f"a tied decoder needs the encoder's output size ({width}) to equal the "
                                 f"embedding size ({encoder.embedding.embedding_dim})")
            self.adaptive = None
            self.decoder = nn.Linear(width, vocab_size)
            self.decoder.weight = encoder.embedding.weight  # tied: one Parameter, two uses

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """(B, T) ids -> (B, T, width) decoder inputs (after output dropout) and the new state."""
        out, state = self.encoder(tokens, state)
        return locked_dropout(out, self.output_p, self.training), state

    def target_log_probs(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """Log-probability of each target (B, T) given `hidden` (B, T, width), IGNORE targets left out: (N,).
        The training code makes the loss of it; an adaptive softmax never builds the full (N, V) matrix."""
        hidden, targets = hidden.flatten(0, 1), targets.flatten()  # (B*T, width), (B*T,)
        keep = targets != IGNORE
        hidden, targets = hidden[keep], targets[keep]
        if self.adaptive is None:
            return F.log_softmax(self.decoder(hidden), dim=-1).gather(1, targets.unsqueeze(1)).squeeze(1)
        return self.adaptive(hidden, targets).output

    def log_probs(self, hidden: Tensor) -> Tensor:
        """(N, width) -> (N, V) log-probabilities of the next token."""
        if self.adaptive is None:
            return F.log_softmax(self.decoder(hidden), dim=-1)
        return self.adaptive.log_prob(hidden)


class ConcatPoolingClassifier(nn.Module):
    """ULMFiT's classifier: the encoder's outputs over the real tokens pooled as [last, max, mean], then a
    batch-normalised two-layer head."""

    def __init__(self, encoder: AWDEncoder, num_classes: int, head_size: int = 50, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        width = 3 * encoder.output_size
        self.head = nn.Sequential(nn.BatchNorm1d(width), nn.Dropout(dropout), nn.Linear(width, head_size), nn.ReLU(),
                                  nn.BatchNorm1d(head_size), nn.Dropout(dropout), nn.Linear(head_size, num_classes))

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """(B, T) ids padded at the end, (B,) lengths -> (B, C) logits. The encoder reads left to right, so the
        padding after a text never reaches its real positions."""
        out, _ = self.encoder(tokens)  # (B, T, H)
        return self.head(concat_pool(out, lengths))

    def layer_groups(self) -> list[nn.Module]:
        return [*self.encoder.layer_groups(), self.head]


def concat_pool(out: Tensor, lengths: Tensor) -> Tensor:
    """(B, T, H) outputs and (B,) lengths -> (B, 3H): the last real step's output, max and mean over real steps."""
    lengths = lengths.to(out.device)
    return torch.cat([pool(out, lengths, 1) for pool in (pool_last, pool_max, pool_mean)], dim=-1)
