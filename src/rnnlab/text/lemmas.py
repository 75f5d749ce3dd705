"""Normal forms of Russian words: pymorphy3 lemmas (computed without its overheads, cached), Snowball stems."""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from functools import lru_cache, partial
from importlib.metadata import version
from pathlib import Path

from nltk.stem.snowball import SnowballStemmer

from rnnlab.data.files import atomic_path

# The words that get a lemma: lowercase Cyrillic, hyphenated or not; other tokens pass through unchanged.
WORD_RE = re.compile(r"[а-яё]+(?:-[а-яё]+)*")


def pymorphy3_lemma(morph, word: str) -> str:
    """The reference: `morph.parse(word)[0].normal_form`, the most probable analysis's normal form."""
    return morph.parse(word)[0].normal_form


class Lemmatizer:
    """`pymorphy3_lemma` for words matching WORD_RE: the same lemma, without pymorphy3's overheads.

    pymorphy3 builds a Parse (tag, normal form, score) for every analysis each unit finds, then sorts
    them by P(tag | word), stably. Here only the winner's normal form is built:

    - a dictionary word ends the search at the dictionary: the first of its most probable analyses,
      or the first analysis when none has a probability;
    - any other word without a hyphen and without P(t|w) entries keeps the units' order, so the
      first guess of the first unit that guesses wins: a known prefix, then an unknown prefix over a
      dictionary word, then the word's ending, else the word itself;
    - the rest (hyphenated words, words with P(t|w) entries) go through pymorphy3 itself.
    """

    def __init__(self, morph) -> None:
        from pymorphy3 import units  # imported lazily, as the analyzer is
        from pymorphy3.utils import word_splits  # the unknown-prefix unit's splits

        if morph.prob_estimator is None:
            raise ValueError(f"{morph.dictionary.path}: the dictionary has no P(t|w) estimates; use pymorphy3_lemma")
        self._morph = morph
        dictionary = morph.dictionary
        self._words, self._substitutes = dictionary.words, morph.char_substitutes
        self._probs = morph.prob_estimator.p_t_given_w
        self._paradigms, self._prefixes, self._suffixes = dictionary.paradigms, dictionary.paradigm_prefixes, dictionary.suffixes
        self._tags = [str(tag) for tag in dictionary.gramtab]
        self._productive = [tag.is_productive() for tag in dictionary.gramtab]
        canonical: dict = {}  # tags compare by their grammemes: one id for each group of equal tags
        self._tag_keys = [canonical.setdefault(tag, i) for i, tag in enumerate(dictionary.gramtab)]
        self._suffix_dawgs = dictionary.prediction_suffixes_dawgs
        # A plain lowercase Cyrillic word gets nothing from the number, punctuation, Latin, initials
        # and hyphen units, so a copy without them parses it alike; a known prefix's remainder is parsed by the copy.
        kept = (units.DictionaryAnalyzer, units.KnownPrefixAnalyzer, units.UnknownPrefixAnalyzer,
                units.KnownSuffixAnalyzer, units.UnknAnalyzer)
        # The copy shares the dictionaries, and its units are bound to it. Not copy.copy: MorphAnalyzer's
        # __reduce__ rebuilds the analyzer from its path, reading every dictionary again.
        self._plain = object.__new__(type(morph))
        self._plain.__dict__.update(vars(morph))
        self._plain._init_units(_keep_units(morph._units_unbound, kept))
        bound = {type(unit): unit for unit, _ in self._plain._units}
        self._known_prefix, self._known_suffix = bound[units.KnownPrefixAnalyzer], bound[units.KnownSuffixAnalyzer]
        self._word_splits = word_splits

    def __call__(self, word: str) -> str:
        found = self._words.similar_items(word, self._substitutes)  # [(spelling with ё restored, ((paradigm, index), ...))]
        if found:
            return self._most_probable(word, found)
        if "-" in word:
            return pymorphy3_lemma(self._morph, word)
        if self._probs.has_keys_with_prefix(f"{word}:"):  # P(t|w) would reorder the guesses
            return pymorphy3_lemma(self._plain, word)
        return self._first_guess(word)

    def _most_probable(self, word: str, found: list) -> str:
        if len(found) == 1 and len(found[0][1]) == 1:  # one analysis, nothing to rank: half the words
            (fixed_word, ((para_id, idx),)), = found
            return self._normal_form(fixed_word, para_id, idx)
        best, best_prob = None, -1
        for fixed_word, analyses in found:
            for para_id, idx in analyses:
                prob = self._probs.get(f"{word}:{self._tags[self._tag_id(para_id, idx)]}", 0)
                if prob > best_prob:
                    best, best_prob = (fixed_word, para_id, idx), prob
        return self._normal_form(*best)

    def _first_guess(self, word: str) -> str:
        guesses = self._known_prefix.parse(word, word, set())
        if guesses:
            return guesses[0][2]  # (word, tag, normal form, score, methods)
        for prefix, rest in self._word_splits(word):
            for fixed_word, analyses in self._words.similar_items(rest, self._substitutes):
                for para_id, idx in analyses:
                    if self._productive[self._tag_id(para_id, idx)]:
                        return prefix + self._normal_form(fixed_word, para_id, idx)
        return self._suffix_guess(word)

    def _suffix_guess(self, word: str) -> str:
        """The known-suffix unit's first parse's normal form, without building or sorting the other parses.

        The unit counts, over the paradigm prefixes the word starts with and its endings from the
        longest, how often each productive analysis of the ending occurs; a parse's score is its count
        over its prefix's total (plus one), and the stable sort puts the first of the best first.
        """
        unit = self._known_suffix
        if len(word) < unit.min_word_length:
            return word
        totals = [1] * len(self._prefixes)
        found, seen = [], set()  # found: (count, prefix id, fixed word, paradigm id, form index)
        for prefix_id, prefix in unit._paradigm_prefixes:
            if not word.startswith(prefix):
                continue
            suffixes = self._suffix_dawgs[prefix_id]
            for i in unit._prediction_splits:
                start = word[:-i]
                for fixed_suffix, parses in suffixes.similar_items(word[-i:], self._substitutes):
                    fixed_word = start + fixed_suffix
                    for count, para_id, idx in parses:
                        tag_id = self._tag_id(para_id, idx)
                        if not self._productive[tag_id]:
                            continue
                        totals[prefix_id] += count
                        key = (fixed_word, self._tag_keys[tag_id], para_id)  # the unit's duplicate check
                        if key not in seen:
                            seen.add(key)
                            found.append((count, prefix_id, fixed_word, para_id, idx))
                if totals[prefix_id] > 1:
                    break
        if not found:
            return word
        _, _, fixed_word, para_id, idx = max(found, key=lambda f: f[0] / totals[f[1]] * unit.score_multiplier)
        return self._normal_form(fixed_word, para_id, idx)

    def _tag_id(self, para_id: int, idx: int) -> int:
        paradigm = self._paradigms[para_id]  # suffix ids, tag ids, prefix ids: n each
        return paradigm[len(paradigm) // 3 + idx]

    def _normal_form(self, fixed_word: str, para_id: int, idx: int) -> str:
        """The paradigm's first form: the word with its prefix and suffix swapped for the first form's."""
        if idx == 0:
            return fixed_word
        paradigm = self._paradigms[para_id]
        n = len(paradigm) // 3
        prefix, suffix = self._prefixes[paradigm[2 * n + idx]], self._suffixes[paradigm[idx]]
        stem = fixed_word[len(prefix) : len(fixed_word) - len(suffix)]
        return self._prefixes[paradigm[2 * n]] + stem + self._suffixes[paradigm[0]]


def _keep_units(unbound: list, kept: tuple[type, ...]) -> list:
    """pymorphy3's unit list (a group is a list, terminal after its last unit) with only `kept` units."""
    result = []
    for item in unbound:
        group = [unit for unit in (item if isinstance(item, list | tuple) else [item]) if isinstance(unit, kept)]
        if group:
            result.append(group if isinstance(item, list | tuple) else group[0])
    return result


def default_lemma_cache() -> Path | None:
    """The lemma cache file under $RNNLAB_CACHE_DIR (default ~/.cache/rnnlab); None when it is 'off'."""
    root = os.environ.get("RNNLAB_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rnnlab"
    if str(root) == "off":
        return None
    # A lemma depends only on the token, the rule above and pymorphy3 with its dictionary.
    rule = hashlib.sha1(WORD_RE.pattern.encode()).hexdigest()[:8]
    return Path(root) / f"lemmas-pymorphy3-{version('pymorphy3')}-dicts-ru-{version('pymorphy3-dicts-ru')}-{rule}.tsv"


# The cache holds a `token<TAB>lemma` line per token (neither holds white space): written and read
# back several times faster than JSON, which matters as every first run writes it.
def write_lemma_cache(path: Path, lemmas: dict[str, str]) -> None:
    """Save `lemmas` atomically, one `token<TAB>lemma` line each."""
    text = "\n".join(map("\t".join, lemmas.items()))
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n" if text else "", encoding="utf-8")


def read_lemma_cache(path: Path) -> dict[str, str]:
    """Lemmas saved by earlier runs; a damaged cache is reported, naming the line at fault, and ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as err:
        warnings.warn(f"{path}: unreadable lemma cache, lemmatising from scratch ({err})", stacklevel=2)
        return {}
    try:
        cached = dict(map(partial(str.split, sep="\t"), lines))  # fails unless every line splits in two
    except ValueError:
        cached = None
    if cached is None or "" in cached or "" in cached.values():
        number = next(n for n, line in enumerate(lines, 1) if len(fields := line.split("\t")) != 2 or not all(fields))
        warnings.warn(f"{path}:{number}: not a token<TAB>lemma line, lemmatising from scratch", stacklevel=2)
        return {}
    return cached


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3  # imported lazily, as the dictionaries load on the first call
    import pymorphy3_dicts_ru

    # The path that pymorphy3 would find, given: its search reads every installed package's entry points.
    path = os.environ.get(pymorphy3.MorphAnalyzer.DICT_PATH_ENV_VARIABLE) or pymorphy3_dicts_ru.get_path()
    return pymorphy3.MorphAnalyzer(path)


@lru_cache(maxsize=1)
def _lemmatizer() -> Lemmatizer:
    return Lemmatizer(_morph())


def lemma(token: str) -> str:
    """pymorphy3's most probable normal form for a Cyrillic word; other tokens unchanged."""
    if not WORD_RE.fullmatch(token):
        return token
    return _lemmatizer()(token)


def stem(token: str) -> str:
    """Snowball stem for a Cyrillic word; other tokens unchanged."""
    if not WORD_RE.fullmatch(token):
        return token
    return _stemmer().stem(token)


@lru_cache(maxsize=1)
def _stemmer() -> SnowballStemmer:
    return SnowballStemmer("russian")


# The preprocess stage's `normalize` choices.
NORMALIZERS = {"lemma": lemma, "stem": stem, "none": str}
