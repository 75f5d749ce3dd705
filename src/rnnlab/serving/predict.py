"""Predictions on raw text from a trained sentiment classifier."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from rnnlab.config import TextConfig, from_dict
from rnnlab.text.batching import encode_split
from rnnlab.text.preprocessing import preprocess_texts
from rnnlab.training.checkpoint import Checkpoint, load_checkpoint, read_payload
from rnnlab.training.classification import predict_logits

BEST = "best"  # `--model best`: the trained model with the highest validation macro-F1
LABEL = "label"
PROB_PREFIX = "p_"


class Predictor:
    """Raw texts -> class probabilities, through the preprocessing the classifier was trained with."""

    def __init__(self, clf: Checkpoint, batch_size: int = 256) -> None:
        self.clf = clf
        self.text = from_dict(TextConfig, clf.meta["preprocess"], where="checkpoint: meta.preprocess")
        # The stopwords the classifier's preprocessing drops travel in its checkpoint.
        self.stopwords = frozenset(clf.meta["stopwords"]) if self.text.remove_stopwords else frozenset()
        self.batch_size = batch_size

    @property
    def classes(self) -> list[str]:
        return list(self.clf.classes)

    def tokens(self, texts: Sequence[str]) -> list[list[str]]:
        """Tokens exactly as the preprocess stage writes them for training."""
        return [doc.split() for doc in preprocess_texts(texts, self.text, self.stopwords)]

    def probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, C) softmax probabilities; an empty or unknown-word text is read as one <unk>."""
        if not texts:
            return torch.empty(0, len(self.classes))
        split = encode_split(self.tokens(texts), [0] * len(texts), self.clf.vocab, self.clf.meta["max_len"])
        device = next(self.clf.model.parameters()).device
        return predict_logits(self.clf.model, split, self.batch_size, device).softmax(1)  # (N, C)

    def table(self, texts: Sequence[str]) -> pd.DataFrame:
        """One row per text: the predicted label, then `p_<class>` for every class."""
        probs = self.probabilities(texts)
        labels = [self.classes[i] for i in probs.argmax(1).tolist()] if len(probs) else []
        columns = {f"{PROB_PREFIX}{c}": probs[:, i].tolist() for i, c in enumerate(self.classes)}
        return pd.DataFrame({LABEL: labels, **columns})


def load_predictor(path: Path) -> Predictor:
    """A Predictor over the classifier checkpoint at `path`."""
    return Predictor(load_checkpoint(path, kind="classifier"))


def best_checkpoint(checkpoints: dict[str, Path]) -> Path:
    """The checkpoint with the highest validation macro-F1 among those that exist."""
    scores = {path: read_payload(path)["meta"]["val_macro_f1"] for path in checkpoints.values() if path.is_file()}
    if not scores:
        raise FileNotFoundError(f"none of the trained models exists ({', '.join(map(str, checkpoints.values()))}): "
                                "run `dvc repro`")
    return max(scores, key=lambda p: scores[p])


def format_rows(texts: Sequence[str], table: pd.DataFrame) -> str:
    """Each text quoted on its line, then its label and `class: probability` for every class."""
    lines = []
    for text, row in zip(texts, table.to_dict("records"), strict=True):
        probs = "  ".join(f"{c.removeprefix(PROB_PREFIX)}: {v:.3f}" for c, v in row.items() if c != LABEL)
        lines += [json.dumps(text, ensure_ascii=False), f"  -> {row[LABEL]:<10} {probs}"]
    return "\n".join(lines)


def read_texts(path: Path, column: str) -> pd.DataFrame:
    """A CSV file of texts, every cell a string (empty cells stay empty strings)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if column not in frame.columns:
        raise ValueError(f"{path} has no column {column!r} (columns: {', '.join(frame.columns)})")
    return frame
