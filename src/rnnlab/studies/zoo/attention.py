"""The zoo's attention classifier: the zoo's base model and trainer with `zoo.attention`'s overrides
(`pooling: attention`), trained at every zoo seed through the one loop and compared beside the variants.

Its runs are a stage of their own (`zoo_attention`), not a `zoo.variants` entry, because the zoo's runs
build `build_model`'s classifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from rnnlab.models.classifier import count_parameters
from rnnlab.studies.zoo.zoo import EXPERIMENT, ZooRun
from rnnlab.text.batching import EncodedSplit
from rnnlab.text.vocab import Vocab
from rnnlab.training.attention import KIND, train_attention
from rnnlab.training.checkpoint import Checkpoint, save_checkpoint
from rnnlab.training.classification import predict_logits
from rnnlab.training.loop import resolve_device
from rnnlab.training.metrics import score
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import mlflow_run

VARIANT = "lstm_attention"
ATTENTION_STAGE = "zoo_attention"  # in studies/zoo/dvc.yaml


def train_attention_run(run: ZooRun, checkpoint: Path, splits: Mapping[str, EncodedSplit], itos: list[str],
                        classes: list[str], meta: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Train the attention classifier at one seed (continuing its saved state), score it on test and write
    its checkpoint (with `meta`: the preprocessing it reads raw text with); its MLflow run id and results."""
    torch.set_num_threads(run.trainer.num_threads)
    state = RunState(run.state_path, run.fingerprint)
    if state.result is not None:  # finished by an earlier attempt at the stage (its checkpoint written before)
        return state.saved
    with mlflow_run(f"{run.variant}/seed{run.seed}", env, stage=ATTENTION_STAGE, experiment=EXPERIMENT,
                    run_id=state.run_id) as tracker:
        tracker.set_tags({"zoo.variant": run.variant})
        model, result = train_attention(run.model, run.trainer, itos, splits, len(classes), tracker, run.seed, state)
        test = splits["test"]
        predicted = predict_logits(model, test, 512, resolve_device(run.trainer.device)).argmax(1).tolist()
        scores = score(test.labels.tolist(), predicted, classes)
        tracker.log_metrics({"test_macro_f1": scores["macro_f1"], "test_accuracy": scores["accuracy"]})
        val_f1 = result.best["val_macro_f1"]
        save_checkpoint(checkpoint, Checkpoint(KIND, run.model, model.cpu(), Vocab(tuple(itos)), classes, {
            **meta, "name": f"{run.variant}@seed{run.seed}", "val_macro_f1": val_f1,
            "best_epoch": result.best_position, "history": result.history}))
    state.finish(tracker.run_id, {
        "run": {"seed": run.seed, "test_macro_f1": scores["macro_f1"], "test_accuracy": scores["accuracy"],
                "val_macro_f1": val_f1, "best_epoch": result.best_position},
        "timings": result.timings, "n_parameters": count_parameters(model)})
    print(f"{run.variant} seed {run.seed}: test macro-F1 {scores['macro_f1']:.4f}")
    return state.saved
