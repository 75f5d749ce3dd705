"""Stage zoo@<variant>: train one zoo variant once per seed, score each on test."""

import argparse
import os
from pathlib import Path

import torch

from rnnlab.config import load_section
from rnnlab.data.files import write_json
from rnnlab.models.classifier import count_parameters
from rnnlab.process import run_stage
from rnnlab.tasks.zoo import summarize, variant_configs
from rnnlab.text.features import load_features
from rnnlab.text.vocab import Vocab
from rnnlab.training.classification import predict_logits, train_classifier
from rnnlab.training.loop import resolve_device
from rnnlab.training.metrics import score
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run

EXPERIMENT = "rnnlab-zoo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--name", required=True, help="variant under `zoo.variants`")
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--tensors", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON of the variant")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids and epoch timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    seeds, variant = load_section(args.params, "zoo.seeds"), load_section(args.params, f"zoo.variants.{args.name}")
    base, trainer = load_section(args.params, "zoo.base"), load_section(args.params, "zoo.trainer")
    model_cfg, trainer = variant_configs(base, trainer, variant, f"{args.params}: zoo.variants.{args.name}")
    torch.set_num_threads(trainer.num_threads)
    splits, classes = load_features(args.tensors)
    itos = list(Vocab.load(args.vocab).itos)
    test = splits["test"]
    stage = f"zoo@{args.name}"
    state = StageState(args.state_dir, stage, fingerprint(model_cfg, trainer, files=[args.tensors, args.vocab]))
    runs, records = [], []
    for seed in seeds:
        run = state.run(f"seed{seed}")
        if run.result is None:  # not finished by an earlier, interrupted attempt at the stage
            with mlflow_run(f"{args.name}/seed{seed}", os.environ, stage=stage, experiment=EXPERIMENT,
                            run_id=run.run_id) as tracker:
                tracker.set_tags({"zoo.variant": args.name})
                model, result = train_classifier(model_cfg, trainer, itos, splits, len(classes), tracker, seed, run)
                predicted = predict_logits(model, test, 512, resolve_device(trainer.device)).argmax(1).tolist()
                scores = score(test.labels.tolist(), predicted, classes)
                tracker.log_metrics({"test_macro_f1": scores["macro_f1"], "test_accuracy": scores["accuracy"]})
            run.finish(tracker.run_id, {
                "run": {"seed": seed, "test_macro_f1": scores["macro_f1"], "test_accuracy": scores["accuracy"],
                        "val_macro_f1": result.best["val_macro_f1"], "best_epoch": result.best_position},
                "timings": result.timings, "n_parameters": count_parameters(model)})
            epoch_seconds = sum(t["seconds"] for t in result.timings) / len(result.timings)
            print(f"{args.name} seed {seed}: test macro-F1 {scores['macro_f1']:.4f}, {epoch_seconds:.1f} s/epoch")
        runs.append(run.result["run"])
        records.append({"seed": seed, "run_id": run.run_id, "timings": run.result["timings"]})
    write_json(args.out, summarize(args.name, runs, run.result["n_parameters"]))
    write_json(args.run_record, {"stage": stage, "runs": records})
    state.clear()


if __name__ == "__main__":
    run_stage(main)
