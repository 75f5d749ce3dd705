"""Stage train_ulmfit@<name>: ULMFiT's classifier from `train_ulmfit.<name>` on the fine-tuned language model."""

import argparse
import os
from pathlib import Path

import torch

from rnnlab.config import load_section
from rnnlab.data.files import sha256_file, write_json
from rnnlab.process import run_stage
from rnnlab.tasks.ulmfit_entry import train_entry
from rnnlab.training.checkpoint import save_checkpoint
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--name", required=True, help="model entry under `train_ulmfit`")
    parser.add_argument("--lm", type=Path, required=True, help="the fine-tuned language model")
    parser.add_argument("--prepared", type=Path, required=True, help="the prepared corpus: text, label, split")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and epoch timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    entry, seed = load_section(args.params, f"train_ulmfit.{args.name}"), load_section(args.params, "seed")
    torch.set_num_threads(entry.trainer.num_threads)
    stage = f"train_ulmfit@{args.name}"
    state = StageState(args.state_dir, stage, fingerprint(entry, seed, files=[args.lm, args.prepared]))
    run = state.run()
    with mlflow_run(args.name, os.environ, stage=stage, run_id=run.run_id) as tracker:
        tracker.set_tags({"data.lm.sha256": sha256_file(args.lm), "data.prepared.sha256": sha256_file(args.prepared)})
        ckpt, result = train_entry(args.name, entry, args.lm, args.prepared, seed, tracker, run)
        save_checkpoint(args.checkpoint, ckpt)
        tracker.log_artifact(args.checkpoint, "checkpoint")
        write_json(args.run_record, {"stage": stage, "run_id": tracker.run_id, "timings": result.timings})
    state.clear()
    print(f"{args.name}: best epoch {result.best_position}, val macro-F1 {result.best['val_macro_f1']:.4f}")


if __name__ == "__main__":
    run_stage(main)
