"""Stage evaluate: score every model and the baseline on test; metrics, report, plots, MLflow."""

import argparse
import os
import pickle
from pathlib import Path

import pandas as pd

from rnnlab.classifiers.ngram import SubwordEntry, load_models, training_stage
from rnnlab.data.files import read_json, write_json
from rnnlab.process import run_stage
from rnnlab.serving.predict import load_predictor
from rnnlab.text.features import load_features
from rnnlab.training.attention import classifier_kind
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.classification import predict_logits
from rnnlab.training.evaluation import ModelResult, trained_checkpoints, write_reports
from rnnlab.training.metrics import majority_baseline, score
from rnnlab.training.tracking import annotate_run, run_exists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--models-dir", type=Path, required=True, help="the train stages' checkpoints")
    parser.add_argument("--tfidf", type=Path, required=True, help="the tfidf stage's model")
    parser.add_argument("--tensors", type=Path, required=True)
    parser.add_argument("--preprocessed", type=Path, required=True)
    parser.add_argument("--prepared", type=Path, required=True,
                        help="raw test texts, for models that read them (the n-gram classifier's)")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--reports", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True, help="folder of run records: the MLflow runs to log into")
    args = parser.parse_args()

    models = load_models(args.params)
    checkpoints = trained_checkpoints(args.models_dir, models)
    splits, classes = load_features(args.tensors)
    test = splits["test"]
    y_true = test.labels.tolist()
    prepared = pd.read_csv(args.prepared, dtype=str, keep_default_na=False)
    prepared = prepared[prepared["split"] == "test"]
    if [classes.index(label) for label in prepared["label"]] != y_true:
        raise ValueError(f"{args.prepared}: its test rows are not those of {args.tensors} (rerun `dvc repro`)")
    results = []
    for name, path in checkpoints.items():
        if isinstance(models[name], SubwordEntry):  # reads the raw text its own way
            predictor = load_predictor(path)
            if predictor.classes != classes:
                raise ValueError(f"{path}: classes {predictor.classes}, the test split's are {classes}")
            predicted = predictor.probabilities(prepared["text"].tolist()).argmax(1).tolist()
            meta = predictor.clf.meta
        else:
            clf = load_checkpoint(path, kind=classifier_kind(models[name]))
            predicted = predict_logits(clf.model, test, 512, "cpu").argmax(1).tolist()
            meta = clf.meta
        results.append(ModelResult(name, score(y_true, predicted, classes), predicted, meta))
    with args.tfidf.open("rb") as f:
        tfidf = pickle.load(f)
    frame = pd.read_csv(args.preprocessed, dtype=str, keep_default_na=False)
    predicted = tfidf["baseline"].predict_proba(frame.loc[frame["split"] == "test", "tokens"].tolist()).argmax(1).tolist()
    results.append(ModelResult("tfidf", score(y_true, predicted, classes), predicted, {}))
    majority = majority_baseline(splits["train"].labels.tolist(), y_true, classes)

    write_reports(results, classes, y_true, args.reports)
    write_json(args.metrics, {r.name: {k: r.scores[k] for k in ("accuracy", "macro_f1")} for r in results}
               | {"majority": {k: majority[k] for k in ("accuracy", "macro_f1")}})
    run_ids = {record["stage"]: record["run_id"] for record in map(read_json, sorted(args.runs.glob("*.json")))
               if "run_id" in record}
    for r in results:
        print(f"{r.name:>8}: test accuracy {r.scores['accuracy']:.4f}, macro-F1 {r.scores['macro_f1']:.4f}")
        stage = "tfidf" if r.name == "tfidf" else training_stage(r.name, models)
        if stage not in run_ids or not run_exists(run_ids[stage], os.environ):
            print(f"{r.name:>8}: stage {stage} has no run in this tracking store (trained elsewhere, then pulled?): "
                  "test scores not logged to MLflow")
            continue
        with annotate_run(run_ids[stage], os.environ) as tracker:
            per_class = {f"test_f1_{c}": v["f1"] for c, v in r.scores["per_class"].items()}
            tracker.log_metrics({"test_accuracy": r.scores["accuracy"], "test_macro_f1": r.scores["macro_f1"], **per_class})
            tracker.log_artifact(args.reports / "figures" / f"confusion_{r.name}.png", "plots")
            if r.meta.get("history"):
                tracker.log_artifact(args.reports / "figures" / "learning_curves.png", "plots")


if __name__ == "__main__":
    run_stage(main)
