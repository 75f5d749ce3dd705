"""IMDB's English movie reviews (Maas et al., 2011) as (text, label, split) rows: 25,000 train, 25,000 test.

The mirror's files are `imdb/imdb_{train,test}.csv.gz` (columns id, rating, label, text; label pos or neg).
The texts keep the HTML line breaks of the original pages (`<br />`), which become spaces here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from rnnlab.data.datasets import CorpusError, carve, read_csv

FILES = {"train": "imdb/imdb_train.csv.gz", "test": "imdb/imdb_test.csv.gz"}  # under the download's folder
_BREAK_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)

# the sequence-length study's corpus (studies/imdb), registered beside config.py's sections


def strip_breaks(text: str) -> str:
    """`<br />` (and `<br>`, `<BR/>`) replaced by a space."""
    return _BREAK_RE.sub(" ", text)


def read_imdb(raw_dir: Path) -> pd.DataFrame:
    """Both files as one (text, label, split) table, line-break tags stripped."""
    parts = [read_csv(raw_dir / name, "text", "label").assign(split=split) for split, name in FILES.items()]
    frame = pd.concat(parts, ignore_index=True)
    return frame.assign(text=frame["text"].map(strip_breaks).str.strip())


def sample_imdb(frame: pd.DataFrame, train_reviews: int, test_reviews: int, val_size: float, seed: int) -> pd.DataFrame:
    """`train_reviews` training and `test_reviews` test reviews drawn with `seed` (0: all), validation carved
    from the training ones (stratified)."""
    parts = []
    for split, n in (("train", train_reviews), ("test", test_reviews)):
        rows = frame[frame["split"] == split]
        if n > len(rows):
            raise CorpusError(f"IMDB has {len(rows):,} {split} reviews, fewer than the {n:,} asked for")
        parts.append(rows.sample(n=n, random_state=seed) if n else rows)
    return carve(pd.concat(parts, ignore_index=True), "val", val_size, seed)
