"""The zoo stage through a local Ray against one run after another, in one benchmark run.

Runs `studies/zoo/zoo.py` itself twice on the same features, variants, seeds and epochs: `cluster.executor:
local` (every run in the stage's process, one after another: the zoo before Ray) and `ray` (every run a
Ray task, as many side by side as the machine's cores). Prints the wall-time ratio and checks that every
variant's metrics file is byte-identical between the two. To keep the benchmark short it trains on a share
of the training split for a few epochs (`--train-share`, `--epochs`); `make all` runs the full zoo.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import torch
import yaml

from rnnlab.text.batching import EncodedSplit
from rnnlab.text.features import load_features, save_features


def subsample(tensors: Path, share: float, out: Path) -> int:
    """The features with the first `share` of the training split (validation and test whole); its size."""
    splits, classes = load_features(tensors)
    n = max(1, int(len(splits["train"]) * share))
    train = splits["train"]
    splits["train"] = EncodedSplit(train.tokens[:n], train.lengths[:n], train.labels[:n])
    save_features(out, splits, classes)
    return n


def run_zoo(folder: Path, executor: str, params: dict, vocab: Path, tensors: Path) -> float:
    """Wall seconds of one `studies/zoo/zoo.py` run with `executor`, its outputs under folder/executor."""
    params = {**params, "cluster": {**params["cluster"], "executor": executor}}
    (folder / f"{executor}.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}", "TQDM_DISABLE": "1"}
    command = [sys.executable, str(common.ROOT / "studies/zoo/zoo.py"), "--params", str(folder / f"{executor}.yaml"),
               "--pipeline-params", str(folder / f"{executor}.yaml"), "--vocab", str(vocab), "--tensors", str(tensors), "--out", str(folder / executor),
               "--run-record", str(folder / f"{executor}.json"), "--state-dir", str(folder / f"{executor}_state")]
    began = time.perf_counter()
    subprocess.run(command, cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=common.STUDY_PARAMS["zoo"])
    parser.add_argument("--pipeline-params", type=Path, default=common.PARAMS)
    parser.add_argument("--tensors", type=Path, default=common.out("featurize", "tensors.pt"))
    parser.add_argument("--vocab", type=Path, default=common.out("featurize", "vocab.json"))
    parser.add_argument("--train-share", type=float, default=0.25, help="of the training split, to keep it short")
    parser.add_argument("--epochs", type=int, default=2)
    common.add_common_args(parser, "2 variants instead of all")
    args = parser.parse_args()
    machine = common.machine_info(torch.device("cpu"), 1)
    params = {**yaml.safe_load(args.pipeline_params.read_text(encoding="utf-8")),  # one file for both arguments
              **yaml.safe_load(args.params.read_text(encoding="utf-8"))}
    zoo = params["zoo"]
    if args.quick:
        zoo["variants"] = dict(list(zoo["variants"].items())[:2])
    zoo["trainer"].update(epochs=args.epochs, patience=args.epochs)
    runs = len(zoo["variants"]) * len(zoo["seeds"])
    with tempfile.TemporaryDirectory(prefix="bench-zoo-") as tmp:
        folder = Path(tmp)
        n = subsample(args.tensors, args.train_share, folder / "tensors.pt")
        sequential = run_zoo(folder, "local", params, args.vocab, folder / "tensors.pt")
        on_ray = run_zoo(folder, "ray", params, args.vocab, folder / "tensors.pt")
        files = sorted(p.name for p in (folder / "local").glob("*.json"))
        identical = [(folder / "local" / f).read_bytes() == (folder / "ray" / f).read_bytes() for f in files]
    label = common.device_label(torch.device("cpu"), zoo["trainer"]["num_threads"])
    how = (f"studies/zoo/zoo.py: {len(zoo['variants'])} variants x {len(zoo['seeds'])} seeds = {runs} runs, "
           f"{args.epochs} epochs on {n:,} training texts ({args.train_share:.0%})")
    rows = [
        common.row("zoo, one run after another (executor: local)", how, sequential / 60, "min", label),
        common.row("zoo, every run a Ray task on a local Ray (executor: ray)", how, on_ray / 60, "min",
                   f"{os.cpu_count()} x {label}", baseline=sequential / 60, ratio=sequential / on_ray,
                   target=1 / 0.7, requires={"every variant's metrics byte-identical": all(identical)},
                   wall_ratio=on_ray / sequential, variants_identical=f"{sum(identical)}/{len(files)}"),
    ]
    notes = [
        "Both rows run the stage script end to end (its Python start, the data, every run, the metrics), in this "
        "order, on the same machine; the Ray row includes starting and stopping the local Ray (~10 s).",
        "ratio = sequential wall / Ray wall (> 1: Ray faster); the target is Ray <= 0.7 of the sequential time. Two "
        "CPU-bound processes on the 2 cores slow each other down, so the ceiling is below 2x.",
    ]
    path = common.write_section(args.out, "zoo_ray", common.section(
        "The zoo through Ray against one run after another", machine, rows, notes,
        vars(args)))  # paths become strings in the JSON (default=str)
    print(f"zoo_ray: sequential {sequential:.0f} s, Ray {on_ray:.0f} s, Ray/sequential {on_ray / sequential:.2f}; "
          f"identical metrics {sum(identical)}/{len(files)}; wrote {path}")


if __name__ == "__main__":
    main()
