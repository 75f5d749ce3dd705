"""Encoding splits into padded tensors, and the batch orders: shuffled, bucketed, ordered."""

import pytest
import torch

from rnnlab.text.batching import (
    bucketed_batches,
    encode_split,
    iterate,
    ordered_batches,
    shuffled_batches,
)
from rnnlab.text.vocab import Vocab

VOCAB = Vocab(("<pad>", "<unk>", "a", "b", "c"))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_lengths(n: int, seed: int = 0, high: int = 60) -> torch.Tensor:
    return torch.randint(1, high, (n,), generator=gen(seed))


def covered(batches: list[torch.Tensor]) -> list[int]:
    return sorted(torch.cat(batches).tolist())


def test_encode_split():
    split = encode_split([["a", "b", "c", "a"], [], ["zzz"], ["b", "a"]], [2, 0, 1, 0], VOCAB, max_len=3)
    assert split.tokens.tolist() == [[2, 3, 4], [1, 0, 0], [1, 0, 0], [3, 2, 0]]
    assert split.lengths.tolist() == [3, 1, 1, 2]
    assert split.labels.tolist() == [2, 0, 1, 0]
    assert split.tokens.dtype == split.lengths.dtype == split.labels.dtype == torch.long
    assert len(split) == 4


def test_encode_split_width_is_longest_kept_text():
    split = encode_split([["a"], ["a", "b"]], [0, 1], VOCAB, max_len=10)
    assert split.tokens.shape == (2, 2)


def test_batch_trims_to_longest_in_batch():
    split = encode_split([["a"] * 5, ["b"], ["c", "c"], ["a"] * 3], [0, 1, 0, 1], VOCAB, max_len=10)
    tokens, lengths, labels = split.batch(torch.tensor([1, 2]))
    assert tokens.tolist() == [[3, 0], [4, 4]]
    assert lengths.tolist() == [1, 2]
    assert labels.tolist() == [1, 0]
    assert [t.shape[1] for t, _, _ in iterate(split, [torch.tensor([0, 1]), torch.tensor([3])])] == [5, 3]


@pytest.mark.parametrize(("n", "batch_size", "seed"), [(1, 4, 0), (100, 8, 1), (1000, 32, 2), (257, 16, 3)])
def test_bucketed_batches_cover_every_index_once(n, batch_size, seed):
    batches = bucketed_batches(random_lengths(n, seed), batch_size, gen(seed))
    assert covered(batches) == list(range(n))


@pytest.mark.parametrize(("batch_size", "seed"), [(4, 0), (16, 1), (64, 2)])
def test_bucketed_batches_stay_within_token_budget(batch_size, seed):
    lengths = torch.cat([random_lengths(500, seed), torch.tensor([400, 300])])  # two outliers
    budget = batch_size * float(lengths.float().mean())
    batches = bucketed_batches(lengths, batch_size, gen(seed))
    for batch in batches:
        assert len(batch) <= 4 * batch_size
        if len(batch) > 1:
            assert len(batch) * int(lengths[batch].max()) <= budget
    singles = [b for b in batches if len(b) == 1 and int(lengths[b].max()) * 1 > budget]
    assert all(int(lengths[b]) >= 300 for b in singles)  # only an outlier may exceed the budget


def test_short_texts_travel_in_larger_batches():
    lengths = torch.tensor([2] * 300 + [50] * 300)
    batches = bucketed_batches(lengths, 8, gen(0))
    short = [len(b) for b in batches if int(lengths[b].max()) == 2]
    long = [len(b) for b in batches if int(lengths[b].min()) == 50]
    assert short and long
    assert min(short) > max(long)


def test_bucketed_batches_group_similar_lengths():
    lengths = random_lengths(2000, 5, high=100)
    spread = [int(lengths[b].max() - lengths[b].min()) for b in bucketed_batches(lengths, 16, gen(5))]
    shuffled = [int(lengths[b].max() - lengths[b].min()) for b in shuffled_batches(2000, 16, gen(5))]
    assert sum(spread) / len(spread) < sum(shuffled) / len(shuffled) / 5


def test_bucketed_batches_same_seed_same_batches():
    lengths = random_lengths(300)
    first = bucketed_batches(lengths, 8, gen(7))
    again = bucketed_batches(lengths, 8, gen(7))
    other = bucketed_batches(lengths, 8, gen(8))
    assert [b.tolist() for b in first] == [b.tolist() for b in again]
    assert [b.tolist() for b in first] != [b.tolist() for b in other]


@pytest.mark.parametrize(("n", "batch_size"), [(10, 3), (64, 64), (5, 10)])
def test_shuffled_batches(n, batch_size):
    batches = shuffled_batches(n, batch_size, gen(0))
    assert covered(batches) == list(range(n))
    assert [len(b) for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
    assert len(batches) == -(-n // batch_size)


def test_shuffled_batches_depend_on_seed():
    assert torch.cat(shuffled_batches(50, 7, gen(1))).tolist() != torch.cat(shuffled_batches(50, 7, gen(2))).tolist()


def test_ordered_batches_sorted_by_length():
    lengths = torch.tensor([5, 1, 3, 3, 9, 1, 2])
    batches = ordered_batches(lengths, 3)
    order = torch.cat(batches)
    assert sorted(order.tolist()) == list(range(7))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert lengths[order].tolist() == sorted(lengths.tolist())
    assert order.tolist()[:2] == [1, 5]  # equal lengths keep their original order
