"""Stage ulmfit_ablation: the ULMFiT classifier with its encoder from navec alone, the pretrained or the fine-tuned
language model (`lm.ablation.steps`), each at every `lm.classifier` seed, scored on the test split."""

import argparse
import os
from pathlib import Path

import pandas as pd
import torch

from rnnlab.config import flatten, load_section
from rnnlab.data.files import write_json
from rnnlab.process import run_stage
from rnnlab.tasks.ablation import seed_row, step_config, step_encoder
from rnnlab.tasks.ulmfit import encode_target, summary, train_awd_classifier
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--pretrained", type=Path, required=True, help="the pretrained language model")
    parser.add_argument("--finetuned", type=Path, required=True, help="the same model fine-tuned on the target")
    parser.add_argument("--prepared", type=Path, required=True, help="the target corpus: text, label, split")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg = load_section(args.params, "lm.classifier")
    ablation = load_section(args.params, "lm.ablation")
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
        step_cfg, runs = step_config(cfg, step), []
        for seed in cfg.seeds:
            run = state.run(f"{name}_seed{seed}")
            if run.result is None:  # else finished by an earlier, interrupted attempt
                with mlflow_run(f"ablation-{name}-seed{seed}", os.environ, stage="ulmfit_ablation",
                                experiment="rnnlab-pretraining", run_id=run.run_id) as tracker:
                    tracker.set_tags({"ablation.step": name})
                    tracker.log_params({"seed": seed, "encoder": step.encoder, **flatten(step_cfg)})
                    lm = step_encoder(step, lms, seed)
                    _, result, test = train_awd_classifier(lm, splits, classes, step_cfg, seed, tracker, run)
                    tracker.log_metrics({"test_macro_f1": test["macro_f1"], "test_accuracy": test["accuracy"]})
                run.finish(tracker.run_id, {"row": seed_row(seed, result.best, result.best_position, test),
                                            "timings": result.timings})
            runs.append(run.result["row"])
            records.append({"step": name, "seed": seed, "run_id": run.run_id, "timings": run.result["timings"]})
            print(f"{name} seed {seed}: test macro-F1 {runs[-1]['test_macro_f1']:.4f}")
        metrics["steps"][name] = {"label": step.label, "encoder": step.encoder, **summary(runs)}
        print(f"{name}: test macro-F1 {metrics['steps'][name]['test_macro_f1_mean']:.4f} "
              f"+- {metrics['steps'][name]['test_macro_f1_std']:.4f}")
    write_json(args.metrics, metrics)
    write_json(args.run_record, {"stage": "ulmfit_ablation", "runs": records})
    state.clear()


if __name__ == "__main__":
    run_stage(main)
