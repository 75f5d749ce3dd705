"""Surnames: the data, a character-level language classifier and a language-conditioned generator."""

from __future__ import annotations

import argparse
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
from sklearn.model_selection import train_test_split
from torch import nn

from rnnlab.batching import EncodedSplit, encode_split
from rnnlab.charlm import (IGNORE, PAD_ID, UNK_ID, Checkpoint, CharLM, LMBatch, LMConfig, LMResult, LMTrainerConfig,
                           generate, read_payload, train_lm)
from rnnlab.config import ConfigError, ModelConfig, TrainerConfig, from_dict
from rnnlab.corpora import get_corpus
from rnnlab.files import atomic_path
from rnnlab.metrics import score
from rnnlab.models import build_model
from rnnlab.reports import markdown_table
from rnnlab.tracking import Tracker
from rnnlab.training import FitResult, fit, predict_logits
from rnnlab.vocab import PAD, UNK, Vocab, build_vocab

BOS, EOS = "<bos>", "<eos>"
BOS_ID, EOS_ID = 2, 3
# Where the names_classify / names_generate stages write their checkpoints (dvc.yaml), for the commands.
DEFAULT_CLASSIFIER = Path("data/chars/names_classifier.pt")
DEFAULT_GENERATOR = Path("data/chars/names_generator.pt")


@dataclass(frozen=True)
class SplitConfig:
    val_size: float = 0.1
    test_size: float = 0.1

    def __post_init__(self) -> None:
        if not (0 < self.val_size and 0 < self.test_size and self.val_size + self.test_size < 1):
            raise ConfigError(f"names.split: val_size and test_size must be > 0 with a sum < 1, got {self}")


@dataclass(frozen=True)
class ClassifierConfig:
    max_len: int = 20  # characters read per name
    min_char_freq: int = 2  # rarer training characters become <unk>, so <unk> is learned
    model: ModelConfig = ModelConfig(cell="lstm", embedding_dim=64, hidden_size=128, bidirectional=True)
    trainer: TrainerConfig = TrainerConfig(class_weight="balanced")


@dataclass(frozen=True)
class GeneratorConfig:
    batch_size: int = 64
    max_length: int = 20  # characters sampled at most per name
    model: LMConfig = LMConfig(embedding_dim=32, hidden_size=128, num_layers=1, dropout=0.1)
    trainer: LMTrainerConfig = LMTrainerConfig(steps=2500, eval_every=250)
    temperature: float = 0.5
    samples: int = 100  # names per reported language
    languages: tuple[str, ...] = ("Russian", "German", "Japanese")


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


@dataclass
class NameClassifier:
    model: nn.Module
    config: ModelConfig
    vocab: Vocab
    classes: list[str]
    max_len: int

    def encode(self, names: Sequence[str], languages: Sequence[str] | None = None) -> EncodedSplit:
        """Characters as tokens (unknown ones -> <unk>); labels 0 when no languages are given."""
        labels = [self.classes.index(x) for x in languages] if languages is not None else [0] * len(names)
        return encode_split([list(n) for n in names], labels, self.vocab, self.max_len)


def train_classifier(frame: pd.DataFrame, cfg: ClassifierConfig, tracker: Tracker,
                     seed: int) -> tuple[NameClassifier, FitResult]:
    """Character vocabulary and classifier from the train split, early-stopped on the val split."""
    train, val = (frame[frame["split"] == s] for s in ("train", "val"))
    vocab = build_vocab(train["name"], max_size=10**6, min_freq=cfg.min_char_freq)
    classes = sorted(frame["language"].unique())
    clf = NameClassifier(build_model(cfg.model, len(vocab), len(classes)), cfg.model, vocab, classes, cfg.max_len)
    result = fit(clf.model, clf.encode(train["name"].tolist(), train["language"].tolist()),
                 clf.encode(val["name"].tolist(), val["language"].tolist()), cfg.trainer, tracker, seed)
    return clf, result


def log_probs(clf: NameClassifier, names: Sequence[str]) -> torch.Tensor:
    """(N, C) log-probabilities of each language."""
    return torch.log_softmax(predict_logits(clf.model, clf.encode(names), 256, torch.device("cpu")), dim=1)


def top_languages(clf: NameClassifier, names: Sequence[str], k: int) -> list[list[tuple[float, str]]]:
    """The k likeliest languages of each name, with log-probabilities."""
    values, indices = log_probs(clf, names).topk(min(k, len(clf.classes)), dim=1)  # (N, k) each
    return [[(float(v), clf.classes[i]) for v, i in zip(vs, ix, strict=True)] for vs, ix in zip(values, indices.tolist(), strict=True)]


def evaluate_classifier(clf: NameClassifier, part: pd.DataFrame) -> dict:
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


