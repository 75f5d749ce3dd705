"""Training throughput: fixed-length padding against packed and length-bucketed batches, per cell and device."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common  # first: it sets the environment before rnnlab imports tqdm
import torch

from rnnlab.config import ModelConfig, TrainerConfig
from rnnlab.models.classifier import build_model
from rnnlab.params import load_section
from rnnlab.text.batching import EncodedSplit
from rnnlab.text.features import load_features
from rnnlab.text.vocab import Vocab
from rnnlab.training.classification import fit
from rnnlab.training.loop import resolve_device, set_seed
from rnnlab.training.tracking import MemoryTracker

BUCKETING_TARGET, GPU_TARGET = 1.5, 20.0
# name -> (TrainerConfig fields, ModelConfig.packed)
BATCHINGS: dict[str, tuple[dict[str, bool], bool]] = {
    "fixed": ({"bucket_by_length": False, "pad_to_max_len": True}, False),  # the naive way
    "packed": ({"bucket_by_length": False, "pad_to_max_len": False}, True),
    "bucketed": ({"bucket_by_length": True, "pad_to_max_len": False}, True),
}
HOW = {
    "fixed": "shuffled batches, every batch padded to the split's width (featurize.max_len), packed: false",
    "packed": "shuffled batches cut to the batch's longest text, packed sequences",
    "bucketed": "bucketed_batches (similar lengths together), packed sequences",
}


class PinnedSplit(EncodedSplit):
    """Batches in page-locked memory, so that `.to(cuda, non_blocking=True)` in train_epoch is asynchronous."""

    def batch(self, index: torch.Tensor, trim: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tokens, lengths, labels = super().batch(index, trim)
        return tokens.pin_memory(), lengths, labels.pin_memory()  # lengths stay pageable: packing reads them on CPU


@dataclass(frozen=True)
class Variant:
    """One way to train: cell, batching, and the GPU-path switches."""

    cell: str
    batching: str
    autocast: torch.dtype | None = None
    pinned: bool = False
    cudnn: bool = True

    @property
    def name(self) -> str:
        extras = [f"autocast {str(self.autocast).removeprefix('torch.')}" if self.autocast else "",
                  "pinned + non_blocking" if self.pinned else "", "" if self.cudnn else "cuDNN off"]
        return ", ".join([f"{self.cell} {self.batching}", *filter(None, extras)])


@dataclass
class Measured:
    epoch_seconds: float
    seq_per_s: float
    best_f1: float
    last_f1: float
    f1_by_epoch: list[float]
    utilisation: str


def subset(split: EncodedSplit, rows: int, seed: int) -> EncodedSplit:
    """A random `rows`-row sample (the same for every variant), or the whole split when rows is 0."""
    if not rows or rows >= len(split):
        return split
    index = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:rows]
    return EncodedSplit(split.tokens[index], split.lengths[index], split.labels[index])


def configs(v: Variant, args: argparse.Namespace, device: torch.device, epochs: int) -> tuple[ModelConfig, TrainerConfig]:
    """The same model for every variant, unidirectional so that `packed: false` really runs padded steps."""
    trainer_fields, packed = BATCHINGS[v.batching]
    recurrent_dropout = 0.2 if v.cell in ("lstm_loop", "weight_drop_lstm") else 0.0
    base = load_section(args.params, "zoo.base", ModelConfig)  # the zoo's LSTM: embedding and output dropout, max pooling
    model = dataclasses.replace(base, cell=v.cell, embedding_dim=args.embedding_dim, hidden_size=args.hidden_size,
                                num_layers=1, bidirectional=False, pooling="max", packed=packed,
                                recurrent_dropout=recurrent_dropout)
    trainer = TrainerConfig(device=str(device), autocast="off", epochs=epochs, batch_size=args.batch_size,
                            bucket_by_length=True, pad_to_max_len=False, lr=2e-3, weight_decay=0.0, clip_grad_norm=1.0,
                            patience=epochs, class_weight="balanced", num_threads=args.threads)
    trainer = dataclasses.replace(trainer, **trainer_fields)
    return model, trainer


def measure(v: Variant, train: EncodedSplit, val: EncodedSplit, sizes: tuple[int, int], device: torch.device,
            epochs: int, args: argparse.Namespace, seed: int | None = None) -> Measured:
    """fit() for `epochs` epochs; epoch time = median of the epochs after the first (a warm-up)."""
    model_cfg, trainer = configs(v, args, device, epochs)
    seed = args.seed if seed is None else seed
    set_seed(seed)  # every variant of a cell starts from the same weights
    model = build_model(model_cfg, *sizes)
    split = PinnedSplit(train.tokens, train.lengths, train.labels) if v.pinned else train
    precision = (torch.autocast(device.type, dtype=v.autocast) if v.autocast else contextlib.nullcontext())
    with precision, torch.backends.cudnn.flags(enabled=v.cudnn), common.UtilisationSampler(device) as util:
        result = fit(model, split, val, trainer, MemoryTracker(), seed)
    timed = [t["seconds"] for t in result.timings[1:]] or [result.timings[0]["seconds"]]
    seconds = common.median(timed)
    return Measured(seconds, len(train) / seconds, result.best["val_macro_f1"], result.history[-1]["val_macro_f1"],
                    [r["val_macro_f1"] for r in result.history], util.summary())


def how(batching: str, epochs: int, rows: int, args: argparse.Namespace) -> str:
    return (f"{HOW[batching]}; median epoch of {epochs - 1} after 1 warm-up, {rows} training texts, "
            f"batch {args.batch_size}, emb {args.embedding_dim}, hidden {args.hidden_size}, 1 layer")


def details(m: Measured, **extra: Any) -> dict[str, Any]:
    return {"epoch_s": m.epoch_seconds, "val_macro_f1_best": m.best_f1, "val_macro_f1_last": m.last_f1,
            "utilisation": m.utilisation, **extra}


def grid_rows(train: EncodedSplit, val: EncodedSplit, sizes: tuple[int, int], device: torch.device,
              args: argparse.Namespace) -> tuple[list[dict], dict[str, Measured]]:
    """RNN, LSTM and GRU under every batching, then the hand-written and weight-drop LSTMs beside nn.LSTM."""
    label, epochs, rows, seen = common.device_label(device, args.threads), args.throughput_epochs, [], {}
    for cell in ("rnn", "lstm", "gru"):
        for batching in BATCHINGS:
            m = seen[f"{cell} {batching}"] = measure(Variant(cell, batching), train, val, sizes, device, epochs, args)
            base = seen[f"{cell} fixed"]
            ratio = None if batching == "fixed" else base.epoch_seconds / m.epoch_seconds
            rows.append(common.row(f"{cell} {batching}", how(batching, epochs, len(train), args), m.seq_per_s, "seq/s",
                                   label, baseline=base.seq_per_s if ratio else None, ratio=ratio, **details(m)))
    for cell in ("lstm_loop", "weight_drop_lstm"):
        m = measure(Variant(cell, "bucketed"), train, val, sizes, device, epochs, args)
        base = seen["lstm bucketed"]
        rows.append(common.row(f"{cell} bucketed, beside nn.LSTM bucketed", how("bucketed", epochs, len(train), args)
                               + ", recurrent_dropout 0.2", m.seq_per_s, "seq/s", label, baseline=base.seq_per_s,
                               ratio=m.seq_per_s / base.seq_per_s, **details(m)))
    return rows, seen


def quality_rows(train: EncodedSplit, val: EncodedSplit, sizes: tuple[int, int], device: torch.device,
                 args: argparse.Namespace) -> list[dict]:
    """LSTM with fixed-length padding against bucketing, the same epochs and seeds, on the whole training split."""
    label, epochs = common.device_label(device, args.threads), args.epochs
    seeds = [args.seed + i for i in range(args.quality_seeds)]
    fixed = [measure(Variant("lstm", "fixed"), train, val, sizes, device, epochs, args, seed) for seed in seeds]
    bucketed = [measure(Variant("lstm", "bucketed"), train, val, sizes, device, epochs, args, seed) for seed in seeds]
    text = (f" (trained {epochs} epochs each, seeds {', '.join(map(str, seeds))}, {len(train)} training texts; "
            f"val macro-F1 over {len(val)} texts)")

    def summary(runs: list[Measured]) -> dict[str, Any]:
        best = [m.best_f1 for m in runs]
        return {"epoch_s": common.median([m.epoch_seconds for m in runs]), "val_macro_f1_best": statistics.fmean(best),
                "val_macro_f1_best_std": statistics.stdev(best) if len(best) > 1 else 0.0,
                "val_macro_f1_best_by_seed": " ".join(f"{f:.4f}" for f in best), "f1_by_epoch": _f1s(runs[0])}

    f, b = summary(fixed), summary(bucketed)
    f1_ok = b["val_macro_f1_best"] >= f["val_macro_f1_best"] - 0.01
    return [
        common.row("lstm fixed-length padding: epoch time" + text, how("fixed", epochs, len(train), args),
                   f["epoch_s"], "s", label, **f),
        common.row("lstm length-bucketed: epoch-time speedup over fixed padding" + text, how("bucketed", epochs, len(train), args),
                   b["epoch_s"], "s", label, baseline=f["epoch_s"], ratio=f["epoch_s"] / b["epoch_s"], target=BUCKETING_TARGET,
                   requires={"val macro-F1 equal or better (within 0.01)": f1_ok},
                   val_macro_f1_best_minus_fixed=b["val_macro_f1_best"] - f["val_macro_f1_best"], **b),
    ]


def _f1s(m: Measured) -> str:
    return " ".join(f"{f:.3f}" for f in m.f1_by_epoch)


def gpu_path_variants(device: torch.device) -> list[Variant]:
    """Mixed precision, pinned memory with non-blocking copies, and (CUDA) the native kernel instead of cuDNN."""
    variants = [Variant("lstm", "bucketed", autocast=torch.bfloat16), Variant("lstm", "bucketed", autocast=torch.float16),
                Variant("lstm", "bucketed", pinned=True)]
    if device.type == "cuda":
        variants.append(Variant("lstm", "bucketed", cudnn=False))
    return variants


def gpu_path_rows(train: EncodedSplit, val: EncodedSplit, sizes: tuple[int, int], device: torch.device,
                  base: Measured, args: argparse.Namespace) -> list[dict]:
    """Each GPU-path switch against fp32 LSTM bucketed on the same device; on CPU where the switch exists there."""
    label, epochs, rows = common.device_label(device, args.threads), args.throughput_epochs, []
    forced = "" if device.type == "cuda" else " (GPU code path forced on CPU)"
    for v in gpu_path_variants(device):
        text = how("bucketed", epochs, len(train), args) + ("; fp16 without GradScaler: throughput only" if v.autocast == torch.float16 else "")
        if v.pinned and not torch.cuda.is_available():
            rows.append(common.unavailable_row(v.name + forced, text, "seq/s", label, "not available: pin_memory needs a CUDA device"))
            continue
        try:
            m = measure(v, train, val, sizes, device, epochs, args)
        except RuntimeError as err:  # e.g. oneDNN has no fp16 LSTM on CPU
            rows.append(common.unavailable_row(v.name + forced, text, "seq/s", label, f"not supported here: {str(err).splitlines()[0][:120]}"))
            continue
        rows.append(common.row(v.name + forced, text, m.seq_per_s, "seq/s", label, baseline=base.seq_per_s,
                               ratio=m.seq_per_s / base.seq_per_s, **details(m)))
    return rows


def gpu_vs_cpu_row(cpu: Measured, gpu: Measured | None, args: argparse.Namespace) -> dict:
    """The GPU target: LSTM bucketed seq/s on CUDA over the same on CPU."""
    what = f"lstm bucketed on GPU vs CPU ({args.threads} thread(s))"
    text = "seq/s of the grid's lstm bucketed row on each device"
    if gpu is None:
        return common.unavailable_row(what, text, "seq/s", "cuda", baseline=cpu.seq_per_s, target=GPU_TARGET)
    return common.row(what, text, gpu.seq_per_s, "seq/s", common.device_label(torch.device("cuda"), args.threads),
                      baseline=cpu.seq_per_s, ratio=gpu.seq_per_s / cpu.seq_per_s, target=GPU_TARGET)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=common.STUDY_PARAMS["zoo"], help="the zoo's base model comes from here")
    parser.add_argument("--tensors", type=Path, default=common.out("featurize", "tensors.pt"))
    parser.add_argument("--vocab", type=Path, default=common.out("featurize", "vocab.json"))
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the fixed-vs-bucketed quality comparison (the zoo's)")
    parser.add_argument("--quality-seeds", type=int, default=3, help="seeds of that comparison, from --seed up")
    parser.add_argument("--quality-rows", type=int, default=0, help="training texts for it (0 = all)")
    parser.add_argument("--throughput-epochs", type=int, default=3, help="per grid row: 1 warm-up + the rest timed")
    parser.add_argument("--throughput-rows", type=int, default=2000, help="random training texts per grid row (0 = all)")
    parser.add_argument("--val-rows", type=int, default=0, help="validation texts (0 = all)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    common.add_common_args(parser, "tiny sizes: 200-text grid, 300-text quality run over 2 seeds, 200 validation texts, 2 epochs, 16-unit model")
    args = parser.parse_args()
    if args.quick:
        args.throughput_rows, args.quality_rows, args.val_rows, args.epochs, args.throughput_epochs = 200, 300, 200, 2, 2
        args.quality_seeds = 2
        args.embedding_dim = args.hidden_size = 16
    return args


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    splits, classes = load_features(args.tensors)
    sizes = (len(Vocab.load(args.vocab)), len(classes))
    small, val = subset(splits["train"], args.throughput_rows, args.seed), subset(splits["val"], args.val_rows, args.seed)
    cpu = torch.device("cpu")
    rows, cpu_seen = grid_rows(small, val, sizes, cpu, args)
    rows += quality_rows(subset(splits["train"], args.quality_rows, args.seed), val, sizes, cpu, args)
    rows += gpu_path_rows(small, val, sizes, cpu, cpu_seen["lstm bucketed"], args)
    gpu = resolve_device("auto")
    gpu_seen = None
    if gpu.type == "cuda":
        gpu_rows, gpu_seen = grid_rows(small, val, sizes, gpu, args)
        rows += gpu_rows + gpu_path_rows(small, val, sizes, gpu, gpu_seen["lstm bucketed"], args)
    else:
        rows.append(common.unavailable_row("RNN/LSTM/GRU grid on GPU (cuDNN), bf16/fp16 autocast, pinned memory, "
                                           "GPU utilisation during an epoch", "same grid as on CPU", "seq/s", "cuda"))
    rows.append(gpu_vs_cpu_row(cpu_seen["lstm bucketed"], gpu_seen and gpu_seen["lstm bucketed"], args))
    rows.append(common.row("peak RSS of this benchmark process", "getrusage ru_maxrss after every run above",
                           common.self_peak_rss_mib(), "MiB", common.device_label(cpu, args.threads)))
    notes = [
        "grid rows: ratio = epoch time of the same cell with fixed-length padding / this row's (higher is better); "
        "hand-written rows: ratio = their seq/s / nn.LSTM's, bucketed (below 1 = slower).",
        "quality rows: the target is bucketing >= 1.5x faster per epoch than fixed padding at equal or better val macro-F1 "
        "(equal = within 0.01; 'best' = best epoch, as the pipeline keeps; mean over the seeds, epoch time their median).",
        "every row trains through `rnnlab.training.classification.fit` (the pipeline's one loop) with a MemoryTracker; seq/s = training texts / "
        "epoch seconds (batch building + forward + backward + step; validation excluded).",
        "GPU-path rows run the same switches the CUDA run uses (autocast, pinned batches + non_blocking copies, cuDNN flag); "
        "on CPU the pinned row cannot run, and fp16 autocast may be unsupported for the LSTM.",
    ]
    machine = common.machine_info(gpu, args.threads)
    path = common.write_section(args.out, "training", common.section(
        "Training throughput: padding, packing, bucketing", machine, rows, notes, vars(args)))
    print(f"training: wrote {path}")


if __name__ == "__main__":
    main()
