"""Unlabelled Russian text for a language model: the jokes' dialogues, the forum messages and the target corpus's
training texts, deduplicated, with every held-out text of the target corpus kept out.

A document is one dialogue (its turns on lines of their own), one message or one post. Texts are compared by a
key that ignores case and runs of whitespace, so a test post that reappears in another source with other line
breaks or capitals is still caught.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd

from rnnlab.data.datasets import CorpusError, read_csv
from rnnlab.params import Choice, Share

TURN = re.compile(r"^\s*[-\u2013\u2014]\s*")  # a dialogue turn's leading dash


def text_key(text: str) -> str:
    """What two texts share when they are the same text: casefolded, whitespace runs as one space, ё as е."""
    return " ".join(text.casefold().replace("ё", "е").split())


def read_dialogues(archive: Path) -> list[str]:
    """The dialogues of the anekdot archive (one text file; dialogues between blank lines, each turn a line
    starting with a dash), each as its turns without the dashes, one per line."""
    try:
        with tarfile.open(archive, "r:xz") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            if len(members) != 1:
                raise CorpusError(f"{archive}: expected one text file inside, found {len(members)}")
            text = tar.extractfile(members[0]).read().decode("utf-8")
    except (tarfile.TarError, OSError, UnicodeDecodeError) as err:
        raise CorpusError(f"{archive}: cannot read the dialogues ({err})") from err
    dialogues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        turns = [TURN.sub("", line).strip() for line in block.splitlines()]
        if any(turns):
            dialogues.append("\n".join(t for t in turns if t))
    return dialogues


def read_messages(files: Iterable[Path]) -> list[str]:
    """The `text` column of each CSV, in file order (the files overlap: deduplication comes later)."""
    texts: list[str] = []
    for path in files:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=lambda c: c == "text")
        if "text" not in frame:
            raise CorpusError(f"{path}: no column 'text'")
        texts.extend(frame["text"])
    return texts


def read_split_texts(prepared: Path, splits: Iterable[str]) -> list[str]:
    """The texts of `splits` in a prepared corpus (prepare's text, label, split table)."""
    frame = read_csv(prepared, "text", "label", "split")
    return frame.loc[frame["split"].isin(list(splits)), "text"].tolist()


# The unlabelled sources: corpus name -> its files' folder (raw/<corpus>) -> documents.
SOURCES: dict[str, Callable[[Path], list[str]]] = {
    "anekdot_dialogues": lambda folder: read_dialogues(folder / "extract_dialogues_from_anekdots.tar.xz"),
    "inappropriate_messages": lambda folder: read_messages(
        folder / name for name in ("test.csv", "val.csv", "Sensitive_topics_crowdsource_only.csv")),
}


@dataclass(frozen=True)
class LMCorpusConfig:
    sources: tuple[Annotated[str, Choice("rnnlab.data.unlabelled:SOURCES")], ...]  # after the target's training texts, in this order
    val_share: Share  # documents held out to validate the language model


@dataclass
class SourceStats:
    read: int = 0
    empty: int = 0
    duplicates: int = 0  # the same key as a document kept before (from this source or an earlier one)
    held_out: int = 0  # the document, or one of its lines, is a validation or test text of the target corpus
    kept: int = 0
    words: int = 0  # whitespace-separated words of the kept documents


@dataclass
class LMCorpus:
    documents: pd.DataFrame  # text, source, split (train | val)
    stats: dict[str, SourceStats] = field(default_factory=dict)


def build_lm_corpus(sources: Mapping[str, Iterable[str]], held_out: Iterable[str], val_share: float,
                    seed: int) -> LMCorpus:
    """Documents from `sources` (in their order: a document repeated later is dropped), none whose key or any of
    whose lines' keys is a key of `held_out`; a seeded `val_share` of them kept aside for validation."""
    if not 0 <= val_share < 1:
        raise ValueError(f"val_share must be in [0, 1), got {val_share}")
    banned = {text_key(t) for t in held_out} - {""}
    seen: set[str] = set()
    rows, stats = [], {}
    for name, texts in sources.items():
        s = stats[name] = SourceStats()
        for text in texts:
            s.read += 1
            key = text_key(text)
            if not key:
                s.empty += 1
            elif key in seen:
                s.duplicates += 1
            elif key in banned or any(text_key(line) in banned for line in text.splitlines()):
                s.held_out += 1
            else:
                seen.add(key)
                s.kept += 1
                s.words += len(key.split(" "))
                rows.append((text.strip(), name))
    frame = pd.DataFrame(rows, columns=["text", "source"])
    order = np.random.default_rng(seed).permutation(len(frame))
    val = np.zeros(len(frame), dtype=bool)
    val[order[: round(val_share * len(frame))]] = True
    return LMCorpus(frame.assign(split=np.where(val, "val", "train")), stats)
