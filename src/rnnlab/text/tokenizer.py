"""Russian text: normalise (URLs, mentions, numbers, repeats), tokenize, NLTK stopwords."""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path

import nltk
import regex
from nltk.corpus.reader import WordListCorpusReader

from rnnlab.config import TextConfig

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


# Many texts are normalised and tokenized as one string, joined by NUL: the number, repeat and token
# patterns never cross it and the tokenizer takes it as a token of its own, so one call per pattern
# gives every text's tokens, each text's ended by a NUL. The URL and mention patterns can cross it,
# so they run text by text, in the few texts holding a hint.
END_OF_TEXT = "\x00"
_NUL_STAND_IN = "\x01"  # for a NUL inside a text: every pattern treats U+0001 alike (neither space, word nor token)
_JOINED_TOKEN_RE = regex.compile(_TOKEN_PATTERN + r"| \x00", regex.VERBOSE | regex.UNICODE)
# _URL_HINT and _MENTION_HINTS in one pattern, its letters' cases spelt out (as IGNORECASE takes them),
# each hint after a first character from one set: the engine skips to those characters, 4x faster.
_LINK_HINTS = re.compile(
    r"[:wW.@i](?:(?<=:)//|(?<=[wW])[wW]{2}\.|(?<=\.)(?:[rR][uU]|[cC][oO][mM]|[nN][eE][tT]|[oO][rR][gG]|[рР][фФ])|(?<=@)|(?<=i)d)"
)


def normalize(text: str, cfg: TextConfig) -> str:
    """Lowercase and replace URLs, user mentions and numbers with placeholder words."""
    return _normalize_joined(_replace_links(text, cfg), cfg)


def _replace_links(text: str, cfg: TextConfig) -> str:
    """The first steps of `normalize`: URLs and user mentions replaced."""
    if cfg.replace_urls and _URL_HINT.search(text):
        text = _URL_RE.sub(f" {URL} ", text)
    if cfg.replace_mentions and any(hint in text for hint in _MENTION_HINTS):
        text = _USER_RE.sub(f" {USER} ", text)
    return text


def _normalize_joined(text: str, cfg: TextConfig) -> str:
    """The rest of `normalize`, whose patterns never cross a NUL: numbers replaced, lowercase, runs cut."""
    if cfg.replace_numbers:
        text = _NUM_RE.sub(f" {NUM} ", text)
    if cfg.lowercase:
        text = text.lower()  # NUL is not cased: a final sigma before it lowercases as at a text's end
    return _REPEAT_RE.sub(r"\1\1\1", text) if any(run in text for run in _REPEAT_HINTS) else text


def tokenize(text: str, cfg: TextConfig) -> list[str]:
    """Normalise then split into word, emoticon and punctuation-run tokens."""
    return _TOKEN_RE.findall(normalize(text, cfg))


def tokenize_texts(texts: list[str], cfg: TextConfig) -> list[str]:
    """`tokenize` of every text, in order, in one list, with an END_OF_TEXT token between two texts."""
    joined = END_OF_TEXT.join(texts)
    if joined.count(END_OF_TEXT) > len(texts) - 1:
        texts = [text.replace(END_OF_TEXT, _NUL_STAND_IN) for text in texts]
        joined = END_OF_TEXT.join(texts)
    if cfg.replace_urls or cfg.replace_mentions:
        ends = list(accumulate(len(text) + 1 for text in texts))  # one past each text's NUL
        hinted = {bisect_right(ends, hint.start()) for hint in _LINK_HINTS.finditer(joined)}
        if hinted:
            texts = list(texts)
            for i in hinted:
                texts[i] = _replace_links(texts[i], cfg)
            joined = END_OF_TEXT.join(texts)
    return _JOINED_TOKEN_RE.findall(_normalize_joined(joined, cfg))


def load_stopwords(nltk_dir: str | Path, keep_negations: bool) -> frozenset[str]:
    """NLTK's Russian stopword list read from an unpacked nltk_data folder."""
    root = str(Path(nltk_dir).resolve())
    if root not in nltk.data.path:
        nltk.data.path.insert(0, root)  # NLTK reads only from folders on its data path
    reader = WordListCorpusReader(str(Path(root) / "corpora" / "stopwords"), ["russian"])
    words = frozenset(reader.words("russian"))
    return words - NEGATIONS if keep_negations else words
