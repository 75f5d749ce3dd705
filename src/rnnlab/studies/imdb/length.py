"""How much of a review does an LSTM need? The same classifier on IMDB, its texts cut to a few lengths or read whole.

Every setting trains on the same reviews, vocabulary, model, epochs and seed; only the number of tokens kept per
review differs (`max_lens`, 0: every token). Every setting reads length-bucketed batches as packed sequences, so
a batch costs its real tokens and the model sees each review's real length. Each setting trains in a process of
its own, so that its peak memory is its own (`rnnlab.training.memory`).

English reviews: lowercased word tokens (and `!`/`?` runs), URLs and numbers replaced; no lemmas, no stopwords.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import torch

from rnnlab.config import ModelConfig, TextConfig, TrainerConfig
from rnnlab.data.datasets import SPLITS, class_names
from rnnlab.data.files import atomic_path
from rnnlab.params import ConfigError, NonNegativeInt, PositiveInt, Range, Share
from rnnlab.text.batching import EncodedSplit
from rnnlab.text.tokenizer import END_OF_TEXT, tokenize_texts
from rnnlab.text.vocab import build_vocab
from rnnlab.training.classification import (
    ClassificationObjective,
    build_classifier,
    model_classes,
    predict_logits,
)
from rnnlab.training.loop import Optimization, TrainResult, resolve_device, train
from rnnlab.training.memory import MIB, PeakMemory, in_fresh_process
from rnnlab.training.metrics import macro_f1
from rnnlab.training.reports import (  # plt: matplotlib without a display
    markdown_table,
    plt,
)
from rnnlab.training.resume import RunState, StageState
from rnnlab.training.tracking import Tracker, mlflow_run

EXPERIMENT = "rnnlab-imdb-length"
ENGLISH = TextConfig(lowercase=True, replace_urls=True, replace_mentions=False, replace_numbers=True,
                     remove_stopwords=False, keep_negations=True, normalize="none")
Reviews = Annotated[int, Range(low=0, high=25_000)]  # IMDB holds 25,000 reviews in each of its splits


@dataclass(frozen=True)
class LengthStudyConfig:
    max_lens: tuple[NonNegativeInt, ...]  # tokens kept per review, one setting each; 0 = every token
    train_reviews: Reviews  # drawn with the seed from IMDB's 25,000 training reviews; 0 = all
    test_reviews: Reviews  # ... from its 25,000 test reviews; 0 = all
    val_size: Share  # carved from the drawn training reviews
    max_vocab: Annotated[int, Range(low=3)]  # <pad>, <unk> and at least one word
    min_freq: PositiveInt
    model: ModelConfig
    trainer: TrainerConfig

    def __post_init__(self) -> None:
        if not self.max_lens or len(set(self.max_lens)) != len(self.max_lens):
            raise ConfigError(f"max_lens: needs distinct values, got {list(self.max_lens)}")
        # the comparison is of lengths read, not of ways to batch them: every setting buckets and packs
        for key, value, wanted in (("model.packed", self.model.packed, True),
                                   ("trainer.bucket_by_length", self.trainer.bucket_by_length, True),
                                   ("trainer.pad_to_max_len", self.trainer.pad_to_max_len, False)):
            if value != wanted:
                raise ConfigError(f"{key}: must be {str(wanted).lower()} in this study (every setting reads "
                                  f"length-bucketed, packed batches), got {str(value).lower()}")


def setting_name(max_len: int) -> str:
    """'len_50' for a truncation, 'full' for every token."""
    return f"len_{max_len}" if max_len else "full"


def tokenize_reviews(texts: Sequence[str]) -> list[list[str]]:
    """Each review's tokens (English: lowercased words, `!`/`?` runs; URLs and numbers as placeholders)."""
    docs: list[list[str]] = [[]] if texts else []
    for token in tokenize_texts(list(texts), ENGLISH):
        if token == END_OF_TEXT:
            docs.append([])
        else:
            docs[-1].append(token)
    return docs


