"""CoNLL-U treebanks (Universal Dependencies): each sentence's word forms, UPOS tags and lemmas.

Multiword-token lines (`1-2`) and empty nodes (`8.1`) are skipped: the syntactic words are what carry the tags.
A malformed line is an error naming the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X")  # the 17 universal part-of-speech tags


@dataclass(frozen=True)
class Sentence:
    forms: tuple[str, ...]
    upos: tuple[str, ...]
    lemmas: tuple[str, ...]


def read_conllu(path: str | Path) -> list[Sentence]:
    """The sentences of a CoNLL-U file, in order."""
    sentences: list[Sentence] = []
    rows: list[tuple[str, str, str]] = []

    def close() -> None:
        if rows:
            forms, lemmas, tags = zip(*rows)
            sentences.append(Sentence(forms, tags, lemmas))
            rows.clear()

    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\n")
            if not line.strip():
                close()
                continue
            if line.startswith("#"):
                continue
            fields = line.split("\t")
            where = f"{path}:{number}"
            if len(fields) != 10:
                raise ValueError(f"{where}: a token line has 10 tab-separated fields, this one {len(fields)}")
            token_id, form, lemma, upos = fields[:4]
            if "-" in token_id or "." in token_id:
                continue
            if token_id != str(len(rows) + 1):
                raise ValueError(f"{where}: token id {token_id!r}, expected {len(rows) + 1}")
            if upos not in UPOS:
                raise ValueError(f"{where}: {upos!r} is not a universal part-of-speech tag")
            rows.append((form, lemma, upos))
    close()
    if not sentences:
        raise ValueError(f"{path}: no sentences")
    return sentences
