"""Character n-grams for a recurrent classifier (studies/zoo, stage subword): a `train` entry's classifier on the
pipeline's word ids, against the same classifier whose tokens also carry their character n-grams' vectors
(`models.subword`), at every seed; and TF-IDF with and without its character n-grams, for the same comparison in
the linear model."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from rnnlab.classifiers.ngram import (
    SubwordData,
    build_subword_classifier,
    check_ngrams,
)
from rnnlab.classifiers.tfidf import TfidfBaseline
from rnnlab.config import ModelConfig, TfidfConfig, TrainerConfig, Variant
from rnnlab.params import NonNegativeInt, PositiveInt
from rnnlab.text.batching import EncodedSplit
from rnnlab.text.vocab import Vocab
from rnnlab.training.classification import build_classifier, fit, predict_logits
from rnnlab.training.decision import apply_offsets, fit_offsets
from rnnlab.training.loop import TrainResult
from rnnlab.training.metrics import score
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import Tracker

ARMS = ("words", "subwords")
OFFSETS = "_offsets"  # a row's key suffix: scored with decision offsets fitted on validation, not by argmax


@dataclass(frozen=True)
class SubwordConfig:
    seeds: tuple[NonNegativeInt, ...]
    model: str  # the `train` entry both arms train, with the main `trainer`
    overrides: Variant  # keys of that model and trainer changed for both arms
    ngram_low: PositiveInt
    ngram_high: PositiveInt
    min_count: PositiveInt  # an n-gram gets a vector when at least this many training tokens hold it
    unseen_navec: bool  # types outside the vocabulary read navec's (fixed) vector where it has one

    def __post_init__(self) -> None:
        check_ngrams(self)


def train_arm(arm: str, model_cfg: ModelConfig, trainer: TrainerConfig, vocab: Vocab, words: dict[str, EncodedSplit],
              data: SubwordData, cfg: SubwordConfig, classes: list[str], seed: int, tracker: Tracker,
              state: RunState | None = None) -> tuple[TrainResult, dict[str, Any], dict[str, Any], list[float]]:
    """One arm at one seed: the classifier trained with early stopping on validation, then scored on test by its
    argmax and with the decision offsets fitted on validation (`training.decision`); returns both scores and the
    offsets."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; known: {', '.join(ARMS)}")
    if arm == "words":
        splits = words
        model = build_classifier(model_cfg, trainer, list(vocab.itos), len(classes), tracker, seed)
    else:
        splits = data.splits
        model = build_subword_classifier(model_cfg, trainer, vocab, data, cfg, len(classes), tracker, seed)
    result = fit(model, splits["train"], splits["val"], trainer, tracker, seed, state)
    device = next(model.parameters()).device
    val, test = (predict_logits(model, splits[s], trainer.batch_size * 4, device) for s in ("val", "test"))
    offsets = fit_offsets(val, splits["val"].labels)
    labels = splits["test"].labels.tolist()
    return (result, score(labels, test.argmax(1).tolist(), classes),
            score(labels, apply_offsets(test, offsets).argmax(1).tolist(), classes), offsets)


def tfidf_rows(frame: pd.DataFrame, tfidf: TfidfConfig, classes: Sequence[str], seed: int) -> dict[str, dict[str, Any]]:
    """TF-IDF's test scores with `tfidf`'s settings, with and without its character n-grams, and the pipeline's with
    decision offsets fitted on validation as the recurrent arms' are."""
    parts = {name: frame.loc[frame["split"] == name] for name in ("train", "val", "test")}
    ids = {name: [list(classes).index(label) for label in part["label"]] for name, part in parts.items()}
    rows = {}
    for name, char in (("tfidf_words", False), ("tfidf", True)):
        baseline = TfidfBaseline(dataclasses.replace(tfidf, char_ngrams=char), seed)
        baseline.fit(parts["train"]["tokens"].tolist(), ids["train"], parts["val"]["tokens"].tolist(), ids["val"])
        val, test = (torch.from_numpy(baseline.predict_proba(parts[s]["tokens"].tolist())).log()
                     for s in ("val", "test"))
        rows[name] = {"C": baseline.C, **_test_scores(ids["test"], test.argmax(1).tolist(), classes)}
        if char:
            offsets = fit_offsets(val, ids["val"])
            rows[f"{name}{OFFSETS}"] = {"C": baseline.C, "offsets": offsets, **_test_scores(
                ids["test"], apply_offsets(test, offsets).argmax(1).tolist(), classes)}
    return rows


def _test_scores(labels: Sequence[int], predicted: Sequence[int], classes: Sequence[str]) -> dict[str, float]:
    test = score(list(labels), list(predicted), list(classes))
    return {"test_macro_f1": test["macro_f1"], "test_accuracy": test["accuracy"]}


