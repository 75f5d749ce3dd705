"""Surnames: a character-level language classifier and a language-conditioned generator."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from rnnlab.config import LMConfig, LMTrainerConfig, ModelConfig, TrainerConfig
from rnnlab.models.classifier import build_model
from rnnlab.models.language import PAD_ID, UNK_ID, CharLM
from rnnlab.models.sampling import generate
from rnnlab.params import NonNegativeFloat, PositiveInt
from rnnlab.text.batching import EncodedSplit, encode_split
from rnnlab.text.vocab import PAD, UNK, Vocab, build_vocab
from rnnlab.training.checkpoint import Checkpoint
from rnnlab.training.classification import fit, predict_logits
from rnnlab.training.language import IGNORE, LMBatch, fit_language_model
from rnnlab.training.loop import TrainResult
from rnnlab.training.metrics import score
from rnnlab.training.reports import markdown_table
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import Tracker


@dataclass(frozen=True)
class ClassifierConfig:
    max_len: PositiveInt  # characters read per name
    min_char_freq: PositiveInt  # rarer training characters become <unk>, so <unk> is learned
    model: ModelConfig
    trainer: TrainerConfig


@dataclass(frozen=True)
class GeneratorConfig:
    batch_size: PositiveInt
    max_length: PositiveInt  # characters sampled at most per name
    model: LMConfig
    trainer: LMTrainerConfig
    temperature: NonNegativeFloat
    samples: PositiveInt  # names per reported language
    languages: tuple[str, ...]

BOS, EOS = "<bos>", "<eos>"
BOS_ID, EOS_ID = 2, 3


def encode_names(clf: Checkpoint, names: Sequence[str], languages: Sequence[str] | None = None) -> EncodedSplit:
    """Characters as tokens (unknown ones -> <unk>); labels 0 when no languages are given."""
    labels = [clf.classes.index(x) for x in languages] if languages is not None else [0] * len(names)
    return encode_split([list(n) for n in names], labels, clf.vocab, clf.meta["max_len"])


def train_classifier(frame: pd.DataFrame, cfg: ClassifierConfig, tracker: Tracker, seed: int,
                     state: RunState | None = None) -> tuple[Checkpoint, TrainResult]:
    """Character vocabulary and classifier from the train split, early-stopped on the val split."""
    train, val = (frame[frame["split"] == s] for s in ("train", "val"))
    vocab = build_vocab(train["name"], max_size=10**6, min_freq=cfg.min_char_freq)
    classes = sorted(frame["language"].unique())
    model = build_model(cfg.model, len(vocab), len(classes))
    clf = Checkpoint("classifier", cfg.model, model, vocab, classes, {"max_len": cfg.max_len})
    result = fit(model, encode_names(clf, train["name"].tolist(), train["language"].tolist()),
                 encode_names(clf, val["name"].tolist(), val["language"].tolist()), cfg.trainer, tracker, seed, state)
    clf.meta["best_epoch"] = result.best_position
    return clf, result


def log_probs(clf: Checkpoint, names: Sequence[str]) -> torch.Tensor:
    """(N, C) log-probabilities of each language."""
    return torch.log_softmax(predict_logits(clf.model, encode_names(clf, names), 256, torch.device("cpu")), dim=1)


def top_languages(clf: Checkpoint, names: Sequence[str], k: int) -> list[list[tuple[float, str]]]:
    """The k likeliest languages of each name, with log-probabilities."""
    values, indices = log_probs(clf, names).topk(min(k, len(clf.classes)), dim=1)  # (N, k) each
    return [[(float(v), clf.classes[i]) for v, i in zip(vs, ix, strict=True)] for vs, ix in zip(values, indices.tolist(), strict=True)]


def evaluate_classifier(clf: Checkpoint, part: pd.DataFrame) -> dict:
    """Accuracy, macro-F1, per-language scores and the confusion matrix on a split."""
    predicted = log_probs(clf, part["name"].tolist()).argmax(1).tolist()
    return score([clf.classes.index(x) for x in part["language"]], predicted, clf.classes)


def classifier_markdown(scores: dict, baseline: dict, confusion_png: str) -> str:
    """Test scores with the majority-class baseline, a per-language table and the confusion matrix image."""
    rows = [{"language": language, **row} for language, row in scores["per_class"].items()]
    return (f"## Surname -> language, test split\n\nAccuracy {scores['accuracy']:.4f}, macro-F1 "
            f"{scores['macro_f1']:.4f} (always the majority language: accuracy {baseline['accuracy']:.4f}, "
            f"macro-F1 {baseline['macro_f1']:.4f}).\n\n"
            + markdown_table(rows, ["language", "precision", "recall", "f1", "support"])
            + f"\n![confusion matrix, rows = true language]({confusion_png})\n")


def generator_vocab(names: Sequence[str]) -> Vocab:
    """<pad>, <unk>, <bos>, <eos>, then the training characters by frequency."""
    return Vocab((PAD, UNK, BOS, EOS, *build_vocab(names, max_size=10**6, min_freq=1).itos[2:]))


def encode_lm(names: Sequence[str], conditions: Sequence[int], vocab: Vocab) -> LMBatch:
    """All names as one batch: inputs <bos> + name, targets name + <eos>, padding ignored by the loss."""
    ids = [vocab.encode(n) for n in names]
    width = max(len(row) for row in ids) + 1
    inputs = torch.full((len(ids), width), PAD_ID, dtype=torch.long)  # (N, T)
    targets = torch.full((len(ids), width), IGNORE, dtype=torch.long)  # (N, T)
    for r, row in enumerate(ids):
        inputs[r, : len(row) + 1] = torch.tensor([BOS_ID, *row])
        targets[r, : len(row) + 1] = torch.tensor([*row, EOS_ID])
    return LMBatch(inputs, targets, carry=False, condition=torch.tensor(list(conditions), dtype=torch.long))


def rows(data: LMBatch, index: torch.Tensor) -> LMBatch:
    """Rows `index`, cut to their longest name: each name is its own sequence (teacher forcing, no carry)."""
    width = int((data.targets[index] != IGNORE).sum(1).max())
    return LMBatch(data.inputs[index, :width], data.targets[index, :width], False, data.condition[index])


def shuffled_rows(data: LMBatch, batch_size: int, generator: torch.Generator) -> Iterator[LMBatch]:
    """Endless epochs of shuffled batches."""
    while True:
        for index in torch.randperm(len(data.inputs), generator=generator).split(batch_size):
            yield rows(data, index)


def train_generator(frame: pd.DataFrame, cfg: GeneratorConfig, tracker: Tracker, seed: int,
                    state: RunState | None = None) -> tuple[Checkpoint, TrainResult]:
    """A language-conditioned character LSTM over the train split's names, validated on the val split."""
    train, val = (frame[frame["split"] == s] for s in ("train", "val"))
    languages = sorted(frame["language"].unique())
    vocab = generator_vocab(train["name"])
    data = {name: encode_lm(part["name"].tolist(), [languages.index(x) for x in part["language"]], vocab)
            for name, part in (("train", train), ("val", val))}
    model = CharLM(cfg.model, len(vocab), len(languages))
    batches = shuffled_rows(data["train"], cfg.batch_size, torch.Generator().manual_seed(seed))
    val_batches = [rows(data["val"], index) for index in torch.arange(len(val)).split(512)]
    result = fit_language_model(model, batches, val_batches, cfg.trainer, tracker, state)
    meta = {"max_length": cfg.max_length, "best_step": result.best_position, "val_loss": result.best["val_loss"]}
    return Checkpoint("char_lm", cfg.model, model, vocab, languages, meta), result


