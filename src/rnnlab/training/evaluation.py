"""Score every model on the test split and write the comparison report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rnnlab.data.files import atomic_dir, atomic_path, write_json
from rnnlab.training.checkpoint import CheckpointError, read_payload
from rnnlab.training.reports import markdown_table, plot_confusion, plot_learning_curves

COLUMNS = ["model", "test_macro_f1", "test_accuracy", "val_macro_f1", "best_epoch", "n_parameters"]


@dataclass
class ModelResult:
    """A model's test scores, its predictions and what training recorded."""

    name: str
    scores: dict[str, Any]
    predicted: list[int]
    meta: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "test_macro_f1": self.scores["macro_f1"],
            "test_accuracy": self.scores["accuracy"],
            "val_macro_f1": self.meta.get("val_macro_f1"),
            "best_epoch": self.meta.get("best_epoch"),
            "n_parameters": self.meta.get("n_parameters"),
        }


def trained_checkpoints(models_dir: Path, names: Iterable[str]) -> dict[str, Path]:
    """The checkpoint of each named model, found among the checkpoints in `models_dir` by the name each carries."""
    found: dict[str, Path] = {}
    for path in sorted(models_dir.glob("*.pt")):
        try:
            found.setdefault(read_payload(path)["meta"].get("name"), path)
        except CheckpointError:
            continue  # not a classifier this rnnlab wrote: not one of the models asked for
    missing = [name for name in names if name not in found]
    if missing:
        raise FileNotFoundError(f"{models_dir}: no checkpoint of model '{missing[0]}': run `dvc repro` (its stage is "
                                f"train@ or train_subword@{missing[0]})")
    return {name: found[name] for name in names}


def comparison_markdown(results: Sequence[ModelResult], counts: Mapping[str, int]) -> str:
    """The report: models sorted by test macro-F1, then per-class F1."""
    ranked = sorted(results, key=lambda r: -r.scores["macro_f1"])
    classes = list(ranked[0].scores["per_class"])
    per_class = [{"model": r.name, **{c: r.scores["per_class"][c]["f1"] for c in classes}} for r in ranked]
    return (
        "# Model comparison on the test split\n\n"
        f"Test rows: {sum(counts.values()):,} ({', '.join(f'{c} {n:,}' for c, n in counts.items())}).\n\n"
        + markdown_table([r.row() for r in ranked], COLUMNS)
        + "\n## Per-class F1\n\n"
        + markdown_table(per_class, ["model", *classes])
        + "\n![learning curves](figures/learning_curves.png)\n"
    )


def write_reports(results: Sequence[ModelResult], classes: list[str], y_true: list[int], reports: Path) -> None:
    """comparison.md, figures/ (curves, confusion matrices), history/ and predictions/ (DVC plots)."""
    counts = {c: y_true.count(i) for i, c in enumerate(classes)}
    with atomic_path(reports / "comparison.md") as tmp:
        tmp.write_text(comparison_markdown(results, counts), encoding="utf-8")
    with atomic_dir(reports / "figures") as figures:
        plot_learning_curves({r.name: r.meta["history"] for r in results if r.meta.get("history")}, figures / "learning_curves.png")
        for r in results:
            plot_confusion(r.scores["confusion"], classes, f"{r.name}: test", figures / f"confusion_{r.name}.png")
    with atomic_dir(reports / "history") as folder:
        for r in results:
            if r.meta.get("history"):
                write_json(folder / f"{r.name}.json", r.meta["history"])
    with atomic_dir(reports / "predictions") as folder:
        for r in results:
            frame = pd.DataFrame({"actual": [classes[i] for i in y_true], "predicted": [classes[i] for i in r.predicted]})
            frame.to_csv(folder / f"{r.name}.csv", index=False)
