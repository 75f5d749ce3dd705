"""Tokenisation, stopwords, lemmas and stems of Russian social-media text."""

import dataclasses
import os
from pathlib import Path

import nltk
import pytest
from nltk.stem.snowball import SnowballStemmer

from rnnlab.config import PreprocessConfig
from rnnlab.lemmas import default_lemma_cache, read_lemma_cache
from rnnlab.text import MIN_TEXTS_FOR_WORKERS, NEGATIONS, _morph, load_stopwords, preprocess_texts, tokenize

DEFAULT = PreprocessConfig()


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Смотри https://example.com/page?x=1 тут", ["смотри", "xxurl", "тут"]),
        ("заходи на www.site.ru/news", ["заходи", "на", "xxurl"]),
        ("vk.com/club1 и mail.ru", ["xxurl", "и", "xxurl"]),
        ("@ivan_petrov привет", ["xxuser", "привет"]),
        ("[id123|Маша], спасибо", ["xxuser", "спасибо"]),
        ("Мне 25 лет", ["мне", "xxnum", "лет"]),
        ("3,5 балла из 10.0", ["xxnum", "балла", "из", "xxnum"]),
        ("Привет :)", ["привет", ":)"]),
        ("жаль :-(", ["жаль", ":-("]),
        ("ха ;D", ["ха", ";d"]),
        ("ура)))))))", ["ура", ")))"]),
        ("эх((((", ["эх", "((("]),
        ("ну ))", ["ну", "))"]),
        ("круто!!!", ["круто", "!!!"]),
        ("что?!!!!!", ["что", "?!!!"]),  # a mixed run is one token, cut to three repeats
        ("Кто-то сказал что-нибудь", ["кто-то", "сказал", "что-нибудь"]),
        ("ПРИВЕТ Мир", ["привет", "мир"]),
        ("Ёлка, ёж.", ["ёлка", "ёж"]),
        ("", []),
    ],
)
def test_tokenize(text, tokens):
    assert tokenize(text, DEFAULT) == tokens


@pytest.mark.parametrize(
    ("flags", "text", "tokens"),
    [
        ({"lowercase": False}, "ПРИВЕТ Мир", ["ПРИВЕТ", "Мир"]),
        ({"replace_mentions": False}, "@ivan привет", ["ivan", "привет"]),
        ({"replace_numbers": False}, "мне 25 лет", ["мне", "лет"]),
        ({"replace_urls": False}, "see example.com", ["see", "example", "com"]),
    ],
)
def test_tokenize_flags(flags, text, tokens):
    assert tokenize(text, dataclasses.replace(DEFAULT, **flags)) == tokens


@pytest.fixture
def nltk_dir(tmp_path, monkeypatch) -> Path:
    """A tiny nltk_data folder; private to its owner, as NLTK demands."""
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))  # load_stopwords adds to it
    root = tmp_path / "nltk_data"
    (root / "corpora" / "stopwords").mkdir(parents=True)
    (root / "corpora" / "stopwords" / "russian").write_text("и\nв\nне\nнет\nна\nбез\n", encoding="utf-8")
    for path in [root, *root.rglob("*")]:
        os.chmod(path, path.stat().st_mode & ~0o022)
    return root


@pytest.mark.parametrize(
    ("keep_negations", "expected"),
    [(True, {"и", "в", "на"}), (False, {"и", "в", "не", "нет", "на", "без"})],
)
def test_load_stopwords(nltk_dir, keep_negations, expected):
    assert load_stopwords(nltk_dir, keep_negations) == expected
    assert str(nltk_dir.resolve()) in nltk.data.path


def test_negations_hold_the_common_ones():
    assert {"не", "нет", "ни"} <= NEGATIONS


def cfg(**changes) -> PreprocessConfig:
    return dataclasses.replace(DEFAULT, **{"remove_stopwords": False, "workers": 1, **changes})


def test_lemmatisation():
    docs = preprocess_texts(["Кошки бежали", "собаки лаяли"], cfg(normalize="lemma"), frozenset())
    assert docs == [["кошка", "бежать"], ["собака", "лаять"]]


def test_placeholders_and_emoticons_pass_through_lemmatisation():
    docs = preprocess_texts(["https://x.ru кошки :) 5"], cfg(normalize="lemma"), frozenset())
    assert docs == [["xxurl", "кошка", ":)", "xxnum"]]