def save_classifier(path: str | Path, clf: NameClassifier) -> None:
    """Weights, model config, alphabet, languages and the length cut."""
    payload = {"config": asdict(clf.config), "itos": list(clf.vocab.itos), "classes": clf.classes,
               "max_len": clf.max_len, "state_dict": {k: v.detach().cpu() for k, v in clf.model.state_dict().items()}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_classifier(path: str | Path) -> NameClassifier:
    """A classifier written by `save_classifier`, on the CPU in eval mode."""
    payload = read_payload(path, {"config", "itos", "classes", "max_len", "state_dict"}, "surname classifier")
    cfg = from_dict(ModelConfig, payload["config"], where=f"{path}: config")
    vocab = Vocab(tuple(payload["itos"]))
    model = build_model(cfg, len(vocab), len(payload["classes"]))
    model.load_state_dict(payload["state_dict"])
    return NameClassifier(model.eval(), cfg, vocab, list(payload["classes"]), payload["max_len"])


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


def train_generator(frame: pd.DataFrame, cfg: GeneratorConfig, tracker: Tracker,
                    seed: int) -> tuple[Checkpoint, LMResult]:
    """A language-conditioned character LSTM over the train split's names, validated on the val split."""
    train, val = (frame[frame["split"] == s] for s in ("train", "val"))
    languages = sorted(frame["language"].unique())
    vocab = generator_vocab(train["name"])
    data = {name: encode_lm(part["name"].tolist(), [languages.index(x) for x in part["language"]], vocab)
            for name, part in (("train", train), ("val", val))}
    model = CharLM(cfg.model, len(vocab), len(languages))
    batches = shuffled_rows(data["train"], cfg.batch_size, torch.Generator().manual_seed(seed))
    val_batches = [rows(data["val"], index) for index in torch.arange(len(val)).split(512)]
    result = train_lm(model, batches, val_batches, cfg.trainer, tracker)
    return Checkpoint(model, cfg.model, vocab, languages, {"max_length": cfg.max_length}), result


def generate_names(ckpt: Checkpoint, language: str, n: int, temperature: float, seed: int,
                   first_letter: str = "") -> list[str]:
    """`n` surnames sampled for `language`, each starting with `first_letter` when one is given."""
    if language not in ckpt.conditions:
        raise ValueError(f"unknown language {language!r} (known: {', '.join(ckpt.conditions)})")
    if len(first_letter) > 1 or (first_letter and first_letter not in ckpt.vocab.stoi):
        raise ValueError(f"first letter {first_letter!r} is not one character of the model's alphabet")
    prime = [BOS_ID, *ckpt.vocab.encode(first_letter)]
    generator, banned = torch.Generator().manual_seed(seed), (PAD_ID, UNK_ID, BOS_ID)
    return [first_letter + "".join(ckpt.vocab.decode(generate(
        ckpt.model, prime, ckpt.meta["max_length"], temperature, 0, generator, ckpt.conditions.index(language),
        stop=EOS_ID, banned=banned))) for _ in range(n)]


def judge_samples(samples: dict[str, list[str]], known: set[str], clf: NameClassifier) -> dict[str, dict]:
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


def _predict_command(args: argparse.Namespace) -> int:
    from rnnlab.cli import CommandError

    if args.top < 1:
        raise CommandError("--top must be >= 1")
    clf = _load(load_classifier, args.checkpoint)
    for name, top in zip(args.names, top_languages(clf, args.names, args.top), strict=True):
        print(name)
        for value, language in top:
            print(f"  ({value:.2f}) {language}")
    return 0


def _generate_command(args: argparse.Namespace) -> int:
    from rnnlab.charlm import load_checkpoint
    from rnnlab.cli import CommandError

    if args.n < 1 or args.temperature < 0:
        raise CommandError("-n must be >= 1 and --temperature >= 0")
    ckpt = _load(load_checkpoint, args.checkpoint)
    try:
        names = generate_names(ckpt, args.language, args.n, args.temperature, args.seed, args.first_letter)
    except ValueError as err:
        raise CommandError(str(err)) from err
    print("\n".join(names))
    return 0


def _load(loader, path: Path):
    from rnnlab.cli import CommandError

    try:
        return loader(path)
    except (FileNotFoundError, ValueError) as err:
        raise CommandError(f"{err} (train it with `dvc repro`)") from err


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """`rnnlab names predict` and `rnnlab names generate`."""
    names = subparsers.add_parser("names", help="surname language classifier and generator")
    names = names.add_subparsers(required=True)
    predict = names.add_parser("predict", help="the likeliest languages of surnames")
    predict.add_argument("names", nargs="+", help="surnames, any alphabet")
    predict.add_argument("--top", type=int, default=3, help="languages shown per name")
    predict.add_argument("--checkpoint", type=Path, default=DEFAULT_CLASSIFIER)
    predict.set_defaults(func=_predict_command)
    gen = names.add_parser("generate", help="sample surnames of a language")
    gen.add_argument("--language", required=True)
    gen.add_argument("--first-letter", default="", help="one character every name starts with")
    gen.add_argument("--temperature", type=float, default=0.5, help="0 = always the likeliest character")
    gen.add_argument("-n", type=int, default=10, help="how many names")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--checkpoint", type=Path, default=DEFAULT_GENERATOR)
    gen.set_defaults(func=_generate_command)
