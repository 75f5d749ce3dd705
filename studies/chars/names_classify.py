"""Stage names_classify: train the surname -> language classifier; test scores, per-language F1, confusion."""

import argparse
from pathlib import Path

import pandas as pd
import torch

from rnnlab.data.files import atomic_path, write_json
from rnnlab.params import NonNegativeInt, flatten, load_section
from rnnlab.process import run_stage
from rnnlab.studies.chars.names import (
    ClassifierConfig,
    classifier_markdown,
    evaluate_classifier,
    train_classifier,
)
from rnnlab.training.checkpoint import save_checkpoint
from rnnlab.training.loop import set_seed
from rnnlab.training.metrics import majority_baseline
from rnnlab.training.reports import plot_confusion
from rnnlab.training.resume import fingerprint
from rnnlab.training.stage import tracked_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/chars/params.yaml")
    parser.add_argument("--names", type=Path, required=True, help="CSV from names_prepare")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True, help="markdown table")
    parser.add_argument("--confusion", type=Path, required=True, help="PNG")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg = load_section(args.params, "names.classifier", ClassifierConfig)
    seed = load_section(args.params, "seed", NonNegativeInt)
    torch.set_num_threads(cfg.trainer.num_threads)
    set_seed(seed)
    frame = pd.read_csv(args.names, dtype=str, keep_default_na=False)
    with tracked_stage(args.state_dir, "names_classify", fingerprint(cfg, seed, files=[args.names]),
                       args.run_record, "names-classifier", experiment="rnnlab-names") as current:
        run, tracker = current.run, current.tracker
        tracker.log_params({"seed": seed, **flatten(cfg)})
        clf, result = train_classifier(frame, cfg, tracker, seed, run)
        test = frame[frame["split"] == "test"]
        scores = evaluate_classifier(clf, test)
        train_ids = [clf.classes.index(x) for x in frame.loc[frame["split"] == "train", "language"]]
        baseline = majority_baseline(train_ids, [clf.classes.index(x) for x in test["language"]], clf.classes)
        tracker.log_metrics({"test_accuracy": scores["accuracy"], "test_macro_f1": scores["macro_f1"]})
        save_checkpoint(args.checkpoint, clf)
        write_json(args.metrics, {"best_epoch": result.best_position, **scores, "majority_baseline": baseline})
        write_json(args.history, result.history)
        with atomic_path(args.report) as tmp:
            tmp.write_text(classifier_markdown(scores, baseline, args.confusion.name), encoding="utf-8")
        plot_confusion(scores["confusion"], clf.classes, "surname -> language, test", args.confusion)
        for path in (args.report, args.confusion):
            tracker.log_artifact(path, "report")
        current.record["timings"] = result.timings
    print(f"test accuracy {scores['accuracy']:.4f}, macro-F1 {scores['macro_f1']:.4f}")


if __name__ == "__main__":
    run_stage(main)
