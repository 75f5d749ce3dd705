"""The lemmatiser gives pymorphy3's `parse(word)[0].normal_form` for every kind of word it takes."""

import random

import pymorphy3
import pytest

from rnnlab.text.lemmas import WORD_RE, Lemmatizer, _lemmatizer, _morph, pymorphy3_lemma

LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"


@pytest.mark.parametrize(
    ("word", "lemma"),
    [
        ("кошки", "кошка"),  # a dictionary word with one analysis
        ("стали", "стать"),  # several analyses: P(t|w) ranks стать above сталь
        ("ели", "есть"),
        ("елка", "ёлка"),  # е written for ё: the dictionary's spelling comes back
        ("темно-синего", "тёмно-синий"),  # a hyphenated dictionary word
        ("алёхиной", "алёхин"),  # not in the dictionary, yet P(t|w) has entries: pymorphy3 ranks the guesses
        ("псевдокошки", "псевдокошка"),  # a known prefix over a dictionary word
        ("байткодом", "байткод"),  # an unknown prefix over a dictionary word
        ("хахаха", "хахах"),  # guessed from the ending
        ("ыыы", "ыыы"),  # nothing to go on: the word itself
        ("сказала-то", "сказать-то"),  # a particle after a hyphen: pymorphy3 itself
        ("пол-яблока", "пол-яблоко"),
    ],
)
def test_each_kind_of_word_gets_pymorphy3s_lemma(word, lemma):
    assert _lemmatizer()(word) == lemma == pymorphy3_lemma(_morph(), word)


def words_like_the_dictionarys(n: int, seed: int) -> list[str]:
    """Dictionary forms as they are, prefixed, with a letter changed, with ё as е, or stretched: most unknown."""
    rng = random.Random(seed)
    known = [word for word, *_ in _morph().dictionary.iter_known_words()]
    words = set()
    for word in rng.sample(known, n):
        kind = rng.randrange(5)
        if kind == 1:
            word = "".join(rng.choices(LETTERS, k=rng.randint(1, 4))) + word
        elif kind == 2:
            word = word[:-1] + rng.choice(LETTERS)
        elif kind == 3:
            word = word.replace("ё", "е")
        elif kind == 4:
            word += word[-1] * rng.randint(1, 3)
        words.add(word)
    return sorted(word for word in words if WORD_RE.fullmatch(word))


def test_thousands_of_known_and_made_up_words_get_pymorphy3s_lemma():
    morph = pymorphy3.MorphAnalyzer()  # a second analyzer: the reference shares no state with the lemmatiser's
    words = words_like_the_dictionarys(20_000, seed=7)
    unknown = [w for w in words if not morph.word_is_known(w, morph.char_substitutes)]
    assert len(words) > 19_000 and len(unknown) > 5_000  # both paths are exercised
    differing = [(w, lemma, pymorphy3_lemma(morph, w)) for w in words if (lemma := _lemmatizer()(w)) != pymorphy3_lemma(morph, w)]
    assert differing == []


def test_a_dictionary_without_tag_probabilities_is_refused():
    with pytest.raises(ValueError, match="no P\\(t\\|w\\) estimates"):
        Lemmatizer(pymorphy3.MorphAnalyzer(probability_estimator_cls=None))
