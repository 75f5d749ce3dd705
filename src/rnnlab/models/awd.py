"""AWD-LSTM (Merity et al., 2018), the encoder ULMFiT pretrains as a language model and fine-tunes as a classifier.

One `AWDEncoder` serves both: the language model puts an output layer on it, tied to the input embedding (a
softmax over the whole vocabulary, or an adaptive one when it is large); the classifier puts a concat-pooling
head on it. Moving the pretrained encoder into the classifier is one `load_state_dict`. Regularisation, each off in eval: whole words dropped from
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


class TiedSoftmax(nn.Module):
    """The next-token distribution over the whole vocabulary, its output weights the input embedding's."""

    def __init__(self, embedding: nn.Embedding) -> None:
        super().__init__()
        self._embedding = [embedding]  # a plain list: the encoder owns (and saves) the shared weights
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))

    def log_probs(self, hidden: Tensor) -> Tensor:
        """(N, E) -> (N, V) log-probabilities."""
        return F.log_softmax(F.linear(hidden, self._embedding[0].weight, self.bias), dim=-1)

    def target_log_probs(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """(N, E), (N,) ids -> (N,) log-probability of each target."""
        return self.log_probs(hidden).gather(1, targets.unsqueeze(1)).squeeze(1)


class TiedAdaptiveSoftmax(nn.Module):
    """An adaptive softmax (Grave et al., 2017) whose every word's output vector is its input embedding.

    The head scores the `cutoffs[0]` most frequent ids and one entry per tail cluster; a tail scores its ids with
    its own square projection of the hidden state. Training evaluates a tail only for the targets that fall in
    it, so the cost of the rare words is paid for the few positions that need them. Ids must be sorted by
    frequency (as `build_vocab` sorts them).
    """

    def __init__(self, embedding: nn.Embedding, cutoffs: Sequence[int]) -> None:
        super().__init__()
        vocab_size, width = embedding.num_embeddings, embedding.embedding_dim
        if list(cutoffs) != sorted(set(cutoffs)) or cutoffs[0] < 1 or cutoffs[-1] >= vocab_size:
            raise ValueError(f"cutoffs must increase strictly within (0, {vocab_size}), got {list(cutoffs)}")
        self._embedding = [embedding]  # a plain list: the encoder owns (and saves) the shared weights
        self.bounds = [*cutoffs, vocab_size]  # tail k holds ids bounds[k] .. bounds[k + 1] - 1
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.cluster = nn.Linear(width, len(cutoffs))  # the head's entry per tail
        self.projections = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in cutoffs)
        with torch.no_grad():
            for projection in self.projections:  # start as the head does: score a word by its embedding
                projection.weight.copy_(torch.eye(width))

    def _head(self, hidden: Tensor) -> Tensor:
        """(N, E) -> (N, cutoffs[0] + tails) log-probabilities of the head."""
        weight, shortlist = self._embedding[0].weight, self.bounds[0]
        logits = torch.cat([F.linear(hidden, weight[:shortlist], self.bias[:shortlist]), self.cluster(hidden)], -1)
        return F.log_softmax(logits, dim=-1)

    def _tail(self, k: int, hidden: Tensor) -> Tensor:
        """(N, E) -> (N, size of tail k) log-probabilities within tail k."""
        low, high = self.bounds[k], self.bounds[k + 1]
        weight = self._embedding[0].weight[low:high]  # (size, E)
        return F.log_softmax(F.linear(self.projections[k](hidden), weight, self.bias[low:high]), dim=-1)

    def target_log_probs(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """(N, E), (N,) ids -> (N,) log-probability of each target; a tail is evaluated only where needed."""
        head = self._head(hidden)  # (N, shortlist + tails)
        shortlist = self.bounds[0]
        out = head.gather(1, targets.clamp(max=shortlist - 1).unsqueeze(1)).squeeze(1)  # right for head targets
        for k in range(len(self.projections)):
            rows = ((targets >= self.bounds[k]) & (targets < self.bounds[k + 1])).nonzero().squeeze(1)  # (n_k,)
            if rows.numel():
                inside = self._tail(k, hidden[rows]).gather(1, (targets[rows] - self.bounds[k]).unsqueeze(1))
                out = out.index_put((rows,), head[rows, shortlist + k] + inside.squeeze(1))
        return out

    def log_probs(self, hidden: Tensor) -> Tensor:
        """(N, E) -> (N, V) log-probabilities of every id."""
        head = self._head(hidden)
        shortlist = self.bounds[0]
        tails = [head[:, shortlist + k : shortlist + k + 1] + self._tail(k, hidden) for k in range(len(self.projections))]
        return torch.cat([head[:, :shortlist], *tails], dim=-1)


class AWDLanguageModel(nn.Module):
    """An AWD encoder with a next-token output layer tied to its embedding: a softmax over the whole vocabulary
    (`cutoffs` empty), or an adaptive softmax whose head holds the `cutoffs[0]` most frequent ids."""

    def __init__(self, encoder: AWDEncoder, output_dropout: float = 0.4, cutoffs: Sequence[int] = ()) -> None:
        super().__init__()
        self.encoder, self.output_p = encoder, output_dropout
        width, embedding = encoder.output_size, encoder.embedding
        if width != embedding.embedding_dim:
            raise ValueError(f"a tied output layer needs the encoder's output size ({width}) to equal the "
                             f"embedding size ({embedding.embedding_dim})")
        self.output = TiedAdaptiveSoftmax(embedding, cutoffs) if cutoffs else TiedSoftmax(embedding)

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """(B, T) ids -> (B, T, width) output-layer inputs (after output dropout) and the new state."""
        out, state = self.encoder(tokens, state)
        return locked_dropout(out, self.output_p, self.training), state

    def target_log_probs(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """Log-probability of each target (B, T) given `hidden` (B, T, width), IGNORE targets left out: (N,).
        The training code makes the loss of it; an adaptive softmax never builds the full (N, V) matrix."""
        hidden, targets = hidden.flatten(0, 1), targets.flatten()  # (B*T, width), (B*T,)
        keep = targets != IGNORE
        return self.output.target_log_probs(hidden[keep], targets[keep])

    def log_probs(self, hidden: Tensor) -> Tensor:
        """(N, width) -> (N, V) log-probabilities of the next token."""
        return self.output.log_probs(hidden)


class ConcatPoolingClassifier(nn.Module):
    """ULMFiT's classifier: the encoder's outputs over the real tokens pooled as [last, max, mean], then a
    two-layer head. The pooled vector is layer-normalised (per text, so a batch of one text trains too); the
    hidden layer is not: normalising a few ReLU units would erase how strongly they fire."""

    def __init__(self, encoder: AWDEncoder, num_classes: int, head_size: int = 50, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        width = 3 * encoder.output_size
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Dropout(dropout), nn.Linear(width, head_size), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(head_size, num_classes))

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
