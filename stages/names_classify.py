"""Stage names_classify: train the surname -> language classifier; test scores, per-language F1, confusion."""

import argparse
import os
from pathlib import Path

import pandas as pd
import torch

from rnnlab.config import flatten, load_section, load_seed
from rnnlab.files import atomic_path, write_json
from rnnlab.metrics import majority_baseline
from rnnlab.names import ClassifierConfig, classifier_markdown, evaluate_classifier, save_classifier, train_classifier
from rnnlab.reports import plot_confusion
from rnnlab.tracking import mlflow_run
from rnnlab.training import history_rows, set_seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--names", type=Path, required=True, help="CSV from names_prepare")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True, help="markdown table")
    parser.add_argument("--confusion", type=Path, required=True, help="PNG")
    args = parser.parse_args()

    cfg, seed = load_section(args.params, "names.classifier", ClassifierConfig), load_seed(args.params)
    torch.set_num_threads(cfg.trainer.num_threads)
    set_seed(seed)
    frame = pd.read_csv(args.names, dtype=str, keep_default_na=False)
    with mlflow_run("names-classifier", os.environ, stage="names_classify", experiment="rnnlab-names") as tracker:
        tracker.log_params({"seed": seed, **flatten(cfg)})
        clf, result = train_classifier(frame, cfg, tracker, seed)
        test = frame[frame["split"] == "test"]
        scores = evaluate_classifier(clf, test)
        train_ids = [clf.classes.index(x) for x in frame.loc[frame["split"] == "train", "language"]]
        baseline = majority_baseline(train_ids, [clf.classes.index(x) for x in test["language"]], clf.classes)
        tracker.log_metrics({"test_accuracy": scores["accuracy"], "test_macro_f1": scores["macro_f1"]})
        save_classifier(args.checkpoint, clf)
        write_json(args.metrics, {"best_epoch": result.best_epoch, **scores, "majority_baseline": baseline})
        write_json(args.history, history_rows(result))
        with atomic_path(args.report) as tmp:
            tmp.write_text(classifier_markdown(scores, baseline, args.confusion.name), encoding="utf-8")
        plot_confusion(scores["confusion"], clf.classes, "surname -> language, test", args.confusion)
        for path in (args.report, args.confusion):
            tracker.log_artifact(path, "report")
    print(f"test accuracy {scores['accuracy']:.4f}, macro-F1 {scores['macro_f1']:.4f}")


if __name__ == "__main__":
    main()
