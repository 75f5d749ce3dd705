"""Memory probe: read a random digit sequence, output its first digit; how far back can each cell remember?"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import torch

from rnnlab.config import ModelConfig, TrainerConfig
from rnnlab.data.files import atomic_path
from rnnlab.models.classifier import build_model
from rnnlab.params import Choice, ConfigError, Dropout, PositiveInt, Range, flatten
from rnnlab.text.batching import EncodedSplit
from rnnlab.training.classification import fit, predict_logits
from rnnlab.training.loop import resolve_device, set_seed
from rnnlab.training.reports import markdown_table
from rnnlab.training.resume import RunState, StageState
from rnnlab.training.tracking import Tracker


@dataclass(frozen=True)
class ProbeModelConfig:
    """The probe's network, less what each probed cell fixes (cell, nonlinearity, one direction, last state)."""

    embedding_dim: PositiveInt
    hidden_size: PositiveInt
    num_layers: PositiveInt
    packed: bool
    embedding_dropout: Dropout
    dropout: Dropout
    recurrent_dropout: Dropout
    init: Annotated[str, Choice("rnnlab.models.classifier:INIT_SCHEMES")]
    learned_init_state: bool
    embeddings: Annotated[str, Choice("rnnlab.models.embeddings:EMBEDDINGS")]
    freeze_embeddings: bool


@dataclass(frozen=True)
class ProbeConfig:
    cells: tuple[Annotated[str, Choice("rnnlab.studies.chars.probe:CELLS")], ...]
    lengths: tuple[PositiveInt, ...]
    train_length: PositiveInt  # the short length trained on before testing on every length
    train_size: PositiveInt
    val_size: PositiveInt
    test_size: PositiveInt
    fail_below: Annotated[float, Range(low=0, high=1)]  # test accuracy under which a cell fails (chance: 0.1)
    model: ProbeModelConfig
    trainer: TrainerConfig

    def __post_init__(self) -> None:
        if not self.cells or not self.lengths:
            raise ConfigError("cells and lengths: need at least one each")

DIGITS = 10
VOCAB_SIZE = 2 + DIGITS  # <pad>, <unk>, then digits 0-9 as ids 2-11
# The `probe.cells` choices: what each probed cell sets in the model config.
CELLS: dict[str, dict[str, str]] = {
    "rnn_tanh": {"cell": "rnn", "nonlinearity": "tanh"},
    "rnn_relu": {"cell": "rnn", "nonlinearity": "relu"},
    "lstm": {"cell": "lstm", "nonlinearity": "tanh"},
    "gru": {"cell": "gru", "nonlinearity": "tanh"},
}
OpenRun = Callable[[str, str | None], AbstractContextManager[Tracker]]  # (run name, id of a run to continue)


def digit_sequences(n: int, length: int, generator: torch.Generator) -> EncodedSplit:
    """`n` random digit sequences of `length`; the label is the first digit."""
    digits = torch.randint(DIGITS, (n, length), generator=generator)  # (N, T)
    return EncodedSplit(digits + 2, torch.full((n,), length, dtype=torch.long), digits[:, 0].clone())


def accuracy(model: torch.nn.Module, split: EncodedSplit, device: torch.device) -> float:
    """Share of sequences whose first digit the model names."""
    return float((predict_logits(model, split, 512, device).argmax(1) == split.labels).float().mean())


def cell_config(base: ProbeModelConfig, cell: str) -> ModelConfig:
    """The probe's model config for one cell name: unidirectional, the last state read."""
    return ModelConfig(**dataclasses.asdict(base), bidirectional=False, pooling="last", **CELLS[cell])


def train_probe(cfg: ProbeConfig, cell: str, length: int, tracker: Tracker, seed: int,
                state: RunState | None = None) -> torch.nn.Module:
    """A classifier of cell `cell` trained on sequences of `length` by the project's training loop."""
    generator = torch.Generator().manual_seed(seed)
    train, val = (digit_sequences(n, length, generator) for n in (cfg.train_size, cfg.val_size))
    model_cfg = cell_config(cfg.model, cell)
    set_seed(seed)  # the same initial weights whatever ran before
    tracker.log_params({"cell": cell, "train_length": length, "seed": seed, **flatten(model_cfg, "model."),
                        **flatten(cfg.trainer, "trainer.")})
    model = build_model(model_cfg, VOCAB_SIZE, DIGITS)
    fit(model, train, val, cfg.trainer, tracker, seed, state)
    return model


