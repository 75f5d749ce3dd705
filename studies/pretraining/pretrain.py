"""Stages pretrain and pretrain_backward (`--direction backward`): the AWD-LSTM language model on the lm_corpus
documents, read forward or backward (every text's tokens reversed, the same params); validation perplexity to
MLflow (runs `pretrain`, `pretrain-backward`)."""

import argparse
from pathlib import Path

import pandas as pd
import torch

from rnnlab.config import TextConfig
from rnnlab.data.files import write_json
from rnnlab.params import NonNegativeInt, flatten, load_section
from rnnlab.process import run_stage
from rnnlab.studies.pretraining.backward import DIRECTION, DIRECTIONS, reverse_texts
from rnnlab.studies.pretraining.lm import (
    AWDConfig,
    LMStageConfig,
    LMVocabConfig,
    pretrain,
)
from rnnlab.training.checkpoint import save_checkpoint
from rnnlab.training.loop import set_seed
from rnnlab.training.resume import fingerprint
from rnnlab.training.stage import tracked_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/pretraining/params.yaml")
    parser.add_argument("--corpus", type=Path, required=True, help="lm_corpus's CSV: text, source, split")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True, help="JSON rows per evaluation (a DVC plot)")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and timings")
    parser.add_argument("--direction", choices=DIRECTIONS, default="forward", help="backward: every text reversed")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    seed, text = load_section(args.params, "seed", NonNegativeInt), load_section(args.params, "lm.text", TextConfig)
    vocab = load_section(args.params, "lm.vocab", LMVocabConfig)
    model = load_section(args.params, "lm.model", AWDConfig)
    cfg = load_section(args.params, "lm.pretrain", LMStageConfig)
    torch.set_num_threads(cfg.trainer.num_threads)
    set_seed(seed)
    documents = pd.read_csv(args.corpus, dtype=str, keep_default_na=False)
    backward = args.direction == "backward"
    if backward:
        documents["text"] = reverse_texts(documents["text"].tolist(), text)
    stage, run_name = ("pretrain_backward", "pretrain-backward") if backward else ("pretrain", "pretrain")
    with tracked_stage(args.state_dir, stage, fingerprint(seed, text, vocab, model, cfg, files=[args.corpus]),
                       args.run_record, run_name, experiment="rnnlab-pretraining") as current:
        run, tracker = current.run, current.tracker
        tracker.log_params({"seed": seed, **({DIRECTION: "backward"} if backward else {}), **flatten(text, "text."),
                            **flatten(vocab, "vocab."), **flatten(model, "model."), **flatten(cfg)})
        ckpt, result = pretrain(documents, text, vocab, model, cfg, tracker, seed, run)
        if backward:
            ckpt.meta[DIRECTION] = "backward"
        save_checkpoint(args.checkpoint, ckpt)
        metrics = {"vocab": len(ckpt.vocab), **{k: v for k, v in ckpt.meta.items() if k != "text"}}
        write_json(args.metrics, metrics)
        write_json(args.history, result.history)
        tracker.log_metrics({"best_val_perplexity": metrics["val_perplexity"]})
        current.record["timings"] = result.timings
    print(f"best step {metrics['best_step']}: validation perplexity {metrics['val_perplexity']:.1f} ({args.direction})")


if __name__ == "__main__":
    run_stage(main)
