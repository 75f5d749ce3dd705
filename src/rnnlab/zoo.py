"""The model zoo: variants of one base classifier, each trained over several seeds and compared."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from typing import Any

from rnnlab.config import ModelConfig, TrainerConfig, from_dict


@dataclass(frozen=True)
class Variant:
    """Overrides of the zoo's base model and trainer."""

    model: dict[str, Any] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ZooConfig:
    seeds: tuple[int, ...] = (1, 2, 3)
    base: dict[str, Any] = field(default_factory=dict)  # ModelConfig keys shared by every variant
    trainer: dict[str, Any] = field(default_factory=dict)  # overrides of the `trainer` section
    variants: dict[str, Variant] = field(default_factory=dict)


def variant_configs(zoo: ZooConfig, name: str, trainer: TrainerConfig, where: str) -> tuple[ModelConfig, TrainerConfig]:
    """The model and trainer configs of one variant, validated like any params section."""
    if name not in zoo.variants:
        raise KeyError(f"{where}: no variant '{name}' (known: {', '.join(zoo.variants)})")
    variant = zoo.variants[name]
    model = from_dict(ModelConfig, {**zoo.base, **variant.model}, f"{where}: zoo.variants.{name}.model")
    trainer_keys = {**dataclasses.asdict(trainer), **zoo.trainer, **variant.trainer}
    return model, from_dict(TrainerConfig, trainer_keys, f"{where}: zoo.variants.{name}.trainer")


def summarize(name: str, runs: list[dict[str, float]], n_parameters: int) -> dict[str, Any]:
    """Mean and spread over seeds of the scores of one variant."""

    def stats(key: str) -> dict[str, float]:
        values = [r[key] for r in runs]
        return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}

    return {
        "variant": name,
        "n_parameters": n_parameters,
        "test_macro_f1": stats("test_macro_f1"),
        "test_accuracy": stats("test_accuracy"),
        "epoch_seconds": stats("epoch_seconds"),
        "runs": runs,
    }


def report_rows(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows sorted by mean test macro-F1."""
    rows = [
        {
            "variant": s["variant"],
            "test_macro_f1": f"{s['test_macro_f1']['mean']:.4f} ± {s['test_macro_f1']['std']:.4f}",
            "test_accuracy": f"{s['test_accuracy']['mean']:.4f} ± {s['test_accuracy']['std']:.4f}",
            "epoch_seconds": f"{s['epoch_seconds']['mean']:.1f}",
            "n_parameters": s["n_parameters"],
            "seeds": len(s["runs"]),
            "_key": s["test_macro_f1"]["mean"],
        }
        for s in summaries
    ]
    return sorted(rows, key=lambda r: -r["_key"])