def generate_names(ckpt: Checkpoint, language: str, n: int, temperature: float, seed: int,
                   first_letter: str = "") -> list[str]:
    """`n` surnames sampled for `language`, each starting with `first_letter` when one is given."""
    if language not in ckpt.classes:
        raise ValueError(f"unknown language {language!r} (known: {', '.join(ckpt.classes)})")
    if len(first_letter) > 1 or (first_letter and first_letter not in ckpt.vocab.stoi):
        raise ValueError(f"first letter {first_letter!r} is not one character of the model's alphabet")
    prime = [BOS_ID, *ckpt.vocab.encode(first_letter)]
    generator, banned = torch.Generator().manual_seed(seed), (PAD_ID, UNK_ID, BOS_ID)
    return [first_letter + "".join(ckpt.vocab.decode(generate(
        ckpt.model, prime, ckpt.meta["max_length"], temperature, 0, generator, ckpt.classes.index(language),
        stop=EOS_ID, banned=banned))) for _ in range(n)]


def judge_samples(samples: dict[str, list[str]], known: set[str], clf: Checkpoint) -> dict[str, dict]:
    """Per language: the share of samples not among `known` names and the share the classifier assigns to it."""
    report = {}
    for language, names in samples.items():
        predicted = [clf.classes[i] for i in log_probs(clf, names).argmax(1).tolist()]
        report[language] = {"novel": sum(n not in known for n in names) / len(names),
                            "accepted": sum(p == language for p in predicted) / len(names), "samples": names}
    return report


def generator_markdown(report: dict[str, dict], temperature: float, shown: int = 12) -> str:
    """Per language: shares of novel and classifier-accepted samples, and some samples."""
    rows = [{"language": language, "novel": r["novel"], "accepted": r["accepted"],
             "samples": ", ".join(r["samples"][:shown])} for language, r in report.items()]
    return (f"## Generated surnames (temperature {temperature})\n\nnovel: not among the training names; "
            "accepted: the classifier's top language is the requested one.\n\n"
            + markdown_table(rows, ["language", "novel", "accepted", "samples"]))
