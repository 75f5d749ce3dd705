"""Predictions on raw text from a trained classifier, and the `rnnlab predict` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from rnnlab.batching import encode_split
from rnnlab.checkpoint import Classifier, load_checkpoint
from rnnlab.files import atomic_path
from rnnlab.preprocessing import preprocess_texts
from rnnlab.training import predict_logits

BEST = "best"  # `--model best`: the checkpoint with the highest validation macro-F1
LABEL = "label"
PROB_PREFIX = "p_"


def checkpoint_stopwords(clf: Classifier) -> frozenset[str]:
    """The stopwords the classifier's preprocessing drops, as carried in its checkpoint."""
    if not clf.preprocess.remove_stopwords:
        return frozenset()
    if "stopwords" not in clf.meta:
        name = clf.meta.get("name", "?")
        raise ValueError(f"model {name} was trained without its stopword list: run `dvc repro train@{name}`")
    return frozenset(clf.meta["stopwords"])


class Predictor:
    """Raw texts -> class probabilities, through the preprocessing the classifier was trained with."""

    def __init__(self, clf: Classifier, batch_size: int = 256) -> None:
        self.clf = clf
        self.stopwords = checkpoint_stopwords(clf)
        self.batch_size = batch_size

    @property
    def classes(self) -> list[str]:
        return list(self.clf.classes)

    def tokens(self, texts: Sequence[str]) -> list[list[str]]:
        """Tokens exactly as the preprocess stage writes them for training."""
        return [doc.split() for doc in preprocess_texts(texts, self.clf.preprocess, self.stopwords)]

    def probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, C) softmax probabilities; an empty or unknown-word text is read as one <unk>."""
        if not texts:
            return torch.empty(0, len(self.classes))
        split = encode_split(self.tokens(texts), [0] * len(texts), self.clf.vocab, self.clf.max_len)
        device = next(self.clf.model.parameters()).device
        return predict_logits(self.clf.model, split, self.batch_size, device).softmax(1)  # (N, C)

    def table(self, texts: Sequence[str]) -> pd.DataFrame:
        """One row per text: the predicted label, then `p_<class>` for every class."""
        probs = self.probabilities(texts)
        labels = [self.classes[i] for i in probs.argmax(1).tolist()] if len(probs) else []
        columns = {f"{PROB_PREFIX}{c}": probs[:, i].tolist() for i, c in enumerate(self.classes)}
        return pd.DataFrame({LABEL: labels, **columns})


def checkpoint_score(path: Path) -> float | None:
    """Validation macro-F1 stored in a classifier checkpoint, None for other files."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    meta = payload.get("meta") if isinstance(payload, dict) else None
    return meta.get("val_macro_f1") if isinstance(meta, dict) else None


def resolve_model(models_dir: Path, name: str) -> Path:
    """Checkpoint path of model `name`, or of the best one by validation macro-F1 for `best`."""
    if name != BEST:
        path = models_dir / f"{name}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"no trained model at {path}: run `dvc repro train@{name}`")
        return path
    scores = {p: checkpoint_score(p) for p in sorted(models_dir.glob("*.pt"))}
    scores = {p: s for p, s in scores.items() if s is not None}
    if not scores:
        raise FileNotFoundError(f"no trained models in {models_dir}: run `dvc repro train`")
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


def _predict_command(args: argparse.Namespace) -> int:
    from rnnlab.cli import CommandError

    if bool(args.texts) == bool(args.input):
        raise CommandError("give texts as arguments or a CSV file with --input, not both")
    torch.set_num_threads(args.threads)
    try:
        path = resolve_model(args.models_dir, args.model)
        predictor = Predictor(load_checkpoint(path))
        frame = read_texts(args.input, args.text_column) if args.input else pd.DataFrame({args.text_column: args.texts})
    except (FileNotFoundError, ValueError) as err:
        raise CommandError(str(err)) from err
    meta = predictor.clf.meta
    print(f"model {meta.get('name', path.stem)} ({path}, val macro-F1 {meta.get('val_macro_f1', float('nan')):.4f})",
          file=sys.stderr)
    texts = frame[args.text_column].tolist()
    table = predictor.table(texts)
    if args.output:
        with atomic_path(args.output) as tmp:
            frame.join(table.rename(columns={LABEL: f"predicted_{LABEL}"})).to_csv(tmp, index=False)
        print(f"{len(texts)} predictions written to {args.output}", file=sys.stderr)
    else:
        print(format_rows(texts, table))
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """`rnnlab predict`."""
    cmd = subparsers.add_parser("predict", help="classify raw texts with a trained sentiment model")
    cmd.add_argument("texts", nargs="*", help="texts to classify")
    cmd.add_argument("--model", default=BEST, help="a model name under `train` in params.yaml, or `best`")
    cmd.add_argument("--models-dir", type=Path, default=Path("data/models"), help="where the train stage writes")
    cmd.add_argument("--input", type=Path, help="a CSV file of texts instead of arguments")
    cmd.add_argument("--text-column", default="text", help="the column of --input holding the texts")
    cmd.add_argument("--output", type=Path, help="write a CSV (input columns, predicted_label, p_<class>)")
    cmd.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    cmd.set_defaults(func=_predict_command)
