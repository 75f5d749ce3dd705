"""Stage evaluate: score every model and the baseline on test; metrics, report, plots, MLflow."""

import argparse
import os
import pickle
from pathlib import Path

import pandas as pd

from rnnlab.checkpoint import load_checkpoint
from rnnlab.config import read_params
from rnnlab.evaluation import ModelResult, write_reports
from rnnlab.features import load_features
from rnnlab.files import write_json
from rnnlab.metrics import majority_baseline, score
from rnnlab.tracking import mlflow_run
from rnnlab.training import predict_logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--tensors", type=Path, required=True)
    parser.add_argument("--preprocessed", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--reports", type=Path, required=True)
    args = parser.parse_args()

    splits, classes = load_features(args.tensors)
    test = splits["test"]
    y_true = test.labels.tolist()
    results = []
    for name in read_params(args.params)["train"]:
        clf = load_checkpoint(args.models_dir / f"{name}.pt")
        predicted = predict_logits(clf.model, test, 512, "cpu").argmax(1).tolist()
        results.append(ModelResult(name, score(y_true, predicted, classes), predicted, clf.meta))
    with (args.models_dir / "tfidf.pkl").open("rb") as f:
        tfidf = pickle.load(f)
    frame = pd.read_csv(args.preprocessed, dtype=str, keep_default_na=False)
    predicted = tfidf["baseline"].predict_proba(frame.loc[frame["split"] == "test", "tokens"].tolist()).argmax(1).tolist()
    results.append(ModelResult("tfidf", score(y_true, predicted, classes), predicted, {"run_id": tfidf["run_id"]}))
    majority = majority_baseline(splits["train"].labels.tolist(), y_true, classes)

    write_reports(results, classes, y_true, args.reports)
    write_json(args.metrics, {r.name: {k: r.scores[k] for k in ("accuracy", "macro_f1")} for r in results}
               | {"majority": {k: majority[k] for k in ("accuracy", "macro_f1")}})
    for r in results:
        with mlflow_run(r.name, os.environ, run_id=r.meta["run_id"]) as tracker:
            per_class = {f"test_f1_{c}": v["f1"] for c, v in r.scores["per_class"].items()}
            tracker.log_metrics({"test_accuracy": r.scores["accuracy"], "test_macro_f1": r.scores["macro_f1"], **per_class})
            tracker.log_artifact(args.reports / "figures" / f"confusion_{r.name}.png", "plots")
            if r.meta.get("history"):
                tracker.log_artifact(args.reports / "figures" / "learning_curves.png", "plots")
        print(f"{r.name:>8}: test accuracy {r.scores['accuracy']:.4f}, macro-F1 {r.scores['macro_f1']:.4f}")


if __name__ == "__main__":
    main()
