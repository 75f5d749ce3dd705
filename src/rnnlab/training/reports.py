"""Comparison tables in markdown and PNG plots (learning curves, confusion matrices)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rnnlab.data.files import atomic_path  # noqa: E402


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A GitHub markdown table; floats with 4 decimals, ints with thousands separators."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _save(fig: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_learning_curves(histories: Mapping[str, Sequence[Mapping[str, float]]], path: Path) -> None:
    """Train/validation loss and validation macro-F1 per epoch, one line per model."""
    fig, (ax_loss, ax_f1) = plt.subplots(1, 2, figsize=(11, 4))
    for name, history in histories.items():
        epochs = [row["epoch"] for row in history]
        line = ax_loss.plot(epochs, [row["train_loss"] for row in history], label=f"{name} train")[0]
        ax_loss.plot(epochs, [row["val_loss"] for row in history], "--", color=line.get_color(), label=f"{name} val")
        ax_f1.plot(epochs, [row["val_macro_f1"] for row in history], color=line.get_color(), label=name)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_f1.set(xlabel="epoch", ylabel="macro-F1", title="validation macro-F1")
    ax_loss.legend(fontsize=7)
    ax_f1.legend(fontsize=7)
    _save(fig, path)


def plot_confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str, path: Path) -> None:
    """Confusion matrix heat map, rows = true class, with counts in the cells."""
    counts = np.asarray(matrix)
    size = max(3.5, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=8, color="white" if n > counts.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title)
    _save(fig, path)


def plot_variants(rows: Sequence[Mapping[str, Any]], path: Path, reference: float | None = None) -> None:
    """Mean test macro-F1 with its spread over seeds per variant, and against the parameter count.

    (Epoch times live in the run records: a figure DVC tracks holds nothing a rerun would change.)
    """
    names = [r["variant"] for r in rows]
    means = [r["test_macro_f1"]["mean"] for r in rows]
    stds = [r["test_macro_f1"]["std"] for r in rows]
    fig, (ax_bar, ax_size) = plt.subplots(1, 2, figsize=(13, 0.35 * len(rows) + 2))
    ax_bar.barh(names, means, xerr=stds, color="tab:blue", alpha=0.8)
    ax_bar.invert_yaxis()
    ax_bar.set(xlabel="test macro-F1 (mean ± std over seeds)", xlim=(min(means) - 0.05, max(means) + 0.03))
    ax_size.errorbar([r["n_parameters"] for r in rows], means, yerr=stds, fmt="o")
    for r, y in zip(rows, means, strict=True):
        ax_size.annotate(r["variant"], (r["n_parameters"], y), fontsize=7)
    ax_size.set(xlabel="trainable parameters", ylabel="test macro-F1", xscale="log")
    if reference is not None:
        ax_bar.axvline(reference, color="tab:red", linestyle="--")
        ax_size.axhline(reference, color="tab:red", linestyle="--", label="TF-IDF baseline")
        ax_size.legend(fontsize=7)
    _save(fig, path)


def plot_trials(scores: Sequence[float], path: Path, reference: Mapping[str, float]) -> None:
    """A search's best validation score per trial, in the order the trials started, with the best so far."""
    trials = list(range(1, len(scores) + 1))
    best, running = [], float("-inf")
    for value in scores:
        running = max(running, value)
        best.append(running)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(trials, scores, "o", label="trial")
    ax.step(trials, best, where="post", color="tab:green", label="best so far")
    for (name, value), color in zip(reference.items(), ("tab:red", "tab:purple", "tab:orange"), strict=False):
        ax.axhline(value, linestyle="--", color=color, label=name)
    ax.set(xlabel="trial", ylabel="validation macro-F1 (best epoch)")
    ax.legend(fontsize=8)
    _save(fig, path)
