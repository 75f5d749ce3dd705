"""A bidirectional LSTM sequence tagger: each word read as its word vector and a character-level encoding of it.

The word vector knows the words seen in training; the character encoder (a bidirectional LSTM over the word's
characters, its two final states) reads endings, capitals and digits; optional fixed vectors of every word
(navec's, which know far more words than a treebank) carry the meaning of words outside the vocabulary.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class CharWordEncoder(nn.Module):
    """(N, L) character ids of N words, padded with 0, and (N,) their lengths -> (N, 2 * hidden_size)."""

    def __init__(self, n_chars: int, embedding_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_chars, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True, bidirectional=True)
        self.output_size = 2 * hidden_size

    def forward(self, chars: Tensor, lengths: Tensor) -> Tensor:
        packed = pack_padded_sequence(self.embedding(chars), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # h: (2, N, H), forward then backward
        return torch.cat([h[0], h[1]], dim=-1)


class BiLSTMTagger(nn.Module):
    """Words (B, T), their characters (B, T, L), sentence lengths (B,) and, with `feature_dim`, fixed vectors of
    the words (B, T, feature_dim) -> tag logits (B, T, n_tags)."""

    def __init__(self, vocab_size: int, n_chars: int, n_tags: int, embedding_dim: int, char_embedding_dim: int,
                 char_hidden_size: int, hidden_size: int, num_layers: int, dropout: float,
                 pretrained: Tensor | None = None, feature_dim: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        if pretrained is not None:
            with torch.no_grad():
                self.embedding.weight.copy_(pretrained)
        self.chars = CharWordEncoder(n_chars, char_embedding_dim, char_hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(embedding_dim + self.chars.output_size + feature_dim, hidden_size, num_layers,
                            batch_first=True, bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)
        self.output = nn.Linear(2 * hidden_size, n_tags)

    def forward(self, words: Tensor, chars: Tensor, lengths: Tensor, features: Tensor | None = None) -> Tensor:
        real = words != 0  # (B, T): padding positions have word id 0
        char_lengths = (chars != 0).sum(-1)  # (B, T)
        spelled = words.new_zeros(*words.shape, self.chars.output_size, dtype=torch.float)  # (B, T, 2Hc)
        spelled[real] = self.chars(chars[real], char_lengths[real]).to(spelled.dtype)  # only the real words
        parts = [self.embedding(words), spelled] + ([] if features is None else [features.to(spelled.dtype)])
        x = self.dropout(torch.cat(parts, dim=-1))  # (B, T, E + 2Hc [+ F])
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=words.size(1))
        return self.output(self.dropout(out))  # (B, T, n_tags)
