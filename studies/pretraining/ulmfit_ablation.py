"""Stage ulmfit_ablation: the ULMFiT classifier with its encoder from navec alone, the pretrained or the fine-tuned
language model (`lm.ablation.steps`), each at every `lm.classifier` seed, scored on the test split."""

import argparse
import os
from pathlib import Path

import pandas as pd
import torch

from rnnlab.data.files import write_json
from rnnlab.params import flatten, load_section
from rnnlab.process import run_stage
from rnnlab.studies.pretraining.ablation import (
    AblationConfig,
    step_config,
    step_encoder,
)
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
    parser.add_argument("--pretrained", type=Path, required=True, help="the pretrained language model")
    parser.add_argument("--finetuned", type=Path, required=True, help="the same model fine-tuned on the target")
    parser.add_argument("--prepared", type=Path, required=True, help="the target corpus: text, label, split")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg = load_section(args.params, "lm.classifier", AWDClassifierConfig)
    ablation = load_section(args.params, "lm.ablation", AblationConfig)
    torch.set_num_threads(cfg.trainer.num_threads)
    lms = {"pretrained": load_checkpoint(args.pretrained, kind="awd_lm"),
           "finetuned": load_checkpoint(args.finetuned, kind="awd_lm")}
    if lms["pretrained"].vocab != lms["finetuned"].vocab:
        raise ValueError(f"{args.finetuned} was not fine-tuned from {args.pretrained}: their vocabularies differ")
    frame = pd.read_csv(args.prepared, dtype=str, keep_default_na=False)
    splits, classes = encode_target(frame, lms["pretrained"], cfg.max_len)
    state = StageState(args.state_dir, "ulmfit_ablation",
                       fingerprint(cfg, ablation, files=[args.pretrained, args.finetuned, args.prepared]))
    metrics, records = {"classes": classes, "steps": {}}, []
    for name, step in ablation.steps.items():
        step_cfg = step_config(cfg, step)

        def train_seed(seed, tracker, run, step=step, step_cfg=step_cfg):
            return train_awd_classifier(step_encoder(step, lms, seed), splits, classes, step_cfg, seed, tracker, run)

        runs, step_records = every_seed(cfg.seeds, train_seed, state, "ulmfit_ablation", name,
                                        {"encoder": step.encoder, **flatten(step_cfg)}, os.environ,
                                        run="ablation-{step}-seed{seed}", key="{step}_seed{seed}",
                                        record={"step": name})
        records += step_records
        metrics["steps"][name] = {"label": step.label, "encoder": step.encoder, **summary(runs)}
        print(f"{name}: test macro-F1 {metrics['steps'][name]['test_macro_f1_mean']:.4f} "
              f"+- {metrics['steps'][name]['test_macro_f1_std']:.4f}")
    write_json(args.metrics, metrics)
    write_json(args.run_record, {"stage": "ulmfit_ablation", "runs": records})
    state.clear()


if __name__ == "__main__":
    run_stage(main)
