"""Stage register: log every classifier as an MLflow pyfunc model, register it, alias the best as champion."""

import argparse
import os
from pathlib import Path

import torch

from rnnlab.classifiers.ngram import load_models, training_stage
from rnnlab.data.files import read_json, write_json
from rnnlab.process import run_stage
from rnnlab.serving.pyfunc import register_classifiers
from rnnlab.training.evaluation import trained_checkpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--models-dir", type=Path, required=True, help="the train stages' checkpoints")
    parser.add_argument("--test-metrics", type=Path, required=True, help="the evaluate stage's metrics JSON")
    parser.add_argument("--runs", type=Path, required=True, help="folder of run records: each model's training run")
    parser.add_argument("--out", type=Path, required=True, help="registered models and the champion, as JSON")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: the versions this run registered")
    args = parser.parse_args()

    torch.set_num_threads(1)
    models = load_models(args.params)
    checkpoints = trained_checkpoints(args.models_dir, models)
    records = {record["stage"]: record for record in map(read_json, sorted(args.runs.glob("*.json")))}
    stages = {name: training_stage(name, models) for name in checkpoints}
    missing = [stage for stage in stages.values() if stage not in records]
    if missing:
        raise SystemExit(f"no run record of stage {missing[0]} in {args.runs}: run `dvc repro -f {missing[0]}`")
    run_ids = {name: records[stage]["run_id"] for name, stage in stages.items()}
    registry, versions = register_classifiers(checkpoints, run_ids, read_json(args.test_metrics), os.environ)
    write_json(args.out, registry)
    write_json(args.run_record, {"stage": "register", "versions": versions})
    for name, entry in registry["models"].items():
        print(f"{entry['registered_model']} version {versions[name]['version']}: val macro-F1 {entry['val_macro_f1']:.4f}")
    print(f"champion: {registry['champion']['uri']}")


if __name__ == "__main__":
    run_stage(main)
