"""preprocess_texts: lemmas, stems, stopwords, the lemma cache and the worker processes."""

import os

import pytest
from nltk.stem.snowball import SnowballStemmer

import rnnlab.text.tokenizer
from rnnlab.text.lemmas import _morph, default_lemma_cache, read_lemma_cache
from rnnlab.text.preprocessing import MIN_TEXTS_FOR_WORKERS, preprocess_texts
from tests.configs import text_config


def cfg(**changes):
    return text_config(**{"remove_stopwords": False, **changes})


def test_lemmatisation():
    docs = preprocess_texts(["Кошки бежали", "собаки лаяли"], cfg(normalize="lemma"), frozenset())
    assert docs == ["кошка бежать", "собака лаять"]


def test_placeholders_and_emoticons_pass_through_lemmatisation():
    docs = preprocess_texts(["https://x.ru кошки :) 5"], cfg(normalize="lemma"), frozenset())
    assert docs == ["xxurl кошка :) xxnum"]


def test_no_texts_give_no_documents():
    assert preprocess_texts([], cfg(normalize="lemma"), frozenset(), workers=2) == []


def test_stemming():
    stemmer = SnowballStemmer("russian")
    docs = preprocess_texts(["Кошки бежали !!!"], cfg(normalize="stem"), frozenset())
    assert docs == [f"{stemmer.stem('кошки')} {stemmer.stem('бежали')} !!!"]
    assert not docs[0].startswith("кошки бежали")


def test_normalize_none_keeps_tokens():
    assert preprocess_texts(["Кошки бежали"], cfg(normalize="none"), frozenset()) == ["кошки бежали"]


@pytest.mark.parametrize(
    ("remove", "expected"),
    [(True, ["кошка собака", "кошка"]), (False, ["кошка и собака", "и кошка"])],
)
def test_stopwords_removed_only_when_asked(remove, expected):
    stopwords = frozenset({"и", "в"})
    docs = preprocess_texts(["кошки и собаки", "и кошки"], cfg(remove_stopwords=remove), stopwords)
    assert docs == expected


def test_stopword_removal_leaves_empty_doc():
    assert preprocess_texts(["и в"], cfg(remove_stopwords=True), frozenset({"и", "в"})) == [""]


def test_workers_give_the_same_documents_and_cache_as_one_process(tmp_path):
    words = []
    for word, *_ in _morph().dictionary.iter_known_words():  # real inflected forms, offline
        if "-" not in word:
            words.append(word)
        if len(words) == 5 * 2 * MIN_TEXTS_FOR_WORKERS + 5:  # enough texts for two workers
            break
    texts = [" ".join(words[i : i + 5]) for i in range(0, len(words), 5)]
    one = preprocess_texts(texts, cfg(normalize="lemma"), frozenset(), tmp_path / "one.tsv", workers=1)
    two = preprocess_texts(texts, cfg(normalize="lemma"), frozenset(), tmp_path / "two.tsv", workers=2)
    assert two == one
    assert read_lemma_cache(tmp_path / "two.tsv") == read_lemma_cache(tmp_path / "one.tsv")
    forms = [form for doc in two for form in doc.split()]
    assert len(two) == len(texts) and len(forms) == len(words)
    assert sum(w != f for w, f in zip(words, forms, strict=True)) > len(words) // 2


def test_lemma_cache_is_filled_then_used(tmp_path):
    cache = tmp_path / "lemmas.tsv"
    assert preprocess_texts(["Кошки бежали"], cfg(), frozenset(), cache) == ["кошка бежать"]
    assert read_lemma_cache(cache) == {"кошки": "кошка", "бежали": "бежать"}
    cache.write_text("кошки\tкот\n", encoding="utf-8")  # a planted entry shows that lookups replace parsing
    assert preprocess_texts(["Кошки лаяли"], cfg(), frozenset(), cache) == ["кот лаять"]
    assert read_lemma_cache(cache) == {"кошки": "кот", "лаяли": "лаять"}  # new tokens are added


def test_stems_leave_the_lemma_cache_alone(tmp_path):
    cache = tmp_path / "lemmas.tsv"
    preprocess_texts(["Кошки бежали"], cfg(normalize="stem"), frozenset(), cache)
    assert not cache.exists()


@pytest.mark.parametrize(
    ("content", "at_fault"),
    [(b"\xd0", ""), (b"\xd0\xba\t\xd0\xba\n\xff", ""), ("а\tа\nкошки\n".encode(), ":2"),
     ("а\tа\nб\tб\tб\n".encode(), ":2"), ("\tкошка\n".encode(), ":1"), ("кошки\t\n".encode(), ":1")],
)
def test_broken_lemma_cache_is_reported_and_rebuilt(tmp_path, content, at_fault):
    cache = tmp_path / "lemmas.tsv"
    cache.write_bytes(content)
    with pytest.warns(UserWarning, match=f"{cache}{at_fault}: "):
        docs = preprocess_texts(["Кошки"], cfg(), frozenset(), cache)
    assert docs == ["кошка"]
    assert read_lemma_cache(cache) == {"кошки": "кошка"}


def test_lemma_cache_location_names_the_versions(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNLAB_CACHE_DIR", str(tmp_path))
    path = default_lemma_cache()
    assert path.parent == tmp_path and path.name.startswith("lemmas-pymorphy3-2.0.6-dicts-ru-")
    monkeypatch.setenv("RNNLAB_CACHE_DIR", "off")
    assert default_lemma_cache() is None


def _fail(token: str) -> str:
    raise ValueError(f"cannot normalise {token!r}")


def _die(token: str) -> str:
    os._exit(3)


def test_a_workers_error_is_raised_with_its_message(monkeypatch):
    monkeypatch.setitem(rnnlab.text.lemmas.NORMALIZERS, "none", _fail)  # the forked workers inherit it
    texts = ["кошки"] * (2 * MIN_TEXTS_FOR_WORKERS)
    with pytest.raises(RuntimeError, match="ValueError: cannot normalise 'а'"):
        preprocess_texts(texts, cfg(normalize="none"), frozenset(), workers=2)


def test_a_worker_that_dies_is_reported_not_waited_for(monkeypatch):
    monkeypatch.setitem(rnnlab.text.lemmas.NORMALIZERS, "none", _die)
    with pytest.raises(RuntimeError, match="exited without an answer"):
        preprocess_texts(["кошки"] * (2 * MIN_TEXTS_FOR_WORKERS), cfg(normalize="none"), frozenset(), workers=2)
