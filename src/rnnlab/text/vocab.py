"""Vocabulary built from the training split: <pad>=0, <unk>=1, then tokens by frequency."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rnnlab.data.files import read_json, write_json

PAD, UNK = "<pad>", "<unk>"


@dataclass(frozen=True)
class Vocab:
    itos: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.itos[:2] != (PAD, UNK):
            raise ValueError(f"vocabulary must start with {PAD}, {UNK}; got {self.itos[:2]}")
        object.__setattr__(self, "_stoi", {t: i for i, t in enumerate(self.itos)})

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def stoi(self) -> dict[str, int]:
        return self._stoi  # type: ignore[attr-defined]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token ids, unknown tokens mapped to <unk>."""
        stoi = self.stoi
        return [stoi.get(t, 1) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens for ids."""
        return [self.itos[i] for i in ids]

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (a list of tokens, index = id)."""
        write_json(path, {"itos": list(self.itos)})

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        """Read a vocabulary written by `save`."""
        return cls(tuple(read_json(path)["itos"]))


def build_vocab(docs: Iterable[Sequence[str]], max_size: int, min_freq: int) -> Vocab:
    """Most frequent tokens (ties broken alphabetically, so the result is deterministic)."""
    counts = Counter(t for doc in docs for t in doc)
    ranked = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
    return Vocab((PAD, UNK, *ranked[: max(0, max_size - 2)]))
