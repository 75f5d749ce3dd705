"""The model zoo: variants of one base classifier, each trained over several seeds and compared."""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

from rnnlab.config import ModelConfig, TrainerConfig, Variant, from_dict


def variant_configs(base: ModelConfig, trainer: TrainerConfig, variant: Variant,
                    where: str) -> tuple[ModelConfig, TrainerConfig]:
    """The zoo's base model and trainer with one variant's overrides, validated like any params section."""
    model = from_dict(ModelConfig, {**dataclasses.asdict(base), **variant.model}, f"{where}.model")
    return model, from_dict(TrainerConfig, {**dataclasses.asdict(trainer), **variant.trainer}, f"{where}.trainer")


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
        "runs": runs,
    }


def report_rows(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows sorted by mean test macro-F1."""
    rows = [
        {
            "variant": s["variant"],
            "test_macro_f1": f"{s['test_macro_f1']['mean']:.4f} ± {s['test_macro_f1']['std']:.4f}",
            "test_accuracy": f"{s['test_accuracy']['mean']:.4f} ± {s['test_accuracy']['std']:.4f}",
            "n_parameters": s["n_parameters"],
            "seeds": len(s["runs"]),
            "_key": s["test_macro_f1"]["mean"],
        }
        for s in summaries
    ]
    return sorted(rows, key=lambda r: -r["_key"])
