"""Stage tune: search the main model's hyperparameters on validation; score the chosen configuration on test once."""

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from rnnlab.cluster import ray_session, run_resources
from rnnlab.config import ClusterConfig, ModelConfig, TrainerConfig
from rnnlab.data.files import atomic_path, read_json, write_json
from rnnlab.params import NonNegativeInt, flatten, load_section, require_entry
from rnnlab.process import run_stage
from rnnlab.studies.shared import variant_configs
from rnnlab.studies.tune.tune import (
    METRIC,
    TuneConfig,
    fragment_yaml,
    report_text,
    search,
    split_trial,
)
from rnnlab.text.features import load_features
from rnnlab.text.vocab import Vocab
from rnnlab.training.classification import predict_logits, train_classifier
from rnnlab.training.loop import resolve_device
from rnnlab.training.metrics import score
from rnnlab.training.reports import plot_trials
from rnnlab.training.tracking import ChildRuns, mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/tune/params.yaml")
    parser.add_argument("--pipeline-params", default="params.yaml", help="the main pipeline's params")
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--tensors", type=Path, required=True)
    parser.add_argument("--test-metrics", type=Path, required=True, help="the main pipeline's metrics/test.json")
    parser.add_argument("--history", type=Path, required=True, help="the main models' per-epoch validation scores")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--figure", type=Path, required=True)
    parser.add_argument("--best", type=Path, required=True, help="the chosen configuration as a params.yaml fragment")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id, wall time")
    args = parser.parse_args()

    began = time.perf_counter()
    cfg, seed = load_section(args.params, "tune", TuneConfig), load_section(args.params, "seed", NonNegativeInt)
    cluster = load_section(args.pipeline_params, "cluster", ClusterConfig)
    require_entry(args.pipeline_params, "train", cfg.model, "tune.model")
    trainer = load_section(args.pipeline_params, "trainer", TrainerConfig)
    base = load_section(args.pipeline_params, f"train.{cfg.model}", ModelConfig)
    torch.set_num_threads(trainer.num_threads)  # as the trials did: the retrained chosen trial scores the same
    splits, classes = load_features(args.tensors)
    itos = list(Vocab.load(args.vocab).itos)
    with mlflow_run("search", os.environ, stage="tune", experiment="rnnlab-tune") as parent:
        parent.log_params(flatten(cfg, "tune."))
        children = ChildRuns(parent)
        with ray_session(cluster, os.environ) as resources, tempfile.TemporaryDirectory() as storage:
            need = run_resources(trainer.device, trainer.num_threads, cluster, resources)
            rows = search(cfg, base, trainer, splits, itos, len(classes), seed, children, need, storage)
        chosen = max(rows, key=lambda r: r[METRIC])
        overrides = split_trial({k: chosen[k] for k in cfg.space}, base)
        model_cfg, trainer_cfg = variant_configs(base, trainer, overrides, "tune: the chosen trial")
        tracker = children.tracker(children.start("chosen, retrained", {"tune.trial": chosen["trial"]}))
        model, result = train_classifier(model_cfg, trainer_cfg, itos, splits, len(classes), tracker, seed)
        predicted = predict_logits(model, splits["test"], 512, resolve_device(trainer.device)).argmax(1).tolist()
        test = score(splits["test"].labels.tolist(), predicted, classes)
        scores = {METRIC: result.best[METRIC], "test_macro_f1": test["macro_f1"], "test_accuracy": test["accuracy"]}
        tracker.log_metrics({k: v for k, v in scores.items() if k != METRIC})
        children.end(tracker.run_id, "FINISHED")
        parent.log_metrics(scores | {"trials": len(rows)})
    ended = [r["ended"] for r in rows]
    write_json(args.metrics, {"trials": len(rows), "stopped_by_asha": ended.count("stopped by ASHA"),
                              "stopped_by_patience": ended.count("stopped by patience"), "best_trial": chosen["trial"],
                              **scores})
    today = read_json(args.test_metrics)
    reference = {path.stem: {METRIC: max(h[METRIC] for h in read_json(path)),  # every main model with a history
                             "test_macro_f1": today[path.stem]["macro_f1"]} for path in sorted(args.history.glob("*.json"))}
    plot_trials([r[METRIC] for r in rows], args.figure, {f"train@{n} (val)": r[METRIC] for n, r in reference.items()})
    fragment = {"train": {cfg.model: overrides.model}, "trainer": overrides.trainer}
    with atomic_path(args.best) as tmp:
        tmp.write_text(fragment_yaml(fragment), encoding="utf-8")
    with atomic_path(args.report) as tmp:
        tmp.write_text(report_text(cfg, rows, chosen, scores, fragment, reference,
                                   os.path.relpath(args.figure, args.report.parent)), encoding="utf-8")
    write_json(args.run_record, {"stage": "tune", "run_id": parent.run_id, "seconds": time.perf_counter() - began,
                                 "trials": [{"trial": r["trial"], "epochs_run": r["epochs_run"]} for r in rows]})


if __name__ == "__main__":
    run_stage(main)
