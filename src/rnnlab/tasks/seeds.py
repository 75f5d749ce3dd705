"""One study classifier per seed: each seed's run resumable, logged to MLflow, summarised as `tasks.ulmfit.summary`
rows. The ablation's single-change stages (ulmfit_rates, ...) differ only in how one seed trains."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rnnlab.tasks.ablation import seed_row
from rnnlab.training.loop import TrainResult
from rnnlab.training.resume import RunState, StageState
from rnnlab.training.tracking import Tracker, mlflow_run

TrainSeed = Callable[[int, Tracker, RunState], tuple[Any, TrainResult, Mapping[str, Any]]]  # model, result, test


def every_seed(seeds: Iterable[int], train_seed: TrainSeed, state: StageState, stage: str, step: str,
               params: Mapping[str, Any], env: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Train (or take from an interrupted attempt's state) one classifier per seed in MLflow experiment
    rnnlab-pretraining, tagged `ablation.step`; its summary rows and its run records (ids, timings)."""
    rows, records = [], []
    for seed in seeds:
        run = state.run(f"seed_{seed}")
        if run.result is None:  # else finished by an earlier, interrupted attempt
            with mlflow_run(f"{step}-seed{seed}", env, stage=stage, experiment="rnnlab-pretraining",
                            run_id=run.run_id) as tracker:
                tracker.set_tags({"ablation.step": step})
                tracker.log_params({"seed": seed, **params})
                _, result, test = train_seed(seed, tracker, run)
                tracker.log_metrics({"test_macro_f1": test["macro_f1"], "test_accuracy": test["accuracy"]})
            run.finish(tracker.run_id, {"row": seed_row(seed, result.best, result.best_position, test),
                                        "timings": result.timings})
        rows.append(run.result["row"])
        records.append({"seed": seed, "run_id": run.run_id, "timings": run.result["timings"]})
        print(f"seed {seed}: test macro-F1 {rows[-1]['test_macro_f1']:.4f}")
    return rows, records
