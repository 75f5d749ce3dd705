"""Stage ulmfit_bidirectional: at every `lm.classifier` seed, ULMFiT's classifier on the fine-tuned forward language
model and on the fine-tuned backward one (texts read backwards), and the average of the two classifiers'
probabilities; each scored on the test split (the ablation's last row)."""

import argparse
import os
from pathlib import Path

import pandas as pd
import torch

from rnnlab.data.files import write_json
from rnnlab.params import flatten, load_section
from rnnlab.process import run_stage
from rnnlab.studies.pretraining.backward import DIRECTION
from rnnlab.studies.pretraining.bidirectional import (
    DIRECTIONS,
    averaged_row,
    check_direction,
    direction_frame,
)
from rnnlab.studies.pretraining.ulmfit import (
    AWDClassifierConfig,
    encode_target,
    train_awd_classifier,
)
from rnnlab.studies.shared import seed_row, summary
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.classification import predict_logits
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run

STAGE = "ulmfit_bidirectional"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/pretraining/params.yaml")
    parser.add_argument("--forward", type=Path, required=True, help="the fine-tuned forward language model")
    parser.add_argument("--backward", type=Path, required=True, help="the fine-tuned backward language model")
    parser.add_argument("--prepared", type=Path, required=True, help="the target corpus: text, label, split")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg = load_section(args.params, "lm.classifier", AWDClassifierConfig)
    torch.set_num_threads(cfg.trainer.num_threads)
    paths = {"forward": args.forward, "backward": args.backward}
    lms = {d: load_checkpoint(paths[d], kind="awd_lm") for d in DIRECTIONS}
    for d in DIRECTIONS:
        check_direction(lms[d], paths[d], d)
    frame = pd.read_csv(args.prepared, dtype=str, keep_default_na=False)
    encoded = {d: encode_target(direction_frame(frame, lms[d]), lms[d], cfg.max_len) for d in DIRECTIONS}
    splits, classes = {d: encoded[d][0] for d in DIRECTIONS}, encoded["forward"][1]
    state = StageState(args.state_dir, STAGE, fingerprint(cfg, files=[args.forward, args.backward, args.prepared]))
    rows, records = {name: [] for name in (*DIRECTIONS, "average")}, []
    for seed in cfg.seeds:
        logits = {}
        for d in DIRECTIONS:
            run = state.run(f"{d}_seed{seed}")
            if run.result is None:  # else finished by an earlier, interrupted attempt
                with mlflow_run(f"bidirectional-{d}-seed{seed}", os.environ, stage=STAGE,
                                experiment="rnnlab-pretraining", run_id=run.run_id) as tracker:
                    tracker.set_tags({"ablation.step": "bidirectional", DIRECTION: d})
                    tracker.log_params({"seed": seed, DIRECTION: d, **flatten(cfg)})
                    model, result, test = train_awd_classifier(lms[d], splits[d], classes, cfg, seed, tracker, run)
                    tracker.log_metrics({"test_macro_f1": test["macro_f1"], "test_accuracy": test["accuracy"]})
                    device = next(model.parameters()).device
                    predictions = {s: predict_logits(model, splits[d][s], cfg.trainer.batch_size * 4, device)
                                   for s in ("val", "test")}
                run.finish(tracker.run_id, {"row": seed_row(seed, result.best, result.best_position, test),
                                            "timings": result.timings, "logits": predictions})
            logits[d] = run.result["logits"]
            rows[d].append(run.result["row"])
            records.append({"direction": d, "seed": seed, "run_id": run.run_id, "timings": run.result["timings"]})
            print(f"{d} seed {seed}: test macro-F1 {rows[d][-1]['test_macro_f1']:.4f}")
        run = state.run(f"average_seed{seed}")
        if run.result is None:
            row, test = averaged_row(seed, logits, splits, classes)
            with mlflow_run(f"bidirectional-average-seed{seed}", os.environ, stage=STAGE,
                            experiment="rnnlab-pretraining", run_id=run.run_id) as tracker:
                tracker.set_tags({"ablation.step": "bidirectional", DIRECTION: "average",
                                  **{f"{r['direction']}_run_id": r["run_id"] for r in records[-2:]}})
                tracker.log_params({"seed": seed, **flatten(cfg)})
                tracker.log_metrics({"val_macro_f1": row["val_macro_f1"], "test_macro_f1": test["macro_f1"],
                                     "test_accuracy": test["accuracy"]})
            run.finish(tracker.run_id, {"row": row})
        rows["average"].append(run.result["row"])
        records.append({"direction": "average", "seed": seed, "run_id": run.run_id})
        print(f"average seed {seed}: test macro-F1 {rows['average'][-1]['test_macro_f1']:.4f}")
    metrics = {"classes": classes, **{name: summary(rows[name]) for name in rows}}
    write_json(args.metrics, metrics)
    write_json(args.run_record, {"stage": STAGE, "runs": records})
    state.clear()
    for name in rows:
        print(f"{name}: test macro-F1 {metrics[name]['test_macro_f1_mean']:.4f} "
              f"+- {metrics[name]['test_macro_f1_std']:.4f} over {len(rows[name])} seeds")


if __name__ == "__main__":
    run_stage(main)
