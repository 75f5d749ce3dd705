"""The hyperparameter search: Ray Tune runs the trials, Optuna's TPE proposes them, ASHA stops poor ones early.

A trial is the main model's config (`train.<model>` and `trainer`) with the searched keys replaced,
trained by the one loop, reporting its validation scores to Tune after every epoch. Only validation
decides: test is scored once, for the chosen configuration, by the stage.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import torch

from rnnlab.cluster import Resources
from rnnlab.config import ModelConfig, TrainerConfig, Variant
from rnnlab.params import ConfigError, PositiveInt, Range
from rnnlab.studies.shared import variant_configs
from rnnlab.text.batching import EncodedSplit
from rnnlab.training.classification import train_classifier
from rnnlab.training.tracking import ChildRuns


@dataclass(frozen=True)
class TuneConfig:
    """A search over the main model's hyperparameters: Optuna's TPE proposes, ASHA stops poor trials early."""

    model: str  # the `train` entry (with the `trainer` section) the search starts from
    trials: PositiveInt
    time_budget_s: PositiveInt  # no trial starts after this many seconds
    max_concurrent: PositiveInt  # 1: one trial after another, the same trials on every run
    grace_period: PositiveInt  # ASHA: epochs a trial trains before it may be stopped
    reduction_factor: Annotated[int, Range(low=2)]  # ASHA: 1 in this many trials goes on at each rung
    space: dict[str, dict[str, tuple[Any, ...]]]  # params key -> {choice: [...]} | {uniform|loguniform: [low, high]}

METRIC = "val_macro_f1"
REPORTED = ("train_loss", "val_loss", "val_accuracy", "val_macro_f1", "seconds", "sequences_per_second")


def split_trial(config: Mapping[str, Any], model: ModelConfig) -> Variant:
    """A trial's values as overrides of the model (its keys) and of the trainer (the rest)."""
    model_keys = {f.name for f in dataclasses.fields(model)}
    return Variant(model={k: v for k, v in config.items() if k in model_keys},
                   trainer={k: v for k, v in config.items() if k not in model_keys})


def search_space(space: Mapping[str, Mapping[str, Any]], model: ModelConfig, trainer: TrainerConfig,
                 where: str) -> dict[str, Any]:
    """Ray Tune's distributions for `space`; every key and every value it can take checked like params."""
    from ray import tune

    known = {f.name for f in dataclasses.fields(model)} | {f.name for f in dataclasses.fields(trainer)}
    out = {}
    for key, spec in space.items():
        at = f"{where}.space.{key}"
        if key not in known:
            raise ConfigError(f"{at}: not a key of the model or the trainer (known: {', '.join(sorted(known))})")
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise ConfigError(f"{at}: expected one of {{choice: [...]}}, {{uniform: [low, high]}}, "
                              f"{{loguniform: [low, high]}}, got {spec!r}")
        (kind, values), = spec.items()
        if kind == "choice" and isinstance(values, list | tuple) and values:
            out[key], candidates = tune.choice(list(values)), values
        elif kind in ("uniform", "loguniform") and _bounds(values, positive=kind == "loguniform"):
            out[key], candidates = getattr(tune, kind)(*values), values
        else:
            raise ConfigError(f"{at}: {kind}: expected a non-empty list for choice, [low, high] with low < high "
                              f"(low > 0 for loguniform) otherwise; got {values!r}")
        for value in candidates:  # a value the model or trainer would reject fails now, not in trial 7
            variant_configs(model, trainer, split_trial({key: value}, model), at)
    return out


def _bounds(values: Any, positive: bool) -> bool:
    return (isinstance(values, list | tuple) and len(values) == 2 and all(isinstance(v, int | float) for v in values)
            and values[0] < values[1] and (values[0] > 0 or not positive))


class TuneReporter:
    """The tracker a trial trains with: every epoch's scores go to Ray Tune (which logs them to MLflow)."""

    run_id = "tune-trial"

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass  # the trial's config reaches MLflow through TrialRuns

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from ray import tune

        if step is not None:  # an epoch's scores (embedding coverage and the like come without a step)
            tune.report({k: float(v) for k, v in metrics.items()} | {"epoch": step})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        pass

    def log_artifact(self, path: Any, folder: str | None = None) -> None:
        pass


