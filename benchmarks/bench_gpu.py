"""The GPU checks (benchmarks/gpu_check.sh runs this): train.lstm on GPU and CPU, and the GPU training grid.

1. `train.lstm` with the committed params, trained once on the GPU and once on the CPU, then scored on the
   test split: the two test macro-F1 and accuracy side by side (bf16 autocast and cuDNN against float32 on CPU).
2. The grid on the GPU: cuDNN nn.LSTM (train.lstm's model), autocast off / bf16 / fp16, batch 64 and 512:
   seq/s of the second epoch (the first warms cuDNN up) and the GPU's utilisation, sampled every 200 ms.

`--device cpu --dry-run` runs the same code on a tiny budget on the CPU, to check the script here; its rows
go to a temporary folder (or `--out`), never into benchmarks/results.*. `--placeholder` writes the section's
rows as "not measured on a GPU yet".
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import common  # first: it sets the environment before rnnlab imports tqdm
import torch
from bench_data_parallel import synthetic

from rnnlab.config import ModelConfig, TrainerConfig
from rnnlab.params import load_section
from rnnlab.text.batching import EncodedSplit
from rnnlab.text.features import load_features
from rnnlab.text.vocab import Vocab
from rnnlab.training.classification import predict_logits, train_classifier
from rnnlab.training.metrics import score
from rnnlab.training.tracking import MemoryTracker

NOT_MEASURED = "not measured on a GPU yet"
GRID = [(autocast, batch) for batch in (64, 512) for autocast in ("off", "bf16", "fp16")]


class GpuUtilisation:
    """`nvidia-smi -lms 200` in the background while a block runs (torch.cuda.utilization's pynvml otherwise)."""

    def __enter__(self) -> GpuUtilisation:
        self.samples: list[float] = []
        self._proc = None
        if shutil.which("nvidia-smi"):
            self._proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            out, _ = self._proc.communicate(timeout=10)
            self.samples = [float(x) for x in out.split() if x.strip().replace(".", "", 1).isdigit()]

    def summary(self) -> str:
        return f"GPU busy {statistics.fmean(self.samples):.0f}% ({len(self.samples)} samples)" if self.samples \
            else "GPU utilisation: no samples (no nvidia-smi)"


def load_data(args: argparse.Namespace) -> tuple[list[str], dict[str, EncodedSplit], list[str]]:
    """The pipeline's features (a subset with --dry-run), or synthetic ones of their shape when missing."""
    if args.tensors.exists() and args.vocab.exists():
        splits, classes = load_features(args.tensors)
        itos = list(Vocab.load(args.vocab).itos)
    else:
        itos = ["<pad>", "<unk>", *(f"w{i}" for i in range(20000))]
        classes, splits = ["negative", "neutral", "positive"], synthetic(19000, len(itos), 100, args.seed)
        splits["test"] = splits["val"]
    if args.dry_run:
        splits = {name: EncodedSplit(s.tokens[:300], s.lengths[:300], s.labels[:300]) for name, s in splits.items()}
    return itos, splits, list(classes)


def configs(args: argparse.Namespace, device: str, **trainer: Any) -> tuple[ModelConfig, TrainerConfig]:
    """train.<model> and the committed trainer on `device` (a tiny model and 1 epoch with --dry-run)."""
    model_cfg = load_section(args.params, f"train.{args.model}", ModelConfig)
    trainer_cfg = dataclasses.replace(load_section(args.params, "trainer", TrainerConfig), device=device, **trainer)
    if args.dry_run:
        model_cfg = dataclasses.replace(model_cfg, embeddings="scratch", embedding_dim=16, hidden_size=16)
        trainer_cfg = dataclasses.replace(trainer_cfg, epochs=min(trainer_cfg.epochs, 2))
    return model_cfg, trainer_cfg


def committed_run(device: str, args: argparse.Namespace, itos: list[str], splits: dict[str, EncodedSplit],
                  classes: list[str]) -> dict[str, Any]:
    """train.<model> with the committed params on `device`, scored on the test split."""
    model_cfg, trainer = configs(args, device)
    torch.set_num_threads(trainer.num_threads)
    with common.stopwatch() as clock:
        model, result = train_classifier(model_cfg, trainer, itos, splits, len(classes), MemoryTracker(), args.seed)
    test = splits["test"]
    predicted = predict_logits(model, test, trainer.batch_size * 4, torch.device(device)).argmax(1).tolist()
    scores = score(test.labels.tolist(), predicted, classes)
    return {"test_macro_f1": scores["macro_f1"], "test_accuracy": scores["accuracy"],
            "best_epoch": result.best_position,
            "train_s": clock["seconds"], "epoch_s": statistics.fmean(t["seconds"] for t in result.timings)}


def comparison_rows(args: argparse.Namespace, itos: list[str], splits: dict[str, EncodedSplit],
                    classes: list[str]) -> list[dict[str, Any]]:
    """The committed model trained on the GPU and on the CPU: test scores side by side."""
    gpu, cpu = (committed_run(d, args, itos, splits, classes) for d in (args.device, "cpu"))
    how = (f"train.{args.model} with the committed params (autocast {load_section(args.params, 'trainer').autocast} "
           f"on CUDA, float32 on CPU), seed {args.seed}, test split of {len(splits['test']):,} texts")
    cpu_label, label = common.device_label(torch.device("cpu"), 1), common.device_label(torch.device(args.device), 1)
    return [
        common.row(f"train.{args.model} test macro-F1 on {args.device}", how, gpu["test_macro_f1"], "", label,
                   baseline=cpu["test_macro_f1"], cpu_test_accuracy=cpu["test_accuracy"], **gpu),
        common.row(f"train.{args.model} test macro-F1 on cpu", how, cpu["test_macro_f1"], "", cpu_label, **cpu),
        common.row(f"train.{args.model} training speed, {args.device} over cpu", "mean epoch seconds, cpu / this",
                   gpu["epoch_s"], "s", label, baseline=cpu["epoch_s"], ratio=cpu["epoch_s"] / gpu["epoch_s"]),
    ]


def grid_rows(args: argparse.Namespace, itos: list[str], splits: dict[str, EncodedSplit],
              classes: list[str]) -> list[dict[str, Any]]:
    """cuDNN nn.LSTM under each autocast setting and batch size: the second epoch's seq/s, the GPU's utilisation."""
    rows, base = [], {}
    label = common.device_label(torch.device(args.device), 1)
    for autocast, batch in GRID:
        model_cfg, trainer = configs(args, args.device, autocast=autocast, batch_size=batch, epochs=2, patience=2)
        with GpuUtilisation() as util:
            _, result = train_classifier(model_cfg, trainer, itos, splits, len(classes), MemoryTracker(), args.seed)
        timed = result.timings[-1]
        seq_s = len(splits["train"]) / timed["seconds"]
        base.setdefault(batch, seq_s)  # "off" comes first for each batch size
        rows.append(common.row(
            f"lstm (cuDNN) autocast {autocast}, batch {batch}",
            f"train.{args.model}'s model, epoch 2 of 2 (1 warms up), {len(splits['train']):,} texts, bucketed; "
            "utilisation over both epochs and validation", seq_s, "seq/s", label,
            baseline=base[batch], ratio=seq_s / base[batch], utilisation=util.summary(),
            train_loss=result.history[-1]["train_loss"], val_macro_f1=result.history[-1]["val_macro_f1"]))
    return rows


def placeholder_rows() -> list[dict[str, Any]]:
    """The section's rows before a GPU run: what will be measured, each saying it was not."""
    rows = [common.unavailable_row("train.lstm test macro-F1 on cuda against cpu", "committed params, both devices",
                                   "", "cuda", NOT_MEASURED)]
    rows += [common.unavailable_row(f"lstm (cuDNN) autocast {a}, batch {b}", "epoch 2 of 2, GPU utilisation sampled",
                                    "seq/s", "cuda", NOT_MEASURED) for a, b in GRID]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=common.PARAMS)
    parser.add_argument("--model", default="lstm", help="the `train` entry")
    parser.add_argument("--tensors", type=Path, default=common.out("featurize", "tensors.pt"))
    parser.add_argument("--vocab", type=Path, default=common.out("featurize", "vocab.json"))
    parser.add_argument("--device", default="cuda", help="cuda (the real run) or cpu (a logic check, with --dry-run)")
    parser.add_argument("--dry-run", action="store_true", help="300 texts, a 16-unit model, at most 2 epochs")
    parser.add_argument("--placeholder", action="store_true", help="write the rows as not measured, train nothing")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: benchmarks/ on CUDA, "
                                                                "a temporary folder otherwise)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available() and not args.placeholder:
        parser.error("--device cuda: torch sees no CUDA device (use --device cpu --dry-run to check the script)")
    out = args.out or (common.DEFAULT_OUT if args.device.startswith("cuda") or args.placeholder
                       else Path(tempfile.mkdtemp(prefix="bench-gpu-")))
    device = torch.device(args.device)
    measured_on = torch.device("cpu") if args.placeholder else device  # the placeholder runs where there is no GPU
    if args.placeholder:
        rows = placeholder_rows()
    else:
        itos, splits, classes = load_data(args)
        rows = comparison_rows(args, itos, splits, classes) + grid_rows(args, itos, splits, classes)
    notes = ["every row names its device; rows that could not run say so ('not measured on a GPU yet').",
             "grid: ratio = seq/s / the same batch size's autocast-off seq/s; seq/s = training texts / epoch 2's "
             "training seconds (forward, backward, step; one host sync per epoch on CUDA).",
             "comparison: the committed model trained on each device from the same seed; GPU kernels are not "
             "bit-reproducible, so the scores differ a little; test macro-F1 within ~0.02 is the expectation."]
    if args.dry_run:
        notes.insert(0, "DRY RUN: 300 texts, a 16-unit model: checks the script, measures nothing")
    path = common.write_section(out, "gpu", common.section(
        "GPU: train.lstm on GPU vs CPU, autocast and batch-size grid", common.machine_info(measured_on, 1), rows, notes,
        {k: str(v) for k, v in vars(args).items()}))
    for r in rows:
        print(f"{r['what']}: {common.fmt(r['value'], r['unit'])} {r.get('note', '')} {r['details']}")
    print(f"gpu: wrote {path}")


if __name__ == "__main__":
    main()
