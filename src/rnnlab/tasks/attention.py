"""The zoo's attention classifier: the zoo's base model and trainer with `zoo.attention`'s overrides
(`pooling: attention`), trained at every zoo seed through the one loop and compared beside the variants.

Its runs are a stage of their own (`zoo_attention`), not a `zoo.variants` entry, because the zoo's
runs build `build_model`'s classifiers; its checkpoints are of kind `attention_classifier`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from rnnlab.config import SECTIONS, ModelConfig, Variant, flatten
from rnnlab.models.attention import build_attention_classifier
from rnnlab.models.classifier import count_parameters
from rnnlab.models.embeddings import EMBEDDINGS
from rnnlab.tasks.zoo import EXPERIMENT, ZooRun
from rnnlab.text.batching import EncodedSplit
from rnnlab.text.vocab import Vocab
from rnnlab.training.checkpoint import KINDS, Checkpoint, ModelKind, save_checkpoint
from rnnlab.training.classification import fit, predict_logits
from rnnlab.training.loop import resolve_device, set_seed
from rnnlab.training.metrics import score
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import mlflow_run

KIND = "attention_classifier"
VARIANT = "lstm_attention"
ATTENTION_STAGE = "zoo_attention"  # in studies/zoo/dvc.yaml
SECTIONS["zoo.attention"] = Variant  # the zoo study's section, registered beside config.py's own
# pretrained vectors are in the weights already: build a plain embedding, then load into it
KINDS[KIND] = ModelKind(ModelConfig, lambda cfg, v, c: build_attention_classifier(
    dataclasses.replace(cfg, embeddings="scratch"), v, c))


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
        set_seed(run.seed)
        pretrained = None
        if (source := EMBEDDINGS[run.model.embeddings]) is not None:
            pretrained, coverage = source(itos, run.model.embedding_dim, run.seed)
            tracker.log_metrics({f"{run.model.embeddings}_coverage": coverage})
        model = build_attention_classifier(run.model, len(itos), len(classes), pretrained)
        tracker.log_params({"seed": run.seed, "n_parameters": count_parameters(model),
                            **flatten(run.trainer, "trainer."), **flatten(run.model, "model.")})
        result = fit(model, splits["train"], splits["val"], run.trainer, tracker, run.seed, state)
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