def run_trial(config: dict[str, Any], model: ModelConfig, trainer: TrainerConfig, splits: dict[str, EncodedSplit],
              itos: list[str], n_classes: int, seed: int) -> None:
    """Ray Tune's function trainable: one configuration, trained with the search's seed."""
    model_cfg, trainer_cfg = variant_configs(model, trainer, split_trial(config, model), "tune trial")
    torch.set_num_threads(trainer_cfg.num_threads)
    train_classifier(model_cfg, trainer_cfg, itos, splits, n_classes, TuneReporter(), seed)


def trial_callback(children: ChildRuns, trainer: TrainerConfig) -> Any:
    """A Ray Tune callback that keeps one MLflow run per trial, nested under the search's run, tagged with how
    the trial ended."""
    from ray.tune import Callback

    class TrialRuns(Callback):
        def __init__(self) -> None:
            self.runs: dict[str, str] = {}
            self.history: dict[str, list[dict[str, float]]] = {}

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self.runs[trial.trial_id] = children.start(f"trial {len(self.runs) + 1}", trial.config)
            self.history[trial.trial_id] = []

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            metrics = {k: result[k] for k in REPORTED if isinstance(result.get(k), int | float)}
            children.log_metrics(self.runs[trial.trial_id], metrics, int(result["epoch"]))
            self.history[trial.trial_id].append({"epoch": int(result["epoch"]), METRIC: result[METRIC]})

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            history = self.history[trial.trial_id]
            tags = {"tune.epochs_run": str(len(history)), "tune.ended": how_ended(history, trial.config, trainer)}
            children.end(self.runs[trial.trial_id], "FINISHED", tags)

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            children.end(self.runs[trial.trial_id], "FAILED")

    return TrialRuns()


def how_ended(history: list[dict[str, float]], config: Mapping[str, Any], trainer: TrainerConfig,
              error: str | None = None) -> str:
    """How a trial ended, from its per-epoch history: all its epochs, the loop's own patience (the epochs since
    the best one reached `patience`, as the loop stops), or else ASHA (Ray Tune marks the last result of a
    stopped trial done, like a finished one's, so that flag cannot tell)."""
    if error:
        return "failed"
    epochs, patience = config.get("epochs", trainer.epochs), config.get("patience", trainer.patience)
    if len(history) >= epochs:
        return "completed"
    if history and len(history) - int(max(history, key=lambda h: h[METRIC])["epoch"]) >= patience:
        return "stopped by patience"
    return "stopped by ASHA"


def trial_rows(results: list[tuple[dict[str, Any], list[dict[str, float]], str | None]],
               trainer: TrainerConfig) -> list[dict[str, Any]]:
    """One row per trial (its config, per-epoch history, error): its best epoch's validation score and how it
    ended."""
    rows = []
    for number, (config, history, error) in enumerate(results, 1):
        best = max(history, key=lambda h: h[METRIC]) if history else None
        rows.append({"trial": number, **config, "epochs_run": len(history),
                     "ended": how_ended(history, config, trainer, error),
                     METRIC: best[METRIC] if best else math.nan, "best_epoch": int(best["epoch"]) if best else 0})
    return rows


def start_position(result: Any, started: list[str]) -> int:
    """Where a trial's result goes in the table: the order the trials started in, as their MLflow runs are named
    (Ray's trial ids are random, so sorting by them is not). A trial that failed before reporting is found by
    its id in its folder's name."""
    trial_id = result.metrics.get("trial_id") or next((t for t in started if t in str(result.path)), None)
    return started.index(trial_id) if trial_id in started else len(started)


