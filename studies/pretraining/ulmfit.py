"""Stage ulmfit: classifiers on the fine-tuned language model's encoder, one per seed, scored on the test split."""

import argparse
import os
from pathlib import Path

import pandas as pd
import torch

from rnnlab.data.files import write_json
from rnnlab.params import flatten, load_section
from rnnlab.process import run_stage
from rnnlab.studies.pretraining.ulmfit import (
    AWDClassifierConfig,
    encode_target,
    train_awd_classifier,
)
from rnnlab.studies.shared import every_seed, summary
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.resume import StageState, fingerprint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/pretraining/params.yaml")
    parser.add_argument("--lm", type=Path, required=True, help="the language model whose encoder classifies")
    parser.add_argument("--prepared", type=Path, required=True, help="the target corpus: text, label, split")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg = load_section(args.params, "lm.classifier", AWDClassifierConfig)
    torch.set_num_threads(cfg.trainer.num_threads)
    lm = load_checkpoint(args.lm, kind="awd_lm")
    splits, classes = encode_target(pd.read_csv(args.prepared, dtype=str, keep_default_na=False), lm, cfg.max_len)
    state = StageState(args.state_dir, "ulmfit", fingerprint(cfg, files=[args.lm, args.prepared]))

    def train_seed(seed, tracker, run):
        return train_awd_classifier(lm, splits, classes, cfg, seed, tracker, run)

    runs, records = every_seed(cfg.seeds, train_seed, state, "ulmfit", "ulmfit", flatten(cfg), os.environ, tags={})
    metrics = {"classes": classes, **summary(runs)}
    write_json(args.metrics, metrics)
    write_json(args.run_record, {"stage": "ulmfit", "runs": records})
    state.clear()
    print(f"test macro-F1 {metrics['test_macro_f1_mean']:.4f} +- {metrics['test_macro_f1_std']:.4f} "
          f"over {len(runs)} seeds")


if __name__ == "__main__":
    run_stage(main)
