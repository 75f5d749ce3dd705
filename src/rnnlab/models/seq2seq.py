"""A character-level encoder-decoder LSTM with additive attention (Bahdanau et al., 2015): a word form and its
part of speech in, the lemma out, one character at a time.

Training feeds the decoder, at each step, either the true previous character (teacher forcing) or its own
previous prediction, the latter with probability `feed_back` per position: 0 is teacher forcing, 1 is free
running, and a schedule that raises it over training is scheduled sampling (Bengio et al., 2015).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

BOS, EOS = 2, 3  # ids after <pad> and <unk>


class CharSeq2Seq(nn.Module):
    def __init__(self, n_chars: int, n_tags: int, char_embedding_dim: int, tag_embedding_dim: int, hidden_size: int,
                 dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_chars, char_embedding_dim, padding_idx=0)  # source and target characters
        self.tag_embedding = nn.Embedding(n_tags, tag_embedding_dim)
        self.encoder = nn.LSTM(char_embedding_dim, hidden_size, batch_first=True, bidirectional=True)
        self.init_state = nn.Linear(2 * hidden_size + tag_embedding_dim, 2 * hidden_size)  # -> decoder (h, c)
        self.decoder = nn.LSTMCell(char_embedding_dim + 2 * hidden_size, hidden_size)  # input feeding: last context
        self.attend_source = nn.Linear(2 * hidden_size, hidden_size, bias=False)
        self.attend_state = nn.Linear(hidden_size, hidden_size)
        self.score = nn.Linear(hidden_size, 1, bias=False)
        self.output = nn.Linear(hidden_size + 2 * hidden_size, n_chars)
        self.dropout = nn.Dropout(dropout)
        self.hidden_size = hidden_size

    def encode(self, source: Tensor, lengths: Tensor, tags: Tensor) -> tuple[Tensor, Tensor, Tensor, tuple]:
        """(B, S) characters, (B,) lengths, (B,) tags -> memory (B, S, 2H), its keys (B, S, H), mask (B, S),
        the decoder's first state and context."""
        packed = pack_padded_sequence(self.dropout(self.embedding(source)), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, (h, _) = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=source.size(1))  # (B, S, 2H)
        summary = torch.cat([h[0], h[1], self.tag_embedding(tags)], dim=-1)  # (B, 2H + Et)
        h0, c0 = torch.tanh(self.init_state(summary)).chunk(2, dim=-1)
        context = memory.new_zeros(source.size(0), 2 * self.hidden_size)
        return memory, self.attend_source(memory), source != 0, (h0, c0, context)

    def step(self, previous: Tensor, state: tuple, memory: Tensor, keys: Tensor,
             mask: Tensor) -> tuple[Tensor, tuple, Tensor]:
        """One decoding step: (B,) previous characters -> (B, V) logits, the next state, (B, S) attention."""
        h, c, context = state
        h, c = self.decoder(torch.cat([self.dropout(self.embedding(previous)), context], dim=-1), (h, c))
        energy = self.score(torch.tanh(keys + self.attend_state(h).unsqueeze(1))).squeeze(-1)  # (B, S)
        weights = energy.masked_fill(~mask, float("-inf")).softmax(-1)  # 0 on padding, sums to 1
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)  # (B, 2H)
        logits = self.output(self.dropout(torch.cat([h, context], dim=-1)))
        return logits, (h, c, context), weights

    def forward(self, source: Tensor, lengths: Tensor, tags: Tensor, target: Tensor, feed_back: float = 0.0,
                generator: torch.Generator | None = None) -> Tensor:
        """Logits (B, T, V) for `target` (B, T: the lemma's characters then EOS, padded with 0). Step t reads
        the true character t-1 (BOS first) or, with probability `feed_back` per position, the model's own
        prediction at t-1; draws come from `generator` (on the CPU), so that they are reproducible."""
        memory, keys, mask, state = self.encode(source, lengths, tags)
        previous = torch.full_like(target[:, 0], BOS)
        outputs = []
        for t in range(target.size(1)):
            logits, state, _ = self.step(previous, state, memory, keys, mask)
            outputs.append(logits)
            previous = target[:, t]
            if feed_back > 0:
                own = torch.rand(previous.shape, generator=generator).to(previous.device) < feed_back
                previous = torch.where(own, logits.detach().argmax(-1), previous)
        return torch.stack(outputs, dim=1)

    @torch.no_grad()
    def greedy(self, source: Tensor, lengths: Tensor, tags: Tensor, max_len: int) -> list[list[int]]:
        """The likeliest character at every step, until EOS or `max_len` characters."""
        memory, keys, mask, state = self.encode(source, lengths, tags)
        previous = torch.full((source.size(0),), BOS, dtype=torch.long, device=source.device)
        out = []
        for _ in range(max_len):
            logits, state, _ = self.step(previous, state, memory, keys, mask)
            previous = logits.argmax(-1)
            out.append(previous)
        return [_until_eos(row) for row in torch.stack(out, 1).tolist()]

    @torch.no_grad()
    def beam(self, source: Tensor, lengths: Tensor, tags: Tensor, width: int, max_len: int) -> list[list[int]]:
        """Beam search of `width` hypotheses per word (their summed log-probabilities; a finished one keeps its
        score); the best finished hypothesis, or the best one left after `max_len` characters."""
        return [self._beam(source[i : i + 1, : int(lengths[i])], lengths[i : i + 1], tags[i : i + 1], width, max_len)
                for i in range(source.size(0))]

    def _beam(self, source: Tensor, lengths: Tensor, tags: Tensor, width: int, max_len: int) -> list[int]:
        memory, keys, mask, state = self.encode(source, lengths, tags)
        hypotheses: list[tuple[float, list[int]]] = [(0.0, [])]
        states = state
        finished: list[tuple[float, list[int]]] = []
        for _ in range(max_len):
            k = len(hypotheses)
            previous = torch.tensor([h[-1] if h else BOS for _, h in hypotheses], device=source.device)
            logits, states, _ = self.step(previous, states, memory.expand(k, -1, -1), keys.expand(k, -1, -1),
                                          mask.expand(k, -1))
            so_far = torch.tensor([s for s, _ in hypotheses], device=source.device).unsqueeze(1)  # (k, 1)
            scores = so_far + F.log_softmax(logits, -1)  # (k, V)
            top = scores.flatten().topk(min(width, scores.numel()))
            kept, rows = [], []
            for score, index in zip(top.values.tolist(), top.indices.tolist()):
                row, char = divmod(index, scores.size(1))
                if char == EOS:
                    finished.append((score, hypotheses[row][1]))
                else:
                    kept.append((score, hypotheses[row][1] + [char]))
                    rows.append(row)
            if not kept or (finished and max(s for s, _ in finished) >= kept[0][0]):
                break  # a finished hypothesis already beats every open one: their scores only fall
            hypotheses = kept
            states = tuple(s[rows] for s in states)
        best = max(finished or hypotheses, key=lambda h: h[0])
        return best[1]


def _until_eos(ids: list[int]) -> list[int]:
    return ids[: ids.index(EOS)] if EOS in ids else ids
