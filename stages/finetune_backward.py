"""Stage finetune_backward: the backward language model (stage pretrain_backward) trained on the target corpus's
training texts read backwards, with the `finetune_lm` stage's params; perplexity to MLflow (run
`finetune-backward`)."""

import argparse
import os
from pathlib import Path

import torch

from rnnlab.config import TextConfig, flatten, from_dict, load_section
from rnnlab.data.files import write_json
from rnnlab.data.unlabelled import read_split_texts
from rnnlab.process import run_stage
from rnnlab.tasks.backward import DIRECTION, reverse_texts
from rnnlab.tasks.pretraining import finetune
from rnnlab.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnnlab.training.loop import set_seed
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--pretrained", type=Path, required=True, help="the pretrain_backward stage's checkpoint")
    parser.add_argument("--prepared", type=Path, required=True, help="the target corpus: text, label, split")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True, help="JSON rows per evaluation (a DVC plot)")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    seed, corpus = load_section(args.params, "seed"), load_section(args.params, "lm.corpus")
    cfg = load_section(args.params, "lm.finetune")
    torch.set_num_threads(cfg.trainer.num_threads)
    set_seed(seed)
    pretrained = load_checkpoint(args.pretrained, kind="awd_lm")
    if pretrained.meta.get(DIRECTION) != "backward":
        raise CheckpointError(f"{args.pretrained}: not a backward language model (meta {DIRECTION!r} is "
                              f"{pretrained.meta.get(DIRECTION)!r})")
    text = from_dict(TextConfig, pretrained.meta["text"], f"{args.pretrained}: its text settings")
    texts = reverse_texts(read_split_texts(args.prepared, ["train"]), text)
    state = StageState(args.state_dir, "finetune_backward",
                       fingerprint(seed, corpus.val_share, cfg, files=[args.pretrained, args.prepared]))
    run = state.run()
    with mlflow_run("finetune-backward", os.environ, stage="finetune_backward", experiment="rnnlab-pretraining",
                    run_id=run.run_id) as tracker:
        tracker.log_params({"seed": seed, DIRECTION: "backward", "val_share": corpus.val_share, **flatten(cfg)})
        ckpt, result = finetune(pretrained, texts, corpus.val_share, cfg, tracker, seed, run)
        save_checkpoint(args.checkpoint, ckpt)
        metrics = {k: v for k, v in ckpt.meta.items() if k != "text"}
        write_json(args.metrics, metrics)
        write_json(args.history, result.history)
        tracker.log_metrics({"best_val_perplexity": metrics["val_perplexity"]})
        write_json(args.run_record, {"stage": "finetune_backward", "run_id": tracker.run_id, "timings": result.timings})
    state.clear()
    print(f"best step {metrics['best_step']}: validation perplexity on the target's texts read backwards "
          f"{metrics['val_perplexity']:.1f} (before: {metrics['val_perplexity_before']:.1f})")


if __name__ == "__main__":
    run_stage(main)
