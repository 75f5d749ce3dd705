"""Data-parallel training: one epoch of train.lstm's model on 1 worker (in-process) against 2 Ray Train workers."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import common  # first: it sets the environment before rnnlab imports tqdm
import torch

from rnnlab.config import ModelConfig, TrainerConfig
from rnnlab.params import load_section
from rnnlab.text.batching import EncodedSplit
from rnnlab.text.features import load_features
from rnnlab.text.vocab import Vocab
from rnnlab.training.classification import train_classifier
from rnnlab.training.distributed import fit_data_parallel
from rnnlab.training.loop import TrainResult
from rnnlab.training.tracking import MemoryTracker


def synthetic(rows: int, vocab_size: int, max_len: int, seed: int) -> dict[str, EncodedSplit]:
    """Random texts of the real set's shape (lengths 1..max_len, 3 classes), when the features are missing."""
    gen = torch.Generator().manual_seed(seed)

    def split(n: int) -> EncodedSplit:
        lengths = torch.randint(1, max_len + 1, (n,), generator=gen)
        tokens = torch.randint(2, vocab_size, (n, max_len), generator=gen)
        tokens[torch.arange(max_len) >= lengths[:, None]] = 0  # (N, T): <pad> after each text's end
        return EncodedSplit(tokens, lengths, torch.randint(0, 3, (n,), generator=gen))

    return {"train": split(rows), "val": split(rows // 10)}


def load_data(args: argparse.Namespace) -> tuple[list[str], dict[str, EncodedSplit], int, str]:
    """The pipeline's features, or a synthetic set of their shape."""
    if args.tensors.exists() and args.vocab.exists():
        splits, classes = load_features(args.tensors)
        return list(Vocab.load(args.vocab).itos), splits, len(classes), f"the pipeline's features ({args.tensors.name})"
    itos = ["<pad>", "<unk>", *(f"w{i}" for i in range(20000))]
    return itos, synthetic(19000, len(itos), 100, args.seed), 3, "synthetic texts of the features' shape"


def run(workers: int, args: argparse.Namespace, itos: list[str], splits: dict[str, EncodedSplit],
        n_classes: int) -> tuple[TrainResult, float]:
    model_cfg = load_section(args.params, f"train.{args.model}", ModelConfig)
    trainer = dataclasses.replace(load_section(args.params, "trainer", TrainerConfig), epochs=1, patience=1, num_threads=1)
    with common.stopwatch() as clock:
        if workers == 1:
            _, result = train_classifier(model_cfg, trainer, itos, splits, n_classes, MemoryTracker(), args.seed)
        else:
            _, result = fit_data_parallel(model_cfg, trainer, itos, splits, n_classes, args.seed, workers,
                                          os.environ, MemoryTracker())
    return result, clock["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=common.PARAMS)
    parser.add_argument("--model", default="lstm", help="the `train` entry whose model is trained")
    parser.add_argument("--tensors", type=Path, default=common.out("featurize", "tensors.pt"))
    parser.add_argument("--vocab", type=Path, default=common.out("featurize", "vocab.json"))
    parser.add_argument("--seed", type=int, default=42)
    common.add_common_args(parser, "unused (one epoch is the whole benchmark)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    machine = common.machine_info(torch.device("cpu"), 1)  # before the runs: its load average is the machine's
    itos, splits, n_classes, data = load_data(args)
    n = len(splits["train"])
    single, single_wall = run(1, args, itos, splits, n_classes)
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)  # its own, not a running one
    try:
        double, double_wall = run(2, args, itos, splits, n_classes)
    finally:
        ray.shutdown()
    one_sps, two_sps = n / single.timings[0]["seconds"], n / double.timings[0]["seconds"]
    label = common.device_label(torch.device("cpu"), 1)
    how = f"1 epoch of train.{args.model}'s model, {n:,} texts, {data}"
    rows = [
        common.row("1 worker (the stage's own process)", how, one_sps, "seq/s", label,
                   train_loss=single.history[0]["train_loss"], val_macro_f1=single.history[0]["val_macro_f1"],
                   epoch_s=single.timings[0]["seconds"], wall_s=single_wall),
        common.row("2 Ray Train workers (DDP, gloo), 1 thread each", how, two_sps, "seq/s", f"2 x {label}",
                   baseline=one_sps, ratio=two_sps / one_sps, train_loss_rank0=double.history[0]["train_loss"],
                   val_macro_f1=double.history[0]["val_macro_f1"], epoch_s=double.timings[0]["seconds"],
                   wall_s_with_ray_start=double_wall),
    ]
    notes = [
        "seq/s = training texts / the epoch's training seconds (the loop's own timing: batches, forward, backward, "
        "all-reduce, step; validation and Ray's start excluded; wall s includes them).",
        "2 workers take half the steps of the epoch each, every step with twice the effective batch, at the same lr: "
        "after one epoch their loss is higher than 1 worker's (see tests/integration/test_data_parallel.py); "
        "train loss rank 0 is the loss over rank 0's half of the epoch.",
        "ratio = 2 workers' seq/s / 1 worker's: on 2 cores the 2 workers use both, so ~2x is the ceiling. What does "
        "not shrink with a worker's share stays per step on every worker: the Adam step and clipping over all "
        "parameters (train.lstm fine-tunes its navec embedding: ~3.4M of its ~3.8M) and the all-reduce of their "
        "gradient over gloo.",
    ]
    path = common.write_section(args.out, "data_parallel", common.section(
        "Data-parallel training (Ray Train, DistributedDataParallel)", machine, rows, notes,
        vars(args)))  # paths become strings in the JSON (default=str)
    print(f"data_parallel: {one_sps:,.0f} seq/s on 1 worker, {two_sps:,.0f} on 2 ({two_sps / one_sps:.2f}x); "
          f"train loss {single.history[0]['train_loss']:.4f} vs {double.history[0]['train_loss']:.4f}; wrote {path}")


if __name__ == "__main__":
    main()