def encode_reviews(frame: pd.DataFrame, cfg: LengthStudyConfig) -> dict[str, Any]:
    """Vocabulary from the training reviews; every split's reviews as token ids, whole (flat ids, lengths, labels)."""
    docs = tokenize_reviews(frame["text"].tolist())
    classes = class_names(frame)
    labels = frame["label"].map({c: i for i, c in enumerate(classes)}).tolist()
    vocab = build_vocab([d for d, s in zip(docs, frame["split"]) if s == "train"], cfg.max_vocab, cfg.min_freq)
    payload: dict[str, Any] = {"itos": list(vocab.itos), "classes": classes}
    for split in SPLITS:
        rows = [i for i, s in enumerate(frame["split"]) if s == split]
        ids = [vocab.encode(docs[i]) or [1] for i in rows]  # an empty review reads one <unk>, as encode_split does
        payload[split] = {"ids": torch.tensor([t for row in ids for t in row], dtype=torch.long),
                          "lengths": torch.tensor([len(row) for row in ids], dtype=torch.long),
                          "labels": torch.tensor([labels[i] for i in rows], dtype=torch.long)}
    return payload


def truncate(ids: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor, max_len: int) -> EncodedSplit:
    """Reviews (flat `ids`, whole `lengths`) cut to their first `max_len` tokens (0: all), padded to the longest."""
    kept = lengths.clamp(max=max_len) if max_len else lengths.clone()
    tokens = torch.zeros(len(lengths), int(kept.max()) if len(kept) else 1, dtype=torch.long)  # (N, T)
    starts = (torch.cumsum(lengths, 0) - lengths).tolist()
    for row, (start, n) in enumerate(zip(starts, kept.tolist())):
        tokens[row, :n] = ids[start : start + n]
    return EncodedSplit(tokens, kept, labels.clone())


