"""Stage ulmfit: classifiers on the fine-tuned language model's encoder, one per seed, scored on the test split."""

import argparse
import os
from pathlib import Path

import pandas as pd
import torch

from rnnlab.config import flatten, load_section
from rnnlab.data.files import write_json
from rnnlab.process import run_stage
from rnnlab.tasks.ulmfit import encode_target, summary, train_awd_classifier
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--lm", type=Path, required=True, help="the language model whose encoder classifies")
    parser.add_argument("--prepared", type=Path, required=True, help="the target corpus: text, label, split")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg = load_section(args.params, "lm.classifier")
    torch.set_num_threads(cfg.trainer.num_threads)
    lm = load_checkpoint(args.lm, kind="awd_lm")
    splits, classes = encode_target(pd.read_csv(args.prepared, dtype=str, keep_default_na=False), lm, cfg.max_len)
    state = StageState(args.state_dir, "ulmfit", fingerprint(cfg, files=[args.lm, args.prepared]))
    runs, records = [], []
    for seed in cfg.seeds:
        run = state.run(f"seed_{seed}")
        with mlflow_run(f"ulmfit-seed{seed}", os.environ, stage="ulmfit", experiment="rnnlab-pretraining",
                        run_id=run.run_id) as tracker:
            tracker.log_params({"seed": seed, **flatten(cfg)})
            _, result, test = train_awd_classifier(lm, splits, classes, cfg, seed, tracker, run)
            row = {"seed": seed, "best_epoch": result.best_position, "val_macro_f1": result.best["val_macro_f1"],
                   "test_macro_f1": test["macro_f1"], "test_accuracy": test["accuracy"]}
            tracker.log_metrics({"test_macro_f1": test["macro_f1"], "test_accuracy": test["accuracy"]})
            runs.append(row)
            records.append({"seed": seed, "run_id": tracker.run_id, "timings": result.timings})
        print(f"seed {seed}: best epoch {row['best_epoch']}, val macro-F1 {row['val_macro_f1']:.4f}, "
              f"test macro-F1 {row['test_macro_f1']:.4f}")
    metrics = {"classes": classes, **summary(runs)}
    write_json(args.metrics, metrics)
    write_json(args.run_record, {"stage": "ulmfit", "runs": records})
    state.clear()
    print(f"test macro-F1 {metrics['test_macro_f1_mean']:.4f} +- {metrics['test_macro_f1_std']:.4f} "
          f"over {len(runs)} seeds")


if __name__ == "__main__":
    run_stage(main)
