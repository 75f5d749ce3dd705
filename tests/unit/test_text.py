"""Tokenisation, stopwords, lemmas and stems of Russian social-media text."""

import dataclasses
import os
import random
from pathlib import Path

import nltk
import pytest

from rnnlab.text.tokenizer import (
    END_OF_TEXT,
    NEGATIONS,
    load_stopwords,
    tokenize,
    tokenize_texts,
)
from tests.configs import text_config

DEFAULT = text_config()


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


# Texts whose ends or starts a pattern could run across when texts are joined, one after another.
EDGES = [
    "[id12|Маша",  # a mention's bracket closed only in the next text
    "спасибо]",
    "see http://x.ru",  # a URL at the end: \\S+ must stop at the text's end
    "next/page",
    "vk.com",
    "ЗАХОДИ НА WWW.SITE.RU",  # the hints in capitals
    "ΣΑΣ",  # a final sigma lowercases as such at a text's end
    "ΣΑΣ",
    "ура)))",  # runs at the end and the start of the next
    ")))) ок",
    "жаль :",  # an emoticon split between texts
    ") вот",
    "кто-",  # a hyphenated word split between texts
    "то",
    "10",  # a number split between texts
    ",5 лет @",
    "id12345",
    "a\x00b :\x00)",  # a NUL inside a text
    "",
    "   ",
    "❗\ufe0f ✖\ufe0fwhat",
]


def split_at_ends(tokens: list[str]) -> list[list[str]]:
    docs = [[]]
    for token in tokens:
        if token == END_OF_TEXT:
            docs.append([])
        else:
            docs[-1].append(token)
    return docs


@pytest.mark.parametrize("flags", [{}, {"replace_urls": False}, {"replace_mentions": False}, {"lowercase": False}])
def test_texts_tokenized_together_give_each_texts_own_tokens(flags):
    cfg = dataclasses.replace(DEFAULT, **flags)
    rng = random.Random(3)
    texts = EDGES + [" ".join(rng.choices(EDGES, k=rng.randint(0, 4))) for _ in range(300)]
    expected = [tokenize(text, cfg) for text in texts]
    assert split_at_ends(tokenize_texts(texts, cfg)) == expected
    if cfg.replace_mentions:  # the first two texts as one would lose both words to a mention
        assert tokenize(" ".join(EDGES[:2]), cfg) == ["xxuser"] and "xxuser" not in expected[0] + expected[1]


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


def test_emoji_variation_selector_stays_a_token_as_with_nltk():
    # NLTK's RegexpTokenizer runs the `regex` engine, whose \w takes the mark U+FE0F; tokens must not change.
    assert tokenize("❗\ufe0f ✖\ufe0fwhat", DEFAULT) == ["❗", "\ufe0f", "✖", "\ufe0fwhat"]
