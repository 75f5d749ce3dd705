"""Surnames by language: read from the names corpus, deduplicated, split so that no test name was seen."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from rnnlab.config import SplitConfig
from rnnlab.data.corpora import get_corpus


def read_names(raw_dir: Path) -> pd.DataFrame:
    """(name, language) rows from `raw_dir/names/<Language>.txt`, NFC-normalised; repeats kept."""
    rows = []
    for file in get_corpus("names").files:
        lines = (raw_dir / "names" / file).read_text(encoding="utf-8").splitlines()
        rows += [(unicodedata.normalize("NFC", n.strip()), Path(file).stem) for n in lines if n.strip()]
    return pd.DataFrame(rows, columns=["name", "language"])


def split_names(frame: pd.DataFrame, cfg: SplitConfig, seed: int) -> pd.DataFrame:
    """Drop repeated (name, language) rows, then add a train/val/test column stratified by language.

    A name listed under two languages stays in one split, so no test name was seen in training.
    """
    frame = frame.drop_duplicates(ignore_index=True)
    size = frame["language"].map(frame["language"].value_counts())
    # One language per distinct name to stratify on: its rarest, so small languages keep their share.
    strata = frame.assign(size=size).sort_values(["size", "language"]).groupby("name")["language"].first()
    rest, test = train_test_split(list(strata.index), test_size=cfg.test_size, stratify=list(strata),
                                  random_state=seed)
    train, val = train_test_split(rest, test_size=cfg.val_size / (1 - cfg.test_size), stratify=list(strata[rest]),
                                  random_state=seed)
    split = {**dict.fromkeys(train, "train"), **dict.fromkeys(val, "val"), **dict.fromkeys(test, "test")}
    return frame.assign(split=frame["name"].map(split))