def report(metrics: dict[str, Any], target_margin: float) -> str:
    """reports/subword.md: both arms and both TF-IDF models, mean +- std over seeds, and the target's verdict."""
    tfidf, target = metrics["tfidf"]["test_macro_f1"], metrics["tfidf"]["test_macro_f1"] + target_margin
    seeds = ", ".join(str(r["seed"]) for r in metrics["subwords"]["seeds"])
    overrides = ", ".join(f"`{part}.{key}: {value}`" for part, keys in metrics["overrides"].items()
                          for key, value in keys.items())
    lines = [
        f"# Character n-grams in a recurrent classifier (train.{metrics['model']})",
        "",
        f"Both arms train `train.{metrics['model']}` with the main `trainer`, changed by "
        f"{overrides or 'nothing'}. RuSentiment, 3 classes, test macro-F1 over seeds {seeds} (mean ± std). "
        "The subwords arm adds to every token's word vector the mean of its character n-grams' vectors "
        "(fastText's construction, "
        "`rnnlab.models.subword`); the words arm is the same classifier on featurize's word ids. "
        f"{metrics['types']:,} token types in all, {metrics['vocabulary']:,} of them in the vocabulary; "
        f"{metrics['ngrams']:,} character n-grams occur in enough training tokens to get a vector.",
        "",
        "| model | test_macro_f1 | change | vs_tfidf |",
        "|---|---|---|---|",
        f"| TF-IDF, word n-grams only | {metrics['tfidf_words']['test_macro_f1']:.4f} |  | "
        f"{metrics['tfidf_words']['test_macro_f1'] - tfidf:+.4f} |",
        f"| TF-IDF, word and character n-grams (the pipeline's) | {tfidf:.4f} | "
        f"{tfidf - metrics['tfidf_words']['test_macro_f1']:+.4f} | |",
    ]
    words = metrics["words"]["test_macro_f1_mean"]
    for arm, label in (("words", "words"), ("subwords", "words + character n-grams")):
        m = metrics[arm]
        change = "" if arm == "words" else f"{m['test_macro_f1_mean'] - words:+.4f}"
        lines.append(f"| {metrics['model']}, {label} | {m['test_macro_f1_mean']:.4f} ± {m['test_macro_f1_std']:.4f} | "
                     f"{change} | {m['test_macro_f1_mean'] - tfidf:+.4f} |")
    lines += ["", "With decision offsets fitted on validation macro-F1 (`rnnlab.training.decision`; change: against "
              "the same model's argmax):", "", "| model | test_macro_f1 | change | vs_tfidf |", "|---|---|---|---|",
              f"| TF-IDF, word and character n-grams, offsets {metrics['tfidf' + OFFSETS]['offsets']} | "
              f"{metrics['tfidf' + OFFSETS]['test_macro_f1']:.4f} | "
              f"{metrics['tfidf' + OFFSETS]['test_macro_f1'] - tfidf:+.4f} | "
              f"{metrics['tfidf' + OFFSETS]['test_macro_f1'] - tfidf:+.4f} |"]
    for arm, label in (("words", "words"), ("subwords", "words + character n-grams")):
        m = metrics[arm + OFFSETS]
        lines.append(f"| {metrics['model']}, {label} | {m['test_macro_f1_mean']:.4f} ± {m['test_macro_f1_std']:.4f} | "
                     f"{m['test_macro_f1_mean'] - metrics[arm]['test_macro_f1_mean']:+.4f} | "
                     f"{m['test_macro_f1_mean'] - tfidf:+.4f} |")
    best = max(metrics["subwords"]["test_macro_f1_mean"], metrics["subwords" + OFFSETS]["test_macro_f1_mean"])
    verdict = (f"reaches the target ({target:.4f}: TF-IDF + {target_margin})" if best >= target else
               f"falls short of the target ({target:.4f}: TF-IDF + {target_margin}) by {target - best:.4f}")
    lines += ["", f"The subwords arm, at its best decision rule, {verdict}.", "", "## Per seed", "",
              "| arm | seed | best_epoch | val_macro_f1 | test_macro_f1 | offsets | test_macro_f1 with offsets |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {arm} | {r['seed']} | {r['best_epoch']} | {r['val_macro_f1']:.4f} | {r['test_macro_f1']:.4f} | "
              f"{o['offsets']} | {o['test_macro_f1']:.4f} |"
              for arm in ARMS for r, o in zip(metrics[arm]["seeds"], metrics[arm + OFFSETS]["seeds"], strict=True)]
    return "\n".join(lines) + "\n"
