"""Stage register: log every classifier as an MLflow pyfunc model, register it, alias the best as champion."""

import argparse
import os
from pathlib import Path

import torch

from rnnlab.config import read_params
from rnnlab.files import read_json, write_json
from rnnlab.serving import register_classifiers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--test-metrics", type=Path, required=True, help="the evaluate stage's metrics JSON")
    parser.add_argument("--out", type=Path, required=True, help="registered versions and the champion, as JSON")
    args = parser.parse_args()

    torch.set_num_threads(1)
    checkpoints = {name: args.models_dir / f"{name}.pt" for name in read_params(args.params)["train"]}
    registry = register_classifiers(checkpoints, read_json(args.test_metrics), os.environ)
    write_json(args.out, registry)
    for name, entry in registry["models"].items():
        print(f"{entry['registered_model']} version {entry['version']}: val macro-F1 {entry['val_macro_f1']:.4f}")
    print(f"champion: {registry['champion']['uri']}")


if __name__ == "__main__":
    main()
