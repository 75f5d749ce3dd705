"""Character n-gram (subword) vectors added to a classifier's word vectors, as fastText builds a word's vector.

TF-IDF's character n-grams are what put it ahead of every word-level recurrent model here (word n-grams alone
score 0.668 test macro-F1 against 0.715 with them), and a word-level classifier reads about one test token in
ten as <unk>. A `SubwordEmbedding` gives every token type, in the vocabulary or not, the mean of its character
n-grams' vectors on top of its word vector, so a misspelt, rare or unseen word still says what it is made of.

Token ids index a *type* table: the classifier's vocabulary first (its word vectors are trained), then every
other type of the corpus (strings only, never labels). Such a type has no trained word vector: it reads
navec's vector when navec has one (fixed) and <unk>'s otherwise. Only n-grams that occur in at least
`min_count` training tokens get a vector; the rest are left out of the mean.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from rnnlab.text.vocab import Vocab


def char_ngrams(word: str, low: int, high: int) -> list[str]:
    """The word's character n-grams, low <= n <= high, with '<' and '>' marking its start and end."""
    marked = f"<{word}>"
    return [marked[i: i + n] for n in range(low, high + 1) for i in range(len(marked) - n + 1)]


def type_vocab(vocab: Vocab, docs: Iterable[Sequence[str]]) -> Vocab:
    """`vocab`'s tokens in their order (ids unchanged), then every other type of `docs`, sorted."""
    known = set(vocab.itos)
    return Vocab(tuple(vocab.itos) + tuple(sorted({t for doc in docs for t in doc} - known)))


def ngram_vocab(train_docs: Iterable[Sequence[str]], low: int, high: int, min_count: int) -> dict[str, int]:
    """N-gram -> row (from 1; 0 is padding) for n-grams in at least `min_count` training tokens, sorted."""
    counts = Counter(g for doc in train_docs for token in doc for g in set(char_ngrams(token, low, high)))
    return {g: i for i, g in enumerate(sorted(g for g, c in counts.items() if c >= min_count), start=1)}


def ngram_index(itos: Sequence[str], ngrams: Mapping[str, int], low: int, high: int) -> Tensor:
    """(types, K) n-gram rows of every type, 0-padded; <pad> and <unk> have none."""
    rows = [[ngrams[g] for g in char_ngrams(t, low, high) if g in ngrams] if i >= 2 else []
            for i, t in enumerate(itos)]
    index = torch.zeros(len(itos), max(max(map(len, rows)), 1), dtype=torch.long)
    for i, row in enumerate(rows):
        index[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return index


class SubwordEmbedding(nn.Module):
    """Type ids (B, T) -> word vector + mean of the type's n-gram vectors (B, T, E).

    `word` embeds the first `words` types; `fixed` (types, E) and `has_fixed` (types,) give the other types
    navec's vectors where it has them. The n-gram vectors start at zero, so training starts from the word
    vectors alone.
    """

    def __init__(self, word: nn.Embedding, words: int, index: Tensor, n_ngrams: int,
                 fixed: Tensor, has_fixed: Tensor) -> None:
        super().__init__()
        if not (index.size(0) == fixed.size(0) == has_fixed.size(0)) or words > index.size(0):
            raise ValueError(f"{index.size(0)} types of n-grams, {fixed.size(0)} fixed vectors, {words} words")
        self.word = word
        word_of_type = torch.arange(index.size(0))
        word_of_type[words:] = 1  # <unk>
        self.register_buffer("word_of_type", word_of_type)
        self.register_buffer("index", index)
        self.register_buffer("fixed", fixed)
        self.register_buffer("has_fixed", has_fixed & (torch.arange(index.size(0)) >= words))
        self.ngrams = nn.EmbeddingBag(n_ngrams + 1, word.embedding_dim, mode="mean", padding_idx=0)
        nn.init.zeros_(self.ngrams.weight)

    def forward(self, types: Tensor) -> Tensor:
        unique, inverse = types.unique(return_inverse=True)  # each type's vectors once per batch
        words = self.word(self.word_of_type[unique])  # (U, E)
        words = torch.where(self.has_fixed[unique, None], self.fixed[unique], words)
        vectors = words + self.ngrams(self.index[unique])  # an empty bag (<pad>, <unk>) is zeros
        return vectors[inverse]  # (B, T, E)
