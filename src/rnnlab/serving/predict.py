"""Predictions on raw text from a trained sentiment classifier or the TF-IDF baseline."""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from rnnlab.classifiers.ngram import KIND as SUBWORD_KIND
from rnnlab.classifiers.ngram import set_types
from rnnlab.config import TextConfig
from rnnlab.models.subword import type_vocab
from rnnlab.params import from_dict
from rnnlab.text.batching import encode_split
from rnnlab.text.preprocessing import preprocess_texts
from rnnlab.text.vocab import Vocab
from rnnlab.training.attention import CLASSIFIER_KINDS
from rnnlab.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    read_payload,
)
from rnnlab.training.classification import predict_logits
from rnnlab.training.decision import apply_offsets

BEST = "best"  # `--model best`: the trained model with the highest validation macro-F1
LABEL = "label"
PROB_PREFIX = "p_"


class TextPredictor:
    """Raw texts -> class probabilities, through the preprocessing the model was trained with."""

    def __init__(self, name: str, classes: Sequence[str], val_macro_f1: float, preprocess: dict,
                 stopwords: Sequence[str]) -> None:
        self.name, self.classes, self.val_macro_f1 = name, list(classes), val_macro_f1
        self.text = from_dict(TextConfig, preprocess, where=f"model {name}: preprocess")
        # The stopwords the model's preprocessing drops travel with it.
        self.stopwords = frozenset(stopwords) if self.text.remove_stopwords else frozenset()

    def docs(self, texts: Sequence[str]) -> list[str]:
        """Space-separated tokens exactly as the preprocess stage writes them for training."""
        return preprocess_texts(texts, self.text, self.stopwords)

    def tokens(self, texts: Sequence[str]) -> list[list[str]]:
        return [doc.split() for doc in self.docs(texts)]

    def probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, C) class probabilities."""
        raise NotImplementedError

    def table(self, texts: Sequence[str]) -> pd.DataFrame:
        """One row per text: the predicted label, then `p_<class>` for every class."""
        probs = self.probabilities(texts)
        labels = [self.classes[i] for i in probs.argmax(1).tolist()] if len(probs) else []
        columns = {f"{PROB_PREFIX}{c}": probs[:, i].tolist() for i, c in enumerate(self.classes)}
        return pd.DataFrame({LABEL: labels, **columns})


class Predictor(TextPredictor):
    """A recurrent classifier's checkpoint behind `TextPredictor`."""

    def __init__(self, clf: Checkpoint, batch_size: int = 256) -> None:
        meta = clf.meta
        super().__init__(meta.get("name", "classifier"), clf.classes, meta.get("val_macro_f1", float("nan")),
                         meta["preprocess"], meta["stopwords"])
        self.clf, self.batch_size = clf, batch_size

    def probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, C) softmax probabilities, after the checkpoint's decision offsets where it has them
        (`training.decision`); an empty or unknown-word text is read as one <unk>."""
        if not texts:
            return torch.empty(0, len(self.classes))
        docs = self.tokens(texts)
        split = encode_split(docs, [0] * len(texts), self.vocab(docs), self.clf.meta["max_len"])
        device = next(self.clf.model.parameters()).device
        logits = predict_logits(self.clf.model, split, self.batch_size, device)  # (N, C)
        return apply_offsets(logits, self.clf.meta.get("decision_offsets"))

    def vocab(self, docs: Sequence[Sequence[str]]) -> Vocab:
        """The token ids the model reads `docs` (tokenized texts) with."""
        return self.clf.vocab


class SubwordPredictor(Predictor):
    """The character n-gram classifier: the texts' types outside its vocabulary get their n-grams' vectors."""

    def __init__(self, clf: Checkpoint, batch_size: int = 256) -> None:
        super().__init__(clf, batch_size)
        self.ngrams = {g: row for row, g in enumerate(clf.meta["ngrams"], start=1)}

    def vocab(self, docs: Sequence[Sequence[str]]) -> Vocab:
        types = type_vocab(self.clf.vocab, docs)
        set_types(self.clf.model, types.itos, len(self.clf.vocab), self.ngrams, self.clf.config.entry)
        return types


class TfidfPredictor(TextPredictor):
    """The tfidf stage's pickle (the baseline, its classes, preprocessing and stopwords) behind `TextPredictor`."""

    def __init__(self, bundle: dict) -> None:
        super().__init__(bundle["name"], bundle["classes"], bundle["val_macro_f1"], bundle["preprocess"],
                         bundle["stopwords"])
        self.baseline = bundle["baseline"]

    def probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        if not texts:
            return torch.empty(0, len(self.classes))
        return torch.from_numpy(self.baseline.predict_proba(self.docs(texts))).float()  # (N, C)


def read_tfidf(path: Path) -> dict:
    """The tfidf stage's pickle; our own output (pickle runs code: never open one from elsewhere)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    with Path(path).open("rb") as f:
        bundle = pickle.load(f)  # noqa: S301
    if not isinstance(bundle, dict) or "preprocess" not in bundle:
        raise ValueError(f"{path}: not a TF-IDF model of this rnnlab (rerun `dvc repro tfidf`)")
    return bundle


def load_predictor(path: Path) -> TextPredictor:
    """A predictor over the model file at `path`: the TF-IDF pickle (.pkl) or a classifier checkpoint."""
    if Path(path).suffix == ".pkl":
        return TfidfPredictor(read_tfidf(path))
    clf = load_checkpoint(path)
    if clf.kind == SUBWORD_KIND:
        return SubwordPredictor(clf)
    if clf.kind not in CLASSIFIER_KINDS:
        raise CheckpointError(f"{path}: a {clf.kind} checkpoint, not a sentiment classifier")
    return Predictor(clf)


def validation_score(path: Path) -> float:
    """The validation macro-F1 a model file records."""
    return read_tfidf(path)["val_macro_f1"] if Path(path).suffix == ".pkl" else read_payload(path)["meta"]["val_macro_f1"]


def best_model(models: dict[str, Path]) -> Path:
    """The model file with the highest validation macro-F1 among those that exist."""
    scores = {path: validation_score(path) for path in models.values() if path.is_file()}
    if not scores:
        raise FileNotFoundError(f"none of the pipeline's models exists ({', '.join(map(str, models.values()))}): "
                                "run `dvc repro` (or `dvc pull`)")
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
