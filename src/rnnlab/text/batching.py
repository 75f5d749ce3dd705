"""Encoded splits as tensors, and batches: shuffled, or bucketed by length."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from rnnlab.text.vocab import Vocab


@dataclass
class EncodedSplit:
    """Token ids padded to the split's longest text, with true lengths and label ids."""

    tokens: torch.Tensor  # (N, T) int64, 0 = <pad>
    lengths: torch.Tensor  # (N,) int64, >= 1
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: torch.Tensor, trim: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows `index`, cut to the longest real length among them unless `trim` is off."""
        lengths = self.lengths[index]
        width = int(lengths.max()) if trim else self.tokens.shape[1]
        return self.tokens[index, :width], lengths, self.labels[index]  # (B, width), (B,), (B,)


def encode_split(docs: Sequence[Sequence[str]], labels: Sequence[int], vocab: Vocab, max_len: int) -> EncodedSplit:
    """Encode token lists; an empty text becomes one <unk> so every sequence has a real step."""
    ids = [vocab.encode(doc[:max_len]) or [1] for doc in docs]
    width = max((len(row) for row in ids), default=1)
    tokens = torch.zeros(len(ids), width, dtype=torch.long)
    for i, row in enumerate(ids):
        tokens[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    lengths = torch.tensor([len(row) for row in ids], dtype=torch.long)
    return EncodedSplit(tokens, lengths, torch.tensor(list(labels), dtype=torch.long))


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Fixed-size batches over a random permutation."""
    return list(torch.randperm(n, generator=generator).split(batch_size))


def bucketed_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Batches of similar lengths holding about `batch_size * mean length` tokens each.

    Short texts travel in large batches (up to 4x) and long ones in small batches, so the
    padding and the cost of a batch stay roughly constant; the batch order is shuffled.
    """
    budget = batch_size * float(lengths.float().mean())
    noise = torch.rand(len(lengths), generator=generator)  # random order among equal lengths
    order = torch.argsort(lengths.float() + noise).tolist()
    batches, current = [], []
    for i in order:  # ascending length: row i is the longest of the batch so far
        if current and ((len(current) + 1) * int(lengths[i]) > budget or len(current) >= 4 * batch_size):
            batches.append(torch.tensor(current))
            current = []
        current.append(i)
    batches.append(torch.tensor(current))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator)]


def ordered_batches(lengths: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Batches in length order, for evaluation: little padding, deterministic."""
    return list(torch.argsort(lengths, stable=True).split(batch_size))


def iterate(split: EncodedSplit, batches: list[torch.Tensor], trim: bool = True) -> Iterator[tuple[torch.Tensor, ...]]:
    """Yield (tokens, lengths, labels) for each batch of indices."""
    for index in batches:
        yield split.batch(index, trim)