def test_no_texts_give_no_documents():
    assert preprocess_texts([], cfg(normalize="lemma", workers=2), frozenset()) == []


def test_stemming():
    stemmer = SnowballStemmer("russian")
    docs = preprocess_texts(["Кошки бежали !!!"], cfg(normalize="stem"), frozenset())
    assert docs == [[stemmer.stem("кошки"), stemmer.stem("бежали"), "!!!"]]
    assert docs[0][:2] != ["кошки", "бежали"]


def test_normalize_none_keeps_tokens():
    assert preprocess_texts(["Кошки бежали"], cfg(normalize="none"), frozenset()) == [["кошки", "бежали"]]


@pytest.mark.parametrize(
    ("remove", "expected"),
    [(True, [["кошка", "собака"], ["кошка"]]), (False, [["кошка", "и", "собака"], ["и", "кошка"]])],
)
def test_stopwords_removed_only_when_asked(remove, expected):
    stopwords = frozenset({"и", "в"})
    docs = preprocess_texts(["кошки и собаки", "и кошки"], cfg(remove_stopwords=remove), stopwords)
    assert docs == expected


def test_stopword_removal_leaves_empty_doc():
    assert preprocess_texts(["и в"], cfg(remove_stopwords=True), frozenset({"и", "в"})) == [[]]


def test_emoji_variation_selector_stays_a_token_as_with_nltk():
    # NLTK's RegexpTokenizer runs the `regex` engine, whose \w takes the mark U+FE0F; tokens must not change.
    assert tokenize("❗\ufe0f ✖\ufe0fwhat", DEFAULT) == ["❗", "\ufe0f", "✖", "\ufe0fwhat"]


def test_workers_give_the_same_documents_as_one_process():
    words = []
    for word, *_ in _morph().dictionary.iter_known_words():  # real inflected forms, offline
        if "-" not in word:
            words.append(word)
        if len(words) == 5 * 2 * MIN_TEXTS_FOR_WORKERS + 5:  # enough texts for two workers
            break
    texts = [" ".join(words[i : i + 5]) for i in range(0, len(words), 5)]
    one = preprocess_texts(texts, cfg(normalize="lemma", workers=1), frozenset())
    two = preprocess_texts(texts, cfg(normalize="lemma", workers=2), frozenset())
    assert two == one
    assert len(two) == len(texts) and sum(map(len, two)) == len(words)
    assert sum(w != f for w, f in zip(words, (f for doc in one for f in doc), strict=True)) > len(words) // 2


def test_lemma_cache_is_filled_then_used(tmp_path):
    cache = tmp_path / "lemmas.json"
    assert preprocess_texts(["Кошки бежали"], cfg(), frozenset(), cache) == [["кошка", "бежать"]]
    assert read_lemma_cache(cache) == {"кошки": "кошка", "бежали": "бежать"}
    cache.write_text('{"кошки": "кот"}', encoding="utf-8")  # a planted entry shows that lookups replace parsing
    assert preprocess_texts(["Кошки лаяли"], cfg(), frozenset(), cache) == [["кот", "лаять"]]
    assert read_lemma_cache(cache) == {"кошки": "кот", "лаяли": "лаять"}  # new tokens are added


def test_stems_leave_the_lemma_cache_alone(tmp_path):
    cache = tmp_path / "lemmas.json"
    preprocess_texts(["Кошки бежали"], cfg(normalize="stem"), frozenset(), cache)
    assert not cache.exists()


@pytest.mark.parametrize("content", ['{"кошки": ', '["кошки"]', '{"кошки": 1}'])
def test_broken_lemma_cache_is_reported_and_rebuilt(tmp_path, content):
    cache = tmp_path / "lemmas.json"
    cache.write_text(content, encoding="utf-8")
    with pytest.warns(UserWarning, match=str(cache)):
        docs = preprocess_texts(["Кошки"], cfg(), frozenset(), cache)
    assert docs == [["кошка"]]
    assert read_lemma_cache(cache) == {"кошки": "кошка"}


def test_lemma_cache_location_names_the_versions(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNLAB_CACHE_DIR", str(tmp_path))
    path = default_lemma_cache()
    assert path.parent == tmp_path and path.name.startswith("lemmas-pymorphy3-2.0.6-dicts-ru-")
    monkeypatch.setenv("RNNLAB_CACHE_DIR", "off")
    assert default_lemma_cache() is None
