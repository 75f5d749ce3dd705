"""Tokenisation, stopwords, lemmas and stems of Russian social-media text."""

import dataclasses
import os
from pathlib import Path

import nltk
import pytest
from nltk.stem.snowball import SnowballStemmer

from rnnlab.config import PreprocessConfig
from rnnlab.text import NEGATIONS, _morph, load_stopwords, normal_forms, preprocess_texts, tokenize

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


def test_normal_forms_in_workers_match_one_process():
    words, seen = [], set()
    for word, *_ in _morph().dictionary.iter_known_words():  # real inflected forms, offline
        if "-" not in word and word not in seen:
            seen.add(word)
            words.append(word)
        if len(words) == 20_500:  # over the 20,000 at which workers start
            break
    words.sort()
    one = normal_forms(words, "lemma", workers=1)
    two = normal_forms(words, "lemma", workers=2)
    assert list(two) == words
    assert two == one
    assert sum(word != form for word, form in one.items()) > len(words) // 2  # most are inflected


def test_normal_forms_none_is_identity():
    assert normal_forms(["кошки", ":)"], "none", workers=2) == {"кошки": "кошки", ":)": ":)"}
