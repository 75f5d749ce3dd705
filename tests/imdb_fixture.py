"""A tiny IMDB-like corpus the tests write: imdb/imdb_{train,test}.csv.gz (id, rating, label, text) with `<br />`
tags, reviews of 2 to 70 words whose sentiment word comes first, so every truncation can learn it."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pandas as pd

POSITIVE, NEGATIVE = ["great", "wonderful", "superb"], ["awful", "boring", "terrible"]
FILLER = "the film was a story of people and places with scenes that went on".split()


def review(label: str, rng: random.Random) -> str:
    words = [rng.choice(POSITIVE if label == "pos" else NEGATIVE)] + rng.choices(FILLER, k=rng.randint(1, 69))
    cut = rng.randint(1, len(words) - 1)
    return " ".join(words[:cut]) + ".<br /><br />" + " ".join(words[cut:]).capitalize() + "!"


def write_imdb(raw: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """`raw`/imdb/imdb_train.csv.gz and imdb_test.csv.gz, half of each split positive; returns `raw`."""
    rng = random.Random(seed)
    (raw / "imdb").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = ["pos", "neg"] * (n // 2)
        frame = pd.DataFrame({"id": [f"{label}_{i}" for i, label in enumerate(labels)],
                              "rating": [rng.choice([8, 9, 10] if l == "pos" else [1, 2, 3]) for l in labels],
                              "label": labels, "text": [review(label, rng) for label in labels]})
        with gzip.open(raw / "imdb" / f"imdb_{split}.csv.gz", "wt", encoding="utf-8") as f:
            frame.to_csv(f, index=False)
    return raw
