"""Stage surface_forms: the zoo's navec baseline (`lm.ablation.baseline`, trained there on lemmas) as this study
declares it (`lm.surface_forms`), trained on the language model's surface tokens instead, at every seed, scored on
the test split."""

import argparse
import os
from pathlib import Path

import pandas as pd
import torch

from rnnlab.data.files import write_json
from rnnlab.params import load_section
from rnnlab.process import run_stage
from rnnlab.studies.pretraining.ablation import AblationConfig, SurfaceFormsConfig
from rnnlab.studies.pretraining.ulmfit import AWDClassifierConfig, encode_target
from rnnlab.studies.shared import every_seed, summary
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.classification import predict_logits, train_classifier
from rnnlab.training.loop import resolve_device
from rnnlab.training.metrics import score
from rnnlab.training.resume import StageState, fingerprint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/pretraining/params.yaml")
    parser.add_argument("--lm", type=Path, required=True, help="the language model whose tokens and vocabulary to use")
    parser.add_argument("--prepared", type=Path, required=True, help="the target corpus: text, label, split")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    ablation = load_section(args.params, "lm.ablation", AblationConfig)
    baseline = load_section(args.params, "lm.surface_forms", SurfaceFormsConfig)
    model_cfg, trainer, seeds = baseline.model, baseline.trainer, baseline.seeds
    max_len = load_section(args.params, "lm.classifier", AWDClassifierConfig).max_len
    torch.set_num_threads(trainer.num_threads)
    lm = load_checkpoint(args.lm, kind="awd_lm")
    splits, classes = encode_target(pd.read_csv(args.prepared, dtype=str, keep_default_na=False), lm, max_len)
    state = StageState(args.state_dir, "surface_forms",
                       fingerprint(model_cfg, trainer, seeds, max_len, files=[args.lm, args.prepared]))

    def train_seed(seed, tracker, run):
        model, result = train_classifier(model_cfg, trainer, list(lm.vocab.itos), splits, len(classes), tracker, seed,
                                         run)
        logits = predict_logits(model, splits["test"], 512, resolve_device(trainer.device))
        return model, result, score(splits["test"].labels.tolist(), logits.argmax(1).tolist(), classes)

    runs, records = every_seed(seeds, train_seed, state, "surface_forms", "surface_forms", {}, os.environ,
                               tags={"ablation.step": "surface_forms", "zoo.variant": ablation.baseline},
                               run="surface-forms-seed{seed}")
    metrics = {"classes": classes, "baseline": ablation.baseline, **summary(runs)}
    write_json(args.metrics, metrics)
    write_json(args.run_record, {"stage": "surface_forms", "runs": records})
    state.clear()
    print(f"test macro-F1 {metrics['test_macro_f1_mean']:.4f} +- {metrics['test_macro_f1_std']:.4f}")


if __name__ == "__main__":
    run_stage(main)