def accuracy_by_length(model: torch.nn.Module, lengths: Sequence[int], size: int, device: torch.device,
                 seed: int) -> dict[int, float]:
    """Test accuracy at each length, on fresh sequences."""
    generator = torch.Generator().manual_seed(seed + 1)
    return {length: accuracy(model, digit_sequences(size, length, generator), device) for length in lengths}


def run_probe(cfg: ProbeConfig, open_run: OpenRun, seed: int, state: StageState) -> dict[str, Any]:
    """Sweep: train and test each cell at each length; then train at `train_length` and test at every length.

    Runs that an interrupted attempt finished are not trained again: their accuracies come from `state`.
    """
    device = resolve_device(cfg.trainer.device)

    def test_run(name: str, cell: str, length: int, test_lengths: Sequence[int]) -> dict[int, float]:
        run = state.run(name)
        if run.result is None:
            with open_run(name, run.run_id) as tracker:
                model = train_probe(cfg, cell, length, tracker, seed, run)
                accuracies = accuracy_by_length(model, test_lengths, cfg.test_size, device, seed)
                for n, acc in accuracies.items():
                    tracker.log_metrics({"test_accuracy": acc}, step=None if len(test_lengths) == 1 else n)
            run.finish(tracker.run_id, {"accuracies": accuracies})
        return run.result["accuracies"]

    sweep: dict[str, dict[int, float]] = {}
    generalization: dict[str, dict[int, float]] = {}
    for cell in cfg.cells:
        sweep[cell] = {n: test_run(f"{cell}-L{n}", cell, n, [n])[n] for n in cfg.lengths}
        generalization[cell] = test_run(f"{cell}-train{cfg.train_length}", cell, cfg.train_length, cfg.lengths)
    return {"sweep": sweep, "generalization": generalization,
            "fails_at": {cell: fails_at(sweep[cell], cfg.fail_below) for cell in cfg.cells}}


def fails_at(accuracies: Mapping[int, float], threshold: float) -> int | None:
    """The shortest length whose accuracy is under `threshold`; None if the cell never fails."""
    return next((length for length, acc in sorted(accuracies.items()) if acc < threshold), None)


def probe_table(results: Mapping[str, Any], train_length: int) -> str:
    """Markdown: accuracy by cell and length, trained at each length and trained at `train_length`."""
    parts = []
    for key, title in (("sweep", "trained and tested at each length"),
                       ("generalization", f"trained at length {train_length}, tested at each length")):
        by_cell = results[key]
        lengths = sorted({length for accs in by_cell.values() for length in accs})
        rows = [{"cell": cell, **{f"L={n}": accs[n] for n in lengths}} for cell, accs in by_cell.items()]
        parts.append(f"### Test accuracy, {title}\n\n" + markdown_table(rows, ["cell", *[f"L={n}" for n in lengths]]))
    fails = ", ".join(f"{cell}: {'never' if n is None else f'L={n}'}" for cell, n in results["fails_at"].items())
    return "\n".join(parts) + f"\nFirst length under the failure threshold: {fails}.\n"


def plot_probe(results: Mapping[str, Any], train_length: int, path: Path) -> None:
    """Accuracy against sequence length, one line per cell, for both experiments."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    titles = ("trained at each length", f"trained at length {train_length}")
    for ax, key, title in zip(axes, ("sweep", "generalization"), titles, strict=True):
        for cell, accs in results[key].items():
            lengths = sorted(accs)
            ax.plot(lengths, [accs[n] for n in lengths], marker="o", label=cell)
        ax.axhline(1 / DIGITS, color="grey", linestyle=":", label="chance")
        ax.set(xscale="log", xlabel="sequence length", title=title)
        ax.set_xticks(lengths, [str(n) for n in lengths])
        ax.minorticks_off()  # the log axis would label 3x10^1 and such
    axes[0].set_ylabel("test accuracy (first digit)")
    axes[0].legend()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