class MeteredObjective(ClassificationObjective):
    """The classification objective, with the memory of each epoch's training steps measured (validation apart)."""

    def __init__(self, *args: Any, meter: PeakMemory, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meter = meter

    def rounds(self) -> Iterator[tuple[int, Iterable[Any]]]:
        for epoch, batches in super().rounds():
            yield epoch, self._metered(batches)

    def _metered(self, batches: Iterable[Any]) -> Iterator[Any]:
        """The epoch's batches, measured from the first one's request to the end of the last one's step."""
        self.meter.start()
        yield from batches
        self.meter.stop()


def fit_metered(model: torch.nn.Module, splits: dict[str, EncodedSplit], cfg: TrainerConfig, tracker: Tracker,
                seed: int, meter: PeakMemory, state: RunState | None) -> TrainResult:
    """`classification.fit` with the training steps' memory measured by `meter`."""
    objective = MeteredObjective(splits["train"], splits["val"], cfg, model_classes(model), seed, meter.device,
                                 meter=meter)
    optimization = Optimization(cfg.lr, cfg.weight_decay, cfg.clip_grad_norm, cfg.autocast)
    return train(model, objective, optimization, meter.device, tracker, patience=cfg.patience, state=state)


@dataclass(frozen=True)
class SettingJob:
    """What a setting's process needs: all of it pickles, the reviews travel as a file."""

    cfg: LengthStudyConfig
    seed: int
    max_len: int
    data: Path  # what `encode_reviews` returned, saved with torch.save
    state: Path  # the setting's resumable training state
    fingerprint: str
    stage: str


def train_setting(job: SettingJob) -> dict[str, Any]:
    """Train and test one setting (run in a fresh process by the stage); its scores, timings and peak memory."""
    cfg = job.cfg
    torch.set_num_threads(cfg.trainer.num_threads)
    payload = torch.load(job.data, weights_only=True)
    splits = {split: truncate(**payload[split], max_len=job.max_len) for split in SPLITS}
    itos, n_classes, whole = payload["itos"], len(payload["classes"]), payload["train"]["lengths"]
    del payload
    run, name = RunState(job.state, job.fingerprint), setting_name(job.max_len)
    with mlflow_run(f"imdb-{name}", os.environ, stage=job.stage, experiment=EXPERIMENT, run_id=run.run_id) as tracker:
        tracker.log_params({"setting": name, "max_len": job.max_len, "vocab_size": len(itos),
                            **{f"{s}_reviews": len(splits[s]) for s in SPLITS}})
        model = build_classifier(cfg.model, cfg.trainer, itos, n_classes, tracker, job.seed)
        meter = PeakMemory(resolve_device(cfg.trainer.device))
        result = fit_metered(model, splits, cfg.trainer, tracker, job.seed, meter, run)
        pred = predict_logits(model, splits["test"], cfg.trainer.batch_size, meter.device).argmax(1)
        row = setting_row(job.max_len, whole, splits, result, pred, n_classes, meter)
        tracker.log_metrics({k: v for k, v in row.items() if k.startswith(("test_", "peak_", "mean_epoch"))})
        row["run_id"] = tracker.run_id
    return row


def setting_row(max_len: int, whole: torch.Tensor, splits: dict[str, EncodedSplit], result: TrainResult,
                pred: torch.Tensor, n_classes: int, meter: PeakMemory) -> dict[str, Any]:
    """One setting's line of the metrics: test scores, epochs, timings, tokens and peak memory (MiB)."""
    labels, train = splits["test"].labels, splits["train"]
    # on CPU the first measured epoch (its process had done no training before); on CUDA the highest
    peak = (max(meter.peaks) if meter.device.type == "cuda" else meter.peaks[0]) if meter.peaks else None
    return {
        "max_len": max_len or None,
        "test_accuracy": float((pred == labels).float().mean()),
        "test_macro_f1": macro_f1(labels.tolist(), pred.tolist(), n_classes),
        "val_macro_f1": result.best["val_macro_f1"],
        "best_epoch": result.best_position,
        "epochs": len(result.history),
        "mean_epoch_seconds": statistics.fmean(t["seconds"] for t in result.timings),
        "tokens_per_epoch": int(train.lengths.sum()),
        "truncated_share": float((whole > max_len).float().mean()) if max_len else 0.0,  # training reviews cut
        "peak_memory_mib": None if peak is None else peak / MIB,
    }


COSTS = ("mean_epoch_seconds", "peak_memory_mib", "run_id")  # measured, not reproduced: the run record's, not DVC's


def run_study(frame: pd.DataFrame, cfg: LengthStudyConfig, seed: int, state: StageState,
              stage: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every setting of `cfg.max_lens`, one after another, each in a fresh process; settings a killed attempt
    finished are kept. The study's metrics (what a rerun reproduces), and its costs: each setting's epoch time, peak
    memory and MLflow run (for the run record)."""
    payload = encode_reviews(frame, cfg)
    data = state.folder / "reviews.pt"
    with atomic_path(data) as tmp:
        torch.save(payload, tmp)
    rows = {}
    for max_len in cfg.max_lens:
        name, run = setting_name(max_len), state.run(setting_name(max_len))
        if run.result is None:
            row = in_fresh_process(train_setting, SettingJob(cfg, seed, max_len, data, run.path, state.fingerprint,
                                                             stage))
            run.finish(row["run_id"], row)
        rows[name] = run.result
        print(f"{name}: test accuracy {run.result['test_accuracy']:.4f}, macro-F1 {run.result['test_macro_f1']:.4f}, "
              f"{run.result['mean_epoch_seconds']:.1f} s an epoch")
    whole = payload["train"]["lengths"].float()
    device = resolve_device(cfg.trainer.device)
    metrics = {
        "reviews": {split: len(payload[split]["labels"]) for split in SPLITS}, "vocab_size": len(payload["itos"]),
        "train_review_tokens": {"mean": float(whole.mean()), "median": float(whole.median()), "max": int(whole.max())},
        "settings": {name: {k: v for k, v in row.items() if k not in COSTS} for name, row in rows.items()},
    }
    costs = {"device": device.type, "num_threads": cfg.trainer.num_threads, "peak_memory": PeakMemory(device).method,
             "settings": {name: {k: row[k] for k in COSTS} for name, row in rows.items()}}
    return metrics, costs


def _label(name: str, row: dict[str, Any]) -> str:
    return f"{row['max_len']} tokens" if row["max_len"] else "full length"


def length_report(metrics: dict[str, Any], cfg: LengthStudyConfig) -> str:
    """Markdown: the settings in one table, with what they share."""
    n, tokens, m = metrics["reviews"], metrics["train_review_tokens"], cfg.model
    rows = [{"setting": _label(name, row), "reviews cut": f"{row['truncated_share']:.1%}",
             "test accuracy": row["test_accuracy"], "test macro-F1": row["test_macro_f1"], "epochs": row["epochs"],
             "tokens per epoch": row["tokens_per_epoch"]}
            for name, row in metrics["settings"].items()]
    return "\n".join([
        "# Sequence length on IMDB: truncated against full-length reviews", "",
        f"IMDB's English reviews: {n['train']:,} training, {n['val']:,} validation and {n['test']:,} test reviews "
        f"(drawn with the seed); training reviews hold {tokens['median']:.0f} tokens (median), {tokens['mean']:.0f} "
        f"(mean), {tokens['max']:,} at most. Every setting: the same reviews, vocabulary ({metrics['vocab_size']:,} "
        f"entries), {'bidirectional ' if m.bidirectional else ''}{m.cell} ({m.embedding_dim}-d {m.embeddings} "
        f"embeddings, hidden {m.hidden_size}, {m.pooling} pooling), {cfg.trainer.epochs} epochs at most, seed; "
        f"length-bucketed batches, read as packed sequences. Only the tokens kept per review differ, in training and "
        f"testing alike. Test scores of the epoch with the best validation macro-F1.", "",
        markdown_table(rows, list(rows[0])),
        "What each setting cost (epoch time, peak memory) is measured, not reproduced: it is in the run record, "
        "reports/runs/imdb_length.md, beside its MLflow runs.", ""])


def cost_report(metrics: dict[str, Any], costs: dict[str, Any]) -> str:
    """Markdown for the run record: each setting's epoch time and peak memory against its tokens per epoch."""
    rows = [{"setting": _label(name, row), "tokens per epoch": row["tokens_per_epoch"],
             "mean epoch (s)": f"{cost['mean_epoch_seconds']:.1f}",
             "peak memory (MiB)": "" if cost["peak_memory_mib"] is None else f"{cost['peak_memory_mib']:.0f}",
             "MLflow run": cost["run_id"]}
            for (name, row), cost in zip(metrics["settings"].items(), costs["settings"].values(), strict=True)]
    return "\n".join([
        "# Sequence length on IMDB: what each setting cost in this run", "",
        f"Epoch time: training steps only, mean over the epochs, on {costs['device']} with {costs['num_threads']} "
        f"thread(s). Peak memory of the training steps: {costs['peak_memory']}. Timings differ from run to run, so "
        "this table is the stage's run record, not a DVC output; the scores are in reports/imdb/length.md.", "",
        markdown_table(rows, list(rows[0]))])


def plot_length(metrics: dict[str, Any], path: Path) -> None:
    """Two panels against the setting: test accuracy and macro-F1, tokens read per epoch (what epoch time follows)."""
    labels = [_label(name, row) for name, row in metrics["settings"].items()]
    rows = list(metrics["settings"].values())
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    x = range(len(rows))
    for offset, key, title in ((-0.2, "test_accuracy", "accuracy"), (0.2, "test_macro_f1", "macro-F1")):
        axes[0].bar([i + offset for i in x], [r[key] for r in rows], width=0.4, label=title)
    low = min(min(r["test_accuracy"], r["test_macro_f1"]) for r in rows)
    axes[0].set(ylim=(max(0.0, low - 0.1), 1.0), title="test scores")
    axes[0].legend(loc="lower right")
    axes[1].bar(x, [r["tokens_per_epoch"] for r in rows], color="tab:green")
    axes[1].set(ylabel="tokens", title="tokens per training epoch")
    for ax in axes:
        ax.set_xticks(list(x), labels)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
