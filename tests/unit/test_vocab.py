"""Vocabulary: frequency order, cut-offs, special ids and its JSON round trip."""

import pytest

from rnnlab.text.vocab import PAD, UNK, Vocab, build_vocab

DOCS = [["b", "a", "c"], ["a", "b", "d"], ["a", "e"], ["c"]]  # a:3, b:2, c:2, d:1, e:1


@pytest.mark.parametrize(
    ("max_size", "min_freq", "itos"),
    [
        (100, 1, (PAD, UNK, "a", "b", "c", "d", "e")),  # ties broken alphabetically
        (100, 2, (PAD, UNK, "a", "b", "c")),
        (100, 3, (PAD, UNK, "a")),
        (100, 4, (PAD, UNK)),
        (4, 1, (PAD, UNK, "a", "b")),  # max_size counts the two special tokens
        (2, 1, (PAD, UNK)),
        (1, 1, (PAD, UNK)),
    ],
)
def test_build_vocab(max_size, min_freq, itos):
    assert build_vocab(DOCS, max_size=max_size, min_freq=min_freq).itos == itos


def test_tie_order_ignores_document_order():
    assert build_vocab(DOCS[::-1], 100, 1) == build_vocab(DOCS, 100, 1)
    assert build_vocab([["я", "ё", "а"]], 100, 1).itos[2:] == tuple(sorted(["я", "ё", "а"]))


def test_build_vocab_accepts_a_generator():
    assert build_vocab((doc for doc in DOCS), 100, 2).itos == (PAD, UNK, "a", "b", "c")


def test_special_ids():
    vocab = build_vocab(DOCS, 100, 1)
    assert vocab.stoi[PAD] == 0
    assert vocab.stoi[UNK] == 1
    assert len(vocab) == 7


def test_encode_maps_unknown_to_one_and_decode_inverts():
    vocab = build_vocab(DOCS, 100, 2)
    ids = vocab.encode(["a", "zzz", "c", "d"])
    assert ids == [2, 1, 4, 1]  # d is below min_freq, so unknown too
    assert vocab.decode(ids) == ["a", UNK, "c", UNK]


def test_save_load_round_trip(tmp_path):
    vocab = build_vocab([["кошка", "пёс", "кошка"], ["ёж", ":)"]], 100, 1)
    path = tmp_path / "sub" / "vocab.json"
    vocab.save(path)
    loaded = Vocab.load(path)
    assert loaded == vocab
    assert loaded.stoi == vocab.stoi
    assert "кошка" in path.read_text(encoding="utf-8")  # readable JSON, not escaped


@pytest.mark.parametrize("itos", [("a", PAD, UNK), (UNK, PAD), (PAD,), ()])
def test_vocab_must_start_with_specials(itos):
    with pytest.raises(ValueError, match="must start with"):
        Vocab(itos)
