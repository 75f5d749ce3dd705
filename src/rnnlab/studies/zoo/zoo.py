"""The model zoo: variants of one base classifier, each trained over several seeds and compared."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rnnlab.config import ModelConfig, TrainerConfig
from rnnlab.models.classifier import count_parameters
from rnnlab.text.batching import EncodedSplit
from rnnlab.training.classification import predict_logits, train_classifier
from rnnlab.training.loop import resolve_device
from rnnlab.training.metrics import score
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import mlflow_run

EXPERIMENT = "rnnlab-zoo"


@dataclass(frozen=True)
class ZooRun:
    """One variant at one seed, and where its resumable state lives (a file any worker of the cluster can reach)."""

    variant: str
    seed: int
    model: ModelConfig
    trainer: TrainerConfig
    state_path: Path
    fingerprint: str


def summarize(name: str, runs: list[dict[str, float]], n_parameters: int) -> dict[str, Any]:
    """Mean and spread over seeds of the scores of one variant."""

    def stats(key: str) -> dict[str, float]:
        values = [r[key] for r in runs]
        return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}

    return {
        "variant": name,
        "n_parameters": n_parameters,
        "test_macro_f1": stats("test_macro_f1"),
        "test_accuracy": stats("test_accuracy"),
        "runs": runs,
    }


def report_rows(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows sorted by mean test macro-F1."""
    rows = [
        {
            "variant": s["variant"],
            "test_macro_f1": f"{s['test_macro_f1']['mean']:.4f} ± {s['test_macro_f1']['std']:.4f}",
            "test_accuracy": f"{s['test_accuracy']['mean']:.4f} ± {s['test_accuracy']['std']:.4f}",
            "n_parameters": s["n_parameters"],
            "seeds": len(s["runs"]),
            "_key": s["test_macro_f1"]["mean"],
        }
        for s in summaries
    ]
    return sorted(rows, key=lambda r: -r["_key"])


def train_run(run: ZooRun, splits: Mapping[str, EncodedSplit], itos: list[str], classes: list[str],
              env: Mapping[str, str]) -> dict[str, Any]:
    """Train one variant at one seed (continuing its saved state), score it on test; its MLflow run id and results."""
    torch.set_num_threads(run.trainer.num_threads)
    state = RunState(run.state_path, run.fingerprint)
    if state.result is not None:  # finished by an earlier attempt whose other runs did not
        return state.saved
    with mlflow_run(f"{run.variant}/seed{run.seed}", env, stage="zoo", experiment=EXPERIMENT,
                    run_id=state.run_id) as tracker:
        tracker.set_tags({"zoo.variant": run.variant})
        model, result = train_classifier(run.model, run.trainer, itos, splits, len(classes), tracker, run.seed, state)
        test = splits["test"]
        predicted = predict_logits(model, test, 512, resolve_device(run.trainer.device)).argmax(1).tolist()
        scores = score(test.labels.tolist(), predicted, classes)
        tracker.log_metrics({"test_macro_f1": scores["macro_f1"], "test_accuracy": scores["accuracy"]})
    state.finish(tracker.run_id, {
        "run": {"seed": run.seed, "test_macro_f1": scores["macro_f1"], "test_accuracy": scores["accuracy"],
                "val_macro_f1": result.best["val_macro_f1"], "best_epoch": result.best_position},
        "timings": result.timings, "n_parameters": count_parameters(model)})
    epoch_seconds = sum(t["seconds"] for t in result.timings) / len(result.timings)
    print(f"{run.variant} seed {run.seed}: test macro-F1 {scores['macro_f1']:.4f}, {epoch_seconds:.1f} s/epoch")
    return state.saved
