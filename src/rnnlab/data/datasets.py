"""Read raw corpora into one (text, label, split) table and clean it."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from rnnlab import UserError
from rnnlab.config import PrepareConfig

SPLITS = ("train", "val", "test")


class CorpusError(UserError, ValueError):
    """A corpus file is malformed or nothing is left after filtering."""


def read_csv(path: Path, text_column: str, label_column: str, split_column: str = "",
             encoding: str = "utf-8") -> pd.DataFrame:
    """Read a CSV with a real parser (quoted line breaks survive) into (text, label[, split]) columns."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, compression="infer", encoding=encoding)
    except pd.errors.EmptyDataError as err:
        raise CorpusError(f"{path}: the file is empty") from err
    except UnicodeDecodeError as err:
        raise CorpusError(f"{path}: cannot parse CSV as {encoding} text ({err}); "
                          "prepare.local_csv.encoding sets a local file's encoding") from err
    except pd.errors.ParserError as err:
        raise CorpusError(f"{path}: cannot parse CSV: {err}") from err
    columns = {"text": text_column, "label": label_column, **({"split": split_column} if split_column else {})}
    for column in columns.values():
        if column not in frame.columns:
            raise CorpusError(f"{path}: no column '{column}' (columns: {', '.join(frame.columns)})")
    return pd.DataFrame({name: frame[column] for name, column in columns.items()})


def read_rusentiment(raw_dir: Path) -> pd.DataFrame:
    """RuSentiment: train = random + preselected posts, test = the official test file."""
    parts = [
        read_csv(raw_dir / "rusentiment" / f"rusentiment_{name}.csv", "text", "label").assign(split=split)
        for name, split in [("random_posts", "train"), ("preselected_posts", "train"), ("test", "test")]
    ]
    return pd.concat(parts, ignore_index=True)


def read_opensentiment(raw_dir: Path, cfg: PrepareConfig, seed: int) -> pd.DataFrame:
    """OpenSentimentCorpus (majority labels); it has no official split, so test is carved out."""
    path = raw_dir / "opensentimentcorpus" / "opensentimentcorpus-final-by-majority.csv"
    return carve(read_csv(path, "Sentence", "Sentiment"), "test", cfg.local_csv.test_size, seed)


def read_local_csv(cfg: PrepareConfig, seed: int) -> pd.DataFrame:
    """A user's CSV: text and label columns named in params, optional split column; checked before any work."""
    local = cfg.local_csv
    if not local.path:
        raise CorpusError("params.yaml: prepare.local_csv.path is empty but prepare.corpus is local_csv")
    if not Path(local.path).is_file():
        raise CorpusError(f"{local.path}: no such file (named by prepare.local_csv.path in params.yaml)")
    try:
        codecs.lookup(local.encoding)
    except LookupError as err:
        raise CorpusError(f"params.yaml: prepare.local_csv.encoding: unknown encoding {local.encoding!r}") from err
    frame = read_csv(Path(local.path), local.text_column, local.label_column, local.split_column, local.encoding)
    check_labels(frame, local.path, local.label_column, cfg.label_map)
    if not local.split_column:
        return carve(frame, "test", local.test_size, seed)
    bad = sorted(set(frame["split"]) - {"train", "test"})
    if bad:
        raise CorpusError(f"{local.path}: column '{local.split_column}' has values other than train/test: {bad[:5]}")
    return frame


def check_labels(frame: pd.DataFrame, path: str, column: str, label_map: dict[str, str]) -> None:
    """A file with no rows, no label that `label_map` keeps, or a single class after mapping is an error."""
    if frame.empty:
        raise CorpusError(f"{path}: no data rows (only a header)")
    raw = set(frame["label"].str.strip())
    classes = {label_map[label] for label in raw if label in label_map}
    if not classes:
        raise CorpusError(f"{path}: none of the labels in column '{column}' ({', '.join(sorted(raw)[:5])}) "
                          f"is a key of prepare.label_map ({', '.join(label_map)})")
    if len(classes) == 1:
        raise CorpusError(f"{path}: a single class ({classes.pop()}) after prepare.label_map; "
                          "a classifier needs at least two")


# The `prepare.corpus` choices: raw folder, config, seed -> (text, label, split) rows.
READERS: dict[str, Callable[[Path, PrepareConfig, int], pd.DataFrame]] = {
    "rusentiment": lambda raw_dir, cfg, seed: read_rusentiment(raw_dir),
    "opensentimentcorpus": read_opensentiment,
    "local_csv": lambda raw_dir, cfg, seed: read_local_csv(cfg, seed),
}


def read_corpus(raw_dir: Path, cfg: PrepareConfig, seed: int) -> pd.DataFrame:
    """The corpus `prepare.corpus` names, by its reader."""
    return READERS[cfg.corpus](raw_dir, cfg, seed)


def carve(frame: pd.DataFrame, name: str, size: float, seed: int) -> pd.DataFrame:
    """Mark a stratified share `size` of the training rows as split `name`."""
    frame = frame.copy()
    if "split" not in frame:
        frame["split"] = "train"
    pool = frame.index[frame["split"] == "train"]
    labels = frame.loc[pool, "label"]
    stratify = labels if labels.value_counts().min() >= 2 else None
    _, picked = train_test_split(pool, test_size=size, random_state=seed, stratify=stratify)
    frame.loc[picked, "split"] = name
    return frame


def clean(frame: pd.DataFrame, label_map: dict[str, str]) -> pd.DataFrame:
    """Map labels, drop empty texts, duplicates with conflicting labels and train/test overlap."""
    frame = frame.assign(text=frame["text"].str.strip(), label=frame["label"].str.strip().map(label_map))
    frame = frame[frame["label"].notna() & (frame["text"] != "")]
    side = frame["split"].where(frame["split"] == "test", "train")
    frame = frame.assign(side=side)
    n_labels = frame.groupby(["side", "text"])["label"].transform("nunique")
    frame = frame[n_labels == 1].drop_duplicates(["side", "text"])
    test_texts = set(frame.loc[frame["side"] == "test", "text"])
    frame = frame[(frame["side"] == "test") | ~frame["text"].isin(test_texts)]
    return frame.drop(columns="side").reset_index(drop=True)


def prepare(raw_dir: Path, cfg: PrepareConfig, seed: int) -> pd.DataFrame:
    """The whole prepare step: read, clean, carve validation, check nothing is empty."""
    frame = clean(read_corpus(raw_dir, cfg, seed), cfg.label_map)
    for split in ("train", "test"):
        if not (frame["split"] == split).any():
            raise CorpusError(
                f"corpus '{cfg.corpus}': no {split} rows left after filtering "
                f"(label_map keeps {sorted(set(cfg.label_map))})"
            )
    frame = carve(frame, "val", cfg.val_size, seed)
    if cfg.max_rows_per_split:
        frame = frame.sample(frac=1.0, random_state=seed).groupby("split").head(cfg.max_rows_per_split)
    return frame.reset_index(drop=True)[["text", "label", "split"]]


def split_stats(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Row counts per split and label."""
    counts = frame.groupby(["split", "label"]).size()
    return {split: {label: int(n) for label, n in counts[split].items()} for split in SPLITS if split in counts}


def class_names(frame: pd.DataFrame) -> list[str]:
    """The classes, sorted: a label's id is its index here."""
    return sorted(frame["label"].unique())
