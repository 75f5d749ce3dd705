"""Russian text preprocessing: normalise, tokenize, drop stopwords, lemmatize or stem."""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import nltk
import regex
from nltk.corpus.reader import WordListCorpusReader
from nltk.stem.snowball import SnowballStemmer

from rnnlab.config import PreprocessConfig
from rnnlab.files import write_json
from rnnlab.lemmas import WORD_RE, Lemmatizer, read_lemma_cache

URL, USER, NUM = "xxurl", "xxuser", "xxnum"
PLACEHOLDERS = frozenset({URL, USER, NUM})
# Negations carry sentiment, yet NLTK's Russian list holds them.
NEGATIONS = frozenset({"не", "нет", "ни", "ничего", "никогда", "нельзя", "без"})

_URL_RE = re.compile(r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:ru|com|net|org|рф)(?:/\S*)?", re.IGNORECASE)
_USER_RE = re.compile(r"(?<!\w)@\w+|\[id\d+\|[^\]]*\]|\bid\d{3,}\b")
_NUM_RE = re.compile(r"\d+(?:[.,]\d+)*")
_REPEAT_RE = re.compile(r"([)(!?])\1{2,}")  # ")))))))" -> ")))", kept as one token
# Every match of a pattern above holds one of its hints: most texts have no URL, mention or repeated
# run, and looking for a hint costs a fraction of running the pattern that would find nothing.
_URL_HINT = re.compile(r"://|www\.|\.(?:ru|com|net|org|рф)", re.IGNORECASE)
_MENTION_HINTS = ("@", "id")
_REPEAT_HINTS = (")))", "(((", "!!!", "???")

_TOKEN_PATTERN = r"""
    [^\W\d_]+(?:-[^\W\d_]+)*             # words, hyphenated words: first, as the commonest
  | [:;=8][-o*']?[)(\]\[dDpP/\\|]+      # emoticons :) ;-( =D
  | \)+ | \(+                            # bracket runs ))) (((: smileys in this corpus
  | [!?]+                                # !!! ???
  | [\U0001F300-\U0001FAFF\u2600-\u27BF]  # emoji (none is a letter, so the order changes no token)
"""
# The `regex` engine, as NLTK's RegexpTokenizer uses, whose \w also takes marks such as the emoji
# variation selector; called directly, without the tokenizer's per-match timeout: 2.6x faster.
_TOKEN_RE = regex.compile(_TOKEN_PATTERN, regex.VERBOSE | regex.UNICODE)


def normalize(text: str, cfg: PreprocessConfig) -> str:
    """Lowercase and replace URLs, user mentions and numbers with placeholder words."""
    if cfg.replace_urls and _URL_HINT.search(text):
        text = _URL_RE.sub(f" {URL} ", text)
    if cfg.replace_mentions and any(hint in text for hint in _MENTION_HINTS):
        text = _USER_RE.sub(f" {USER} ", text)
    if cfg.replace_numbers:
        text = _NUM_RE.sub(f" {NUM} ", text)
    if cfg.lowercase:
        text = text.lower()
    return _REPEAT_RE.sub(r"\1\1\1", text) if any(run in text for run in _REPEAT_HINTS) else text


def tokenize(text: str, cfg: PreprocessConfig) -> list[str]:
    """Normalise then split into word, emoticon and punctuation-run tokens."""
    return _TOKEN_RE.findall(normalize(text, cfg))


def load_stopwords(nltk_dir: str | Path, keep_negations: bool) -> frozenset[str]:
    """NLTK's Russian stopword list read from an unpacked nltk_data folder."""
    root = str(Path(nltk_dir).resolve())
    if root not in nltk.data.path:
        nltk.data.path.insert(0, root)  # NLTK reads only from folders on its data path
    reader = WordListCorpusReader(str(Path(root) / "corpora" / "stopwords"), ["russian"])
    words = frozenset(reader.words("russian"))
    return words - NEGATIONS if keep_negations else words


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3  # imported lazily: loading the dictionaries takes a second

    return pymorphy3.MorphAnalyzer()


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


def _normalise(job: tuple[list[str], PreprocessConfig, frozenset[str], dict[str, str]]) -> tuple[list[list[str]], dict[str, str]]:
    """Tokenize texts and map each token to its normal form, parsing each distinct token once.

    Returns the documents and the forms not in `known`.
    """
    texts, cfg, drop, known = job
    fn = {"lemma": lemma, "stem": stem, "none": str}[cfg.normalize]
    with _gc_paused():
        docs = [[token for token in tokenize(text, cfg) if token not in drop] for text in texts]
        # In sorted order, consecutive words share the dictionary's paths, so fewer memory reads miss the cache.
        new = {token: fn(token) for token in sorted({token for doc in docs for token in doc}.difference(known))}
        forms = known | new
        return [[forms[token] for token in doc] for doc in docs], new


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: the token lists hold no cycles, yet as they pile up each
    collection would walk them all again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# With fewer texts than this per worker, one process: a worker costs a process start and shipping results.
MIN_TEXTS_FOR_WORKERS = 2_000


def preprocess_texts(
    texts: Iterable[str], cfg: PreprocessConfig, stopwords: frozenset[str], cache: Path | None = None
) -> list[list[str]]:
    """Tokenize every text, drop stopwords, then lemmatise or stem each distinct token once.

    With `cfg.workers` > 1 the texts are split between worker processes, each tokenizing and
    normalising its share. With a lemma `cache` file, tokens lemmatised by an earlier run are
    looked up instead of parsed, and the new ones are added to the file.
    """
    texts = list(texts)
    drop = stopwords if cfg.remove_stopwords else frozenset()
    cache = cache if cfg.normalize == "lemma" else None
    known = read_lemma_cache(cache) if cache else {}
    workers = max(1, min(cfg.workers, len(texts) // MIN_TEXTS_FOR_WORKERS))
    size = max(1, -(-len(texts) // workers))
    jobs = [(texts[i : i + size], cfg, drop, known) for i in range(0, len(texts), size)]
    if workers == 1:
        results = [_normalise(job) for job in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_normalise, jobs))
    new = {token: form for _, found in results for token, form in found.items()}
    if cache and new:
        write_json(cache, {**known, **new})
    return [doc for docs, _ in results for doc in docs]
