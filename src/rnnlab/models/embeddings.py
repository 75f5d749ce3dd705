"""Pretrained Russian word vectors: navec's news model, shipped inside the natasha package."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import torch
from navec import Navec
from torch import Tensor

NAVEC_DIM = 300
NAVEC_PATTERN = "navec_news_*.tar"
UNKNOWN_STD = 0.1  # words navec lacks start small next to its vectors (std about 0.36)


def navec_path() -> Path:
    """The navec news model file inside the installed natasha package."""
    folder = Path(str(resources.files("natasha") / "data" / "emb"))
    found = sorted(folder.glob(NAVEC_PATTERN))
    if not found:
        raise FileNotFoundError(f"no {NAVEC_PATTERN} in {folder}; is natasha installed with its data?")
    return found[-1]


@functools.lru_cache(maxsize=1)
def load_navec() -> Navec:
    """The navec news model, loaded once per process."""
    return Navec.load(str(navec_path()))


def pretrained_matrix(itos: Sequence[str], dim: int, seed: int) -> tuple[Tensor, float]:
    """Embedding rows for `itos` from navec, and the share of real words it covers.

    Index 0 (<pad>) is zeros, <unk> takes navec's own <unk> vector, words navec lacks get
    N(0, 0.1^2) from `seed`. Coverage counts itos[2:], leaving out <pad> and <unk>.
    """
    if dim != NAVEC_DIM:
        raise ValueError(f"embedding_dim must be {NAVEC_DIM} for navec embeddings, got {dim}")
    navec = load_navec()
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.randn(len(itos), dim, generator=generator) * UNKNOWN_STD  # (V, 300)
    covered = 0
    for index, word in enumerate(itos):
        vector = navec.get(word)
        if vector is not None:
            matrix[index] = torch.from_numpy(vector.copy())
            covered += 1 if index >= 2 else 0
    matrix[0] = 0.0
    real_words = len(itos) - 2
    return matrix, (covered / real_words if real_words > 0 else 0.0)


# The `embeddings` choices: how the embedding starts, given (itos, dim, seed); None = PyTorch's random init.
EMBEDDINGS: dict[str, Callable[[Sequence[str], int, int], tuple[Tensor, float]] | None] = {
    "scratch": None,
    "navec": pretrained_matrix,
}
