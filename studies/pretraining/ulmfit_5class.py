"""Stage ulmfit_5class: ULMFiT's classifier (`lm.classifier`) on RuSentiment's five labels, one per seed, scored on
the official test file with weighted and macro F1."""

import argparse
import os
import statistics
from pathlib import Path

import pandas as pd
import torch

from rnnlab.config import PrepareConfig
from rnnlab.data.datasets import read_rusentiment
from rnnlab.data.files import write_json
from rnnlab.params import ConfigError, NonNegativeInt, flatten, load_section
from rnnlab.process import run_stage
from rnnlab.studies.pretraining.five_class import (
    FiveClassConfig,
    check_no_leak,
    five_class_corpus,
    weighted_f1,
)
from rnnlab.studies.pretraining.ulmfit import (
    AWDClassifierConfig,
    encode_target,
    train_awd_classifier,
)
from rnnlab.studies.shared import seed_row, summary
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/pretraining/params.yaml")
    parser.add_argument("--pipeline-params", default="params.yaml", help="the main pipeline's params")
    parser.add_argument("--raw", type=Path, required=True, help="the download stage's folder (rusentiment/ in it)")
    parser.add_argument("--prepared", type=Path, required=True, help="the 3-class corpus the language model read")
    parser.add_argument("--lm", type=Path, required=True, help="the fine-tuned language model")
    parser.add_argument("--lm-corpus", type=Path, required=True, help="the language model's unlabelled corpus")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    if (corpus := load_section(args.pipeline_params, "prepare", PrepareConfig).corpus) != "rusentiment":
        raise ConfigError(f"{args.params}: prepare.corpus is {corpus!r}; the 5-class task is RuSentiment's")
    cfg = load_section(args.params, "lm.classifier", AWDClassifierConfig)
    five = load_section(args.params, "lm.five_class", FiveClassConfig)
    seed = load_section(args.params, "seed", NonNegativeInt)
    torch.set_num_threads(cfg.trainer.num_threads)
    read = pd.read_csv
    frame = five_class_corpus(read_rusentiment(args.raw), read(args.prepared, dtype=str, keep_default_na=False),
                              five, seed)
    check_no_leak(frame, read(args.lm_corpus, dtype=str, keep_default_na=False)["text"], str(args.lm_corpus))
    lm = load_checkpoint(args.lm, kind="awd_lm")
    splits, classes = encode_target(frame, lm, cfg.max_len)
    state = StageState(args.state_dir, "ulmfit_5class",
                       fingerprint(cfg, five, seed, files=[args.lm, args.prepared, args.lm_corpus]))
    runs, records = [], []
    for run_seed in cfg.seeds:
        run = state.run(f"seed_{run_seed}")
        if run.result is None:  # else finished by an earlier, interrupted attempt
            with mlflow_run(f"ulmfit-5class-seed{run_seed}", os.environ, stage="ulmfit_5class",
                            experiment="rnnlab-pretraining", run_id=run.run_id) as tracker:
                tracker.log_params({"seed": run_seed, "classes": len(classes), **flatten(cfg)})
                _, result, test = train_awd_classifier(lm, splits, classes, cfg, run_seed, tracker, run)
                row = seed_row(run_seed, result.best, result.best_position, test) | {"test_weighted_f1": weighted_f1(test)}
                tracker.log_metrics({k: row[k] for k in ("test_macro_f1", "test_weighted_f1", "test_accuracy")})
            run.finish(tracker.run_id, {"row": row, "timings": result.timings})
        runs.append(run.result["row"])
        records.append({"seed": run_seed, "run_id": run.run_id, "timings": run.result["timings"]})
        print(f"seed {run_seed}: test weighted F1 {runs[-1]['test_weighted_f1']:.4f}, "
              f"macro-F1 {runs[-1]['test_macro_f1']:.4f}")
    weighted = [r["test_weighted_f1"] for r in runs]
    counts = frame.groupby(["split", "label"]).size()
    metrics = {"classes": classes,
               "rows": {split: {label: int(n) for label, n in counts[split].items()} for split in ("train", "val", "test")},
               "test_weighted_f1_mean": statistics.fmean(weighted),
               "test_weighted_f1_std": statistics.stdev(weighted) if len(weighted) > 1 else 0.0, **summary(runs)}
    write_json(args.metrics, metrics)
    write_json(args.run_record, {"stage": "ulmfit_5class", "runs": records})
    state.clear()
    print(f"test weighted F1 {metrics['test_weighted_f1_mean']:.4f} +- {metrics['test_weighted_f1_std']:.4f}")


if __name__ == "__main__":
    run_stage(main)
