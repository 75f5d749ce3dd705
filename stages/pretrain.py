"""Stage pretrain: the AWD-LSTM language model on the lm_corpus documents; validation perplexity to MLflow."""

import argparse
import os
from pathlib import Path

import pandas as pd
import torch

from rnnlab.config import flatten, load_section
from rnnlab.data.files import write_json
from rnnlab.process import run_stage
from rnnlab.tasks.pretraining import pretrain
from rnnlab.training.checkpoint import save_checkpoint
from rnnlab.training.loop import set_seed
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--corpus", type=Path, required=True, help="lm_corpus's CSV: text, source, split")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True, help="JSON rows per evaluation (a DVC plot)")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    seed, text = load_section(args.params, "seed"), load_section(args.params, "lm.text")
    vocab, model = load_section(args.params, "lm.vocab"), load_section(args.params, "lm.model")
    cfg = load_section(args.params, "lm.pretrain")
    torch.set_num_threads(cfg.trainer.num_threads)
    set_seed(seed)
    documents = pd.read_csv(args.corpus, dtype=str, keep_default_na=False)
    state = StageState(args.state_dir, "pretrain", fingerprint(seed, text, vocab, model, cfg, files=[args.corpus]))
    run = state.run()
    with mlflow_run("pretrain", os.environ, stage="pretrain", experiment="rnnlab-pretraining",
                    run_id=run.run_id) as tracker:
        tracker.log_params({"seed": seed, **flatten(text, "text."), **flatten(vocab, "vocab."),
                            **flatten(model, "model."), **flatten(cfg)})
        ckpt, result = pretrain(documents, text, vocab, model, cfg, tracker, seed, run)
        save_checkpoint(args.checkpoint, ckpt)
        metrics = {"vocab": len(ckpt.vocab), **{k: v for k, v in ckpt.meta.items() if k != "text"}}
        write_json(args.metrics, metrics)
        write_json(args.history, result.history)
        tracker.log_metrics({"best_val_perplexity": metrics["val_perplexity"]})
        write_json(args.run_record, {"stage": "pretrain", "run_id": tracker.run_id, "timings": result.timings})
    state.clear()
    print(f"best step {metrics['best_step']}: validation perplexity {metrics['val_perplexity']:.1f}")


if __name__ == "__main__":
    run_stage(main)
