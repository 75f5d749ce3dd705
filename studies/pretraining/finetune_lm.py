"""Stages finetune_lm and finetune_backward (`--direction backward`): the pretrained language model of that direction
trained on the target corpus's training texts, read the same way; perplexity to MLflow (runs `finetune_lm`,
`finetune-backward`)."""

import argparse
from pathlib import Path

import torch

from rnnlab.config import TextConfig
from rnnlab.data.files import write_json
from rnnlab.data.unlabelled import LMCorpusConfig, read_split_texts
from rnnlab.params import NonNegativeInt, flatten, from_dict, load_section
from rnnlab.process import run_stage
from rnnlab.studies.pretraining.backward import DIRECTION, DIRECTIONS, reverse_texts
from rnnlab.studies.pretraining.lm import LMStageConfig, finetune
from rnnlab.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnnlab.training.loop import set_seed
from rnnlab.training.resume import fingerprint
from rnnlab.training.stage import tracked_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/pretraining/params.yaml")
    parser.add_argument("--pretrained", type=Path, required=True, help="the pretrain stage's checkpoint")
    parser.add_argument("--prepared", type=Path, required=True, help="the target corpus: text, label, split")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True, help="JSON rows per evaluation (a DVC plot)")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and timings")
    parser.add_argument("--direction", choices=DIRECTIONS, default="forward", help="backward: every text reversed")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    seed = load_section(args.params, "seed", NonNegativeInt)
    corpus = load_section(args.params, "lm.corpus", LMCorpusConfig)
    cfg = load_section(args.params, "lm.finetune", LMStageConfig)
    torch.set_num_threads(cfg.trainer.num_threads)
    set_seed(seed)
    pretrained = load_checkpoint(args.pretrained, kind="awd_lm")
    if (direction := pretrained.meta.get(DIRECTION, "forward")) != args.direction:
        raise CheckpointError(f"{args.pretrained}: a {direction} language model, not a {args.direction} one")
    texts = read_split_texts(args.prepared, ["train"])
    backward = args.direction == "backward"
    if backward:
        text = from_dict(TextConfig, pretrained.meta["text"], f"{args.pretrained}: its text settings")
        texts = reverse_texts(texts, text)
    stage, run_name = ("finetune_backward", "finetune-backward") if backward else ("finetune_lm", "finetune_lm")
    inputs = fingerprint(seed, corpus.val_share, cfg, files=[args.pretrained, args.prepared])
    with tracked_stage(args.state_dir, stage, inputs, args.run_record, run_name,
                       experiment="rnnlab-pretraining") as current:
        run, tracker = current.run, current.tracker
        tracker.log_params({"seed": seed, **({DIRECTION: "backward"} if backward else {}),
                            "val_share": corpus.val_share, **flatten(cfg)})
        ckpt, result = finetune(pretrained, texts, corpus.val_share, cfg, tracker, seed, run)
        save_checkpoint(args.checkpoint, ckpt)
        metrics = {k: v for k, v in ckpt.meta.items() if k != "text"}
        write_json(args.metrics, metrics)
        write_json(args.history, result.history)
        tracker.log_metrics({"best_val_perplexity": metrics["val_perplexity"]})
        current.record["timings"] = result.timings
    print(f"best step {metrics['best_step']}: validation perplexity on the target's texts ({args.direction}) "
          f"{metrics['val_perplexity']:.1f} (before: {metrics['val_perplexity_before']:.1f})")


if __name__ == "__main__":
    run_stage(main)
