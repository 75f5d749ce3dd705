"""Classifiers as MLflow pyfunc models: raw texts in, label and probabilities out.

MLflow loads a logged model through `_load_pyfunc` (pyfunc's "loader module" contract), so the
wrapper needs no mlflow import; logging, registering and aliases live in `rnnlab.training.tracking`.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

import rnnlab
from rnnlab.serving.predict import Predictor, load_predictor
from rnnlab.training import tracking

TEXT = "text"  # the input column
CHAMPION = "champion"  # alias of the best model's version, by validation macro-F1
EXAMPLE_TEXTS = ["Какой прекрасный день!", "Ужасное обслуживание", "", "hello world"]
# What the pyfunc model imports; versions pinned from this environment (local tags such as +cpu dropped).
REQUIREMENTS = ("mlflow", "torch", "numpy", "pandas", "nltk", "pymorphy3", "pymorphy3-dicts-ru")


def registered_name(model: str) -> str:
    """The Model Registry name of one architecture."""
    return f"rnnlab-sentiment-{model}"


class PyfuncClassifier:
    """What `mlflow.pyfunc.load_model` wraps: a Predictor behind pyfunc's `predict`."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Label and `p_<class>` columns, one row per input text."""
        return self.predictor.table(input_texts(model_input))


def input_texts(model_input: Any) -> list[str]:
    """Texts from a DataFrame's `text` column (or its only column), a Series, a list or one string."""
    if isinstance(model_input, pd.DataFrame):
        column = TEXT if TEXT in model_input.columns else model_input.columns[0]
        model_input = model_input[column]
    if isinstance(model_input, str):
        model_input = [model_input]
    return ["" if t is None or t != t else str(t) for t in model_input]  # None and NaN read as empty text


def _load_pyfunc(data_path: str) -> PyfuncClassifier:
    """MLflow's entry point: `data_path` is the checkpoint file logged with the model."""
    return PyfuncClassifier(load_predictor(Path(data_path)))


def pip_requirements() -> list[str]:
    """Pinned requirements of the logged model, so MLflow does not infer them (slow)."""
    return [f"{name}=={version(name).split('+')[0]}" for name in REQUIREMENTS]


def log_classifier(predictor: Predictor, checkpoint: Path, model: str, run_id: str, env: Mapping[str, str]) -> int:
    """Log a checkpoint as a pyfunc model in its training run and register it; returns the new version."""
    example = pd.DataFrame({TEXT: EXAMPLE_TEXTS})
    output = PyfuncClassifier(predictor).predict(example)
    return tracking.log_pyfunc_model(
        run_id, env, data_path=checkpoint, loader_module=__name__,
        code_paths=[str(Path(rnnlab.__file__).parent)], input_example=example, output_example=output,
        pip_requirements=pip_requirements(), registered_name=registered_name(model),
    )


def register_classifiers(
    checkpoints: Mapping[str, Path], run_ids: Mapping[str, str], test_metrics: Mapping[str, Any],
    env: Mapping[str, str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Log and register every checkpoint in its training run, then alias the best validation macro-F1 as champion.

    Returns the registry (models, scores, the champion's URI: the same on every rerun) and the versions
    and run ids this run created, which a rerun changes.
    """
    models, versions = {}, {}
    for model, path in checkpoints.items():
        predictor = load_predictor(path)
        versions[model] = {"version": log_classifier(predictor, path, model, run_ids[model], env),
                           "run_id": run_ids[model]}
        models[model] = {"registered_model": registered_name(model), "val_macro_f1": predictor.val_macro_f1,
                         "test_macro_f1": test_metrics.get(model, {}).get("macro_f1")}
    best = max(models, key=lambda m: models[m]["val_macro_f1"])
    for model, entry in models.items():
        tracking.set_model_alias(entry["registered_model"], CHAMPION,
                                 versions[model]["version"] if model == best else None, env)
    registry = {CHAMPION: {"model": best, "uri": f"models:/{registered_name(best)}@{CHAMPION}"}, "models": models}
    return registry, versions

