"""Russian text preprocessing: normalise, tokenize, drop stopwords, lemmatize or stem."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import nltk
from nltk.corpus.reader import WordListCorpusReader
from nltk.stem.snowball import SnowballStemmer
from nltk.tokenize import RegexpTokenizer

from rnnlab.config import PreprocessConfig

URL, USER, NUM = "xxurl", "xxuser", "xxnum"
PLACEHOLDERS = frozenset({URL, USER, NUM})
# Negations carry sentiment, yet NLTK's Russian list holds them.
NEGATIONS = frozenset({"не", "нет", "ни", "ничего", "никогда", "нельзя", "без"})

_URL_RE = re.compile(r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:ru|com|net|org|рф)(?:/\S*)?", re.IGNORECASE)
_USER_RE = re.compile(r"(?<!\w)@\w+|\[id\d+\|[^\]]*\]|\bid\d{3,}\b")
_NUM_RE = re.compile(r"\d+(?:[.,]\d+)*")
_REPEAT_RE = re.compile(r"([)(!?])\1{2,}")  # ")))))))" -> ")))", kept as one token

_TOKEN_PATTERN = r"""
    [:;=8][-o*']?[)(\]\[dDpP/\\|]+      # emoticons :) ;-( =D
  | \)+ | \(+                            # bracket runs ))) (((: smileys in this corpus
  | [!?]+                                # !!! ???
  | [\U0001F300-\U0001FAFF\u2600-\u27BF]  # emoji
  | [^\W\d_]+(?:-[^\W\d_]+)*             # words, hyphenated words
"""
_TOKENIZER = RegexpTokenizer(_TOKEN_PATTERN, flags=re.VERBOSE | re.UNICODE)
_WORD_RE = re.compile(r"[а-яё]+(?:-[а-яё]+)*")


def normalize(text: str, cfg: PreprocessConfig) -> str:
    """Lowercase and replace URLs, user mentions and numbers with placeholder words."""
    if cfg.replace_urls:
        text = _URL_RE.sub(f" {URL} ", text)
    if cfg.replace_mentions:
        text = _USER_RE.sub(f" {USER} ", text)
    if cfg.replace_numbers:
        text = _NUM_RE.sub(f" {NUM} ", text)
    if cfg.lowercase:
        text = text.lower()
    return _REPEAT_RE.sub(r"\1\1\1", text)


def tokenize(text: str, cfg: PreprocessConfig) -> list[str]:
    """Normalise then split into word, emoticon and punctuation-run tokens."""
    return _TOKENIZER.tokenize(normalize(text, cfg))


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


def lemma(token: str) -> str:
    """pymorphy3's normal form for a Cyrillic word; other tokens unchanged."""
    if not _WORD_RE.fullmatch(token):
        return token
    return _morph().parse(token)[0].normal_form


def stem(token: str) -> str:
    """Snowball stem for a Cyrillic word; other tokens unchanged."""
    if not _WORD_RE.fullmatch(token):
        return token
    return _stemmer().stem(token)


@lru_cache(maxsize=1)
def _stemmer() -> SnowballStemmer:
    return SnowballStemmer("russian")


def _map_chunk(args: tuple[str, list[str]]) -> list[str]:
    kind, tokens = args
    fn = lemma if kind == "lemma" else stem
    return [fn(t) for t in tokens]


def normal_forms(vocabulary: Sequence[str], kind: str, workers: int) -> dict[str, str]:
    """Map each distinct token to its lemma or stem, in worker processes when it pays."""
    if kind == "none":
        return {t: t for t in vocabulary}
    if workers <= 1 or len(vocabulary) < 20_000:
        return dict(zip(vocabulary, _map_chunk((kind, list(vocabulary))), strict=True))
    size = -(-len(vocabulary) // workers)
    chunks = [(kind, list(vocabulary[i : i + size])) for i in range(0, len(vocabulary), size)]
    with ProcessPoolExecutor(workers) as pool:
        mapped = [form for chunk in pool.map(_map_chunk, chunks) for form in chunk]
    return dict(zip(vocabulary, mapped, strict=True))


def preprocess_texts(texts: Iterable[str], cfg: PreprocessConfig, stopwords: frozenset[str]) -> list[list[str]]:
    """Tokenize every text, drop stopwords, then normalise each distinct token once."""
    drop = stopwords if cfg.remove_stopwords else frozenset()
    docs = [[t for t in tokenize(text, cfg) if t not in drop] for text in texts]
    distinct = sorted({t for doc in docs for t in doc})
    forms = normal_forms(distinct, cfg.normalize, cfg.workers)
    return [[forms[t] for t in doc] for doc in docs]
