"""What several studies share: a zoo variant's configs, a classifier trained once per seed (each seed's run
resumable, logged to MLflow) and the summary over seeds of its rows."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rnnlab.config import ModelConfig, TrainerConfig, Variant
from rnnlab.params import from_dict
from rnnlab.training.loop import TrainResult
from rnnlab.training.resume import RunState, StageState
from rnnlab.training.tracking import Tracker, mlflow_run

TrainSeed = Callable[[int, Tracker, RunState], tuple[Any, TrainResult, Mapping[str, Any]]]  # model, result, test


def variant_configs(base: ModelConfig, trainer: TrainerConfig, variant: Variant,
                    where: str) -> tuple[ModelConfig, TrainerConfig]:
    """The zoo's base model and trainer with one variant's overrides, validated like any params section."""
    model = from_dict(ModelConfig, {**dataclasses.asdict(base), **variant.model}, f"{where}.model")
    return model, from_dict(TrainerConfig, {**dataclasses.asdict(trainer), **variant.trainer}, f"{where}.trainer")


def seed_row(seed: int, best: Mapping[str, float], best_epoch: int, test: Mapping[str, Any]) -> dict[str, Any]:
    """One seed's line of a summary (`summary`)."""
    return {"seed": seed, "best_epoch": best_epoch, "val_macro_f1": best["val_macro_f1"],
            "test_macro_f1": test["macro_f1"], "test_accuracy": test["accuracy"]}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over the seeds' test macro-F1 (and accuracy), with each seed's row."""
    f1 = [r["test_macro_f1"] for r in runs]
    accuracy = [r["test_accuracy"] for r in runs]
    spread = statistics.stdev if len(runs) > 1 else (lambda _: 0.0)
    return {"test_macro_f1_mean": statistics.fmean(f1), "test_macro_f1_std": spread(f1),
            "test_accuracy_mean": statistics.fmean(accuracy), "seeds": runs}


def every_seed(seeds: Iterable[int], train_seed: TrainSeed, state: StageState, stage: str, step: str,
               params: Mapping[str, Any], env: Mapping[str, str], experiment: str = "rnnlab-pretraining",
               tags: Mapping[str, str] | None = None, run: str = "{step}-seed{seed}", key: str = "seed_{seed}",
               record: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Train (or take from an interrupted attempt's state) one classifier per seed: its summary rows (`seed_row`)
    and its run records (ids, timings). Each seed's run is MLflow run `run` of `experiment` (formatted with `step`
    and `seed`), tagged `tags` (default: `ablation.step`), logging `params` and the test scores; its resumable state
    is the stage state's `key`; `record` is added to each run record."""
    rows, records = [], []
    for seed in seeds:
        state_run = state.run(key.format(step=step, seed=seed))
        if state_run.result is None:  # else finished by an earlier, interrupted attempt
            with mlflow_run(run.format(step=step, seed=seed), env, stage=stage, experiment=experiment,
                            run_id=state_run.run_id) as tracker:
                tracker.set_tags({"ablation.step": step} if tags is None else tags)
                tracker.log_params({"seed": seed, **params})
                _, result, test = train_seed(seed, tracker, state_run)
                tracker.log_metrics({"test_macro_f1": test["macro_f1"], "test_accuracy": test["accuracy"]})
            state_run.finish(tracker.run_id, {"row": seed_row(seed, result.best, result.best_position, test),
                                              "timings": result.timings})
        rows.append(state_run.result["row"])
        records.append({**(record or {}), "seed": seed, "run_id": state_run.run_id,
                        "timings": state_run.result["timings"]})
        print(f"{step} seed {seed}: test macro-F1 {rows[-1]['test_macro_f1']:.4f}")
    return rows, records
