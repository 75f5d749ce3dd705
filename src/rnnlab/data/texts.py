"""Long plain texts (books) for character language models, without their front and back matter."""

from __future__ import annotations

import re
from pathlib import Path

from rnnlab.data.corpora import get_corpus

# Each corpus's text runs from the end of its start marker's line to the start of its end marker's line.
GUTENBERG = (r"^\*\*\* ?START OF (?:THE|THIS) PROJECT GUTENBERG.*$",
             r"^\*\*\* ?END OF (?:THE|THIS) PROJECT GUTENBERG.*$")
MARKERS: dict[str, tuple[str, str]] = {
    "alice": (r"^ CHAPTER XII\.\s+Alice.s Evidence$", r"^THE END$"),  # last line of the contents; the end
    "war_and_peace": (r"^ВОЙНА И МИР\s*$", r"^Печатные варианты\s*$"),  # after the blurb; before the notes
}
# The `charlm.corpus` choices: one-file corpora of the registry that hold one long text.
BOOKS = ("tinyshakespeare", "alice", "war_and_peace", "onegin")


def cut_between(text: str, start: str, end: str, required: bool, name: str) -> str:
    """The text between the line matching `start` and the first later line matching `end`."""
    first = re.search(start, text, re.MULTILINE)
    last = re.compile(end, re.MULTILINE).search(text, first.end()) if first else None
    if first is None or last is None:
        if required:
            raise ValueError(f"{name}: marker {start if first is None else end!r} not found")
        return text
    return text[first.end() : last.start()]


def clean_text(text: str, corpus: str) -> str:
    """Drop Project Gutenberg's header and footer when present, then the corpus's own front and back matter."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    text = cut_between(text, *GUTENBERG, required=False, name=corpus)
    if corpus in MARKERS:
        text = cut_between(text, *MARKERS[corpus], required=True, name=corpus)
    return text.strip() + "\n"


def read_corpus_text(raw_dir: Path, corpus: str) -> str:
    """The cleaned text of a one-file corpus downloaded under `raw_dir/<corpus>/`."""
    files = list(get_corpus(corpus).files)
    if len(files) != 1:
        raise ValueError(f"corpus {corpus!r} has {len(files)} files; a character LM reads one long text")
    return clean_text((raw_dir / corpus / files[0]).read_text(encoding="utf-8"), corpus)