def search(cfg: TuneConfig, model: ModelConfig, trainer: TrainerConfig, splits: dict[str, EncodedSplit],
           itos: list[str], n_classes: int, seed: int, children: ChildRuns, resources: Resources,
           storage: str) -> list[dict[str, Any]]:
    """Run the search on the connected Ray; a row per trial, numbered in the order the trials started."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    space = search_space(cfg.space, model, trainer, "tune")
    runs = trial_callback(children, trainer)
    max_epochs = max([trainer.epochs, *cfg.space.get("epochs", {}).get("choice", [])])
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, model=model, trainer=trainer, splits=splits, itos=itos, n_classes=n_classes,
                             seed=seed),
        {"cpu": resources.cpus, "gpu": resources.gpus})
    tuner = tune.Tuner(trainable, param_space=space, tune_config=tune.TuneConfig(
        metric=METRIC, mode="max", num_samples=cfg.trials, max_concurrent_trials=cfg.max_concurrent,
        time_budget_s=cfg.time_budget_s, search_alg=OptunaSearch(seed=seed),
        scheduler=ASHAScheduler(time_attr="epoch", max_t=max_epochs, grace_period=cfg.grace_period,
                                reduction_factor=cfg.reduction_factor)),
        run_config=tune.RunConfig(name="tune", storage_path=storage, callbacks=[runs], verbose=0))
    grid = tuner.fit()
    results = sorted((grid[i] for i in range(len(grid))), key=lambda r: start_position(r, list(runs.runs)))
    return trial_rows([
        ({k: r.config[k] for k in cfg.space},
         [] if r.metrics_dataframe is None else r.metrics_dataframe[["epoch", *REPORTED]].to_dict("records"),
         None if r.error is None else str(r.error))
        for r in results], trainer)


def report_text(cfg: TuneConfig, rows: list[dict[str, Any]], chosen: dict[str, Any], scores: Mapping[str, float],
                fragment: Mapping[str, Any], reference: Mapping[str, Mapping[str, float]], figure: str) -> str:
    """reports/tune.md: the trials, the chosen configuration against today's models, and how to apply it."""
    from rnnlab.training.reports import markdown_table

    keys = list(cfg.space)
    table = markdown_table([{**r, METRIC: f"{r[METRIC]:.4f}"} for r in rows],
                           ["trial", *keys, "epochs_run", "best_epoch", METRIC, "ended"])
    compared = markdown_table(
        [{"model": f"tuned {cfg.model} (trial {chosen['trial']}, retrained)",
          "val_macro_f1": f"{scores['val_macro_f1']:.4f}", "test_macro_f1": f"{scores['test_macro_f1']:.4f}"}]
        + [{"model": f"train@{name} today", "val_macro_f1": f"{r['val_macro_f1']:.4f}",
            "test_macro_f1": f"{r['test_macro_f1']:.4f}"} for name, r in reference.items()],
        ["model", "val_macro_f1", "test_macro_f1"])
    settings = ["-S '" + f"{section}.{cfg.model}.{k}={v}'" if section == "train" else f"-S 'trainer.{k}={v}'"
                for section, values in fragment.items() for k, v in (values[cfg.model] if section == "train"
                                                                      else values).items()]
    return (
        f"# Hyperparameter search: train@{cfg.model}\n\n"
        f"{len(rows)} trials (Ray Tune; Optuna TPE proposes, ASHA stops trials "
        f"whose validation macro-F1 trails after {cfg.grace_period} epoch(s), keeping 1 in {cfg.reduction_factor} "
        f"at each rung; {cfg.max_concurrent} trial(s) at a time). Trials are scored on validation only; the chosen "
        "configuration was retrained with the same seed and scored on test once.\n\n"
        f"![validation macro-F1 by trial]({figure})\n\n{compared}\n\n## Trials\n\n{table}\n\n"
        "## The chosen configuration\n\nAs a `params.yaml` fragment (also in `reports/tune/best.yaml`):\n\n"
        f"```yaml\n{fragment_yaml(fragment)}```\n\nApplied and run in one command (the `trainer` keys apply to every "
        f"model of the `train` section):\n\n```\ndvc exp run {' '.join(settings)}\n```\n"
    )


def fragment_yaml(fragment: Mapping[str, Any]) -> str:
    """The chosen configuration as text to paste into params.yaml."""
    import yaml

    return yaml.safe_dump(dict(fragment), sort_keys=False)
