"""Stage surface_forms: the zoo's navec baseline (`lm.ablation.baseline`, trained there on lemmas) trained on the
language model's surface tokens instead, at every zoo seed, scored on the test split."""

import argparse
import os
from pathlib import Path

import pandas as pd
import torch

from rnnlab.config import load_section
from rnnlab.data.files import write_json
from rnnlab.process import run_stage
from rnnlab.tasks.ablation import baseline_configs, seed_row
from rnnlab.tasks.ulmfit import encode_target, summary
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.classification import predict_logits, train_classifier
from rnnlab.training.loop import resolve_device
from rnnlab.training.metrics import score
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--lm", type=Path, required=True, help="the language model whose tokens and vocabulary to use")
    parser.add_argument("--prepared", type=Path, required=True, help="the target corpus: text, label, split")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    ablation = load_section(args.params, "lm.ablation")
    model_cfg, trainer = baseline_configs(ablation, load_section(args.params, "zoo.base"),
                                          load_section(args.params, "zoo.trainer"),
                                          load_section(args.params, "zoo.variants"))
    seeds, max_len = load_section(args.params, "zoo.seeds"), load_section(args.params, "lm.classifier").max_len
    torch.set_num_threads(trainer.num_threads)
    lm = load_checkpoint(args.lm, kind="awd_lm")
    splits, classes = encode_target(pd.read_csv(args.prepared, dtype=str, keep_default_na=False), lm, max_len)
    state = StageState(args.state_dir, "surface_forms",
                       fingerprint(model_cfg, trainer, seeds, max_len, files=[args.lm, args.prepared]))
    runs, records = [], []
    for seed in seeds:
        run = state.run(f"seed_{seed}")
        if run.result is None:  # else finished by an earlier, interrupted attempt
            with mlflow_run(f"surface-forms-seed{seed}", os.environ, stage="surface_forms",
                            experiment="rnnlab-pretraining", run_id=run.run_id) as tracker:
                tracker.set_tags({"ablation.step": "surface_forms", "zoo.variant": ablation.baseline})
                model, result = train_classifier(model_cfg, trainer, list(lm.vocab.itos), splits, len(classes),
                                                 tracker, seed, run)
                logits = predict_logits(model, splits["test"], 512, resolve_device(trainer.device))
                test = score(splits["test"].labels.tolist(), logits.argmax(1).tolist(), classes)
                tracker.log_metrics({"test_macro_f1": test["macro_f1"], "test_accuracy": test["accuracy"]})
            run.finish(tracker.run_id, {"row": seed_row(seed, result.best, result.best_position, test),
                                        "timings": result.timings})
        runs.append(run.result["row"])
        records.append({"seed": seed, "run_id": run.run_id, "timings": run.result["timings"]})
        print(f"seed {seed}: test macro-F1 {runs[-1]['test_macro_f1']:.4f}")
    metrics = {"classes": classes, "baseline": ablation.baseline, **summary(runs)}
    write_json(args.metrics, metrics)
    write_json(args.run_record, {"stage": "surface_forms", "runs": records})
    state.clear()
    print(f"test macro-F1 {metrics['test_macro_f1_mean']:.4f} +- {metrics['test_macro_f1_std']:.4f}")


if __name__ == "__main__":
    run_stage(main)
