"""Experiment tracking: an MLflow tracker for runs, an in-memory one for tests.

Only this module imports mlflow.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rnnlab.process import is_dead, process_id

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
EXPERIMENT = "rnnlab-sentiment"
PROCESS_TAG = "rnnlab.process"  # host:pid:start of the process that holds the run open
RUNS_VIEW = "rnnlab"  # `#/experiments/<id>/runs?viewStateShareKey=rnnlab` opens the runs table on this view
_COLUMNS = ["attributes.`Run Name`", "metrics.`test_macro_f1`", "metrics.`test_accuracy`", "metrics.`val_macro_f1`"]
EXPERIMENT_TAGS = {
    # MLflow 3's UI opens an experiment of this kind on its runs, not on the GenAI traces overview
    "mlflow.experimentKind": "custom_model_development",
    # the UI's own shared-view mechanism: the runs with their test metrics, best first
    f"mlflow.sharedViewState.{RUNS_VIEW}": json.dumps(
        {"selectedColumns": _COLUMNS, "orderByKey": "metrics.`test_macro_f1`", "orderByAsc": False}),
}


class Tracker(Protocol):
    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...
    def set_tags(self, tags: Mapping[str, str]) -> None: ...
    def log_artifact(self, path: str | Path, folder: str | None = None) -> None: ...


@dataclass
class MemoryTracker:
    """Records everything in lists and dicts; what tests pass to the training loop."""

    params: dict[str, Any] = field(default_factory=dict)
    metrics: list[tuple[int | None, dict[str, float]]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[tuple[str, str | None]] = field(default_factory=list)
    run_id: str = "in-memory"

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.params.update(params)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.metrics.append((step, dict(metrics)))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.tags.update(tags)

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self.artifacts.append((str(path), folder))


class MlflowTracker:
    """Logs to the active MLflow run; one batched call per epoch (sqlite costs ~16 ms a call)."""

    def __init__(self, mlflow_module: Any, run_id: str) -> None:
        self._mlflow = mlflow_module
        self.run_id = run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._mlflow.set_tags(dict(tags))

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self._mlflow.log_artifact(str(path), artifact_path=folder)


def tracking_uri(env: Mapping[str, str], cwd: Path | None = None) -> str:
    """MLFLOW_TRACKING_URI, else mlflow.db at the repository root.

    `dvc exp run --queue` runs each experiment in a copy of the repository under .dvc/tmp/exps/:
    its runs belong in the repository's own store, so that the MLflow UI shows the whole sweep.
    """
    if env.get("MLFLOW_TRACKING_URI"):
        return env["MLFLOW_TRACKING_URI"]
    parts = (cwd or Path.cwd()).resolve().parts
    for i in range(1, len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return f"sqlite:///{Path(*parts[:i]) / 'mlflow.db'}"
    return DEFAULT_TRACKING_URI


@contextlib.contextmanager
def mlflow_run(
    run_name: str, env: Mapping[str, str], stage: str = "", experiment: str = EXPERIMENT, run_id: str | None = None
) -> Iterator[MlflowTracker]:
    """Open (or, with `run_id`, resume) an MLflow run, tagged with git and DVC context from `env`.

    The run ends FINISHED, FAILED on an exception, or KILLED on SIGINT/SIGTERM (KeyboardInterrupt).
    Runs of the experiment left RUNNING by a process that no longer lives are marked KILLED first.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(env))
    with _first_use_lock(tracking_uri(env)):
        client, experiment_id = mlflow.MlflowClient(), mlflow.set_experiment(experiment).experiment_id
        tags = client.get_experiment(experiment_id).tags
        for key, value in EXPERIMENT_TAGS.items():
            if tags.get(key) != value:
                client.set_experiment_tag(experiment_id, key, value)
    sweep_dead_runs(client, experiment_id)
    if run_id is not None and not run_exists(run_id, env):
        print(f"run {run_id} is not in {tracking_uri(env)} (saved while logging elsewhere): logging to a new run",
              file=sys.stderr)
        run_id = None
    # by id: when another process created the experiment first, set_experiment returns it without making it active
    run = mlflow.start_run(run_id=run_id, experiment_id=experiment_id, run_name=None if run_id else run_name)
    status = "FAILED"
    try:
        tracker = MlflowTracker(mlflow, run.info.run_id)
        tags = {PROCESS_TAG: process_id()}
        if run_id is None:
            tags |= {**context_tags(env), **({"dvc.stage": stage} if stage else {})}
        tracker.set_tags(tags)
        yield tracker
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        mlflow.end_run(status)


class ChildRuns:
    """Runs nested under `parent` (a search's trials), created and ended by the process that holds the parent.

    They carry this process's tag, so a killed search leaves none RUNNING: the next sweep marks them KILLED.
    """

    def __init__(self, parent: MlflowTracker) -> None:
        self._client = parent._mlflow.MlflowClient()
        self._parent = self._client.get_run(parent.run_id)

    def start(self, name: str, params: Mapping[str, Any]) -> str:
        """A new child run with `params`; its id."""
        from mlflow.entities import Param

        tags = {"mlflow.parentRunId": self._parent.info.run_id, PROCESS_TAG: process_id(),
                **{k: v for k, v in self._parent.data.tags.items() if k in ("git.commit", "git.dirty", "dvc.stage")}}
        run = self._client.create_run(self._parent.info.experiment_id, run_name=name, tags=tags)
        self._client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        return run.info.run_id

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int | None = None) -> None:
        """One batched call for a round's metrics."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._client.log_batch(run_id, metrics=[Metric(k, float(v), now, step or 0) for k, v in metrics.items()])

    def tracker(self, run_id: str) -> ChildTracker:
        """A `Tracker` writing to child run `run_id`, for the training loop."""
        return ChildTracker(self, run_id)

    def end(self, run_id: str, status: str, tags: Mapping[str, str] | None = None) -> None:
        for key, value in (tags or {}).items():
            self._client.set_tag(run_id, key, value)
        self._client.set_terminated(run_id, status)


@dataclass
class ChildTracker:
    """A child run as the training loop's tracker."""

    runs: ChildRuns
    run_id: str

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        self.runs._client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.runs.log_metrics(self.run_id, metrics, step)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.runs._client.set_tag(self.run_id, key, value)

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self.runs._client.log_artifact(self.run_id, str(path), folder)


def runs_view_url(base_url: str, uri: str, experiment: str = EXPERIMENT) -> str:
    """Where the UI at `base_url` shows `experiment`'s runs with their test metrics (its front page before
    the experiment exists)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    found = mlflow.MlflowClient(uri).get_experiment_by_name(experiment)
    if found is None:
        return base_url
    return f"{base_url}/#/experiments/{found.experiment_id}/runs?viewStateShareKey={RUNS_VIEW}"


@contextlib.contextmanager
def _first_use_lock(uri: str) -> Iterator[None]:
    """For a sqlite store, hold an flock on its folder while this process opens it and creates the experiment.

    Processes that open a new sqlite file together all create its schema (alembic migrations racing: 8 of
    8 fail in benchmarks/bench_tracking.py) or the same experiment; one at a time, the first creates and
    the others find. Servers handle this themselves.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    folder = os.open(Path(uri.removeprefix("sqlite:///")).resolve().parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the lock


def run_exists(run_id: str, env: Mapping[str, str]) -> bool:
    """Whether the tracking store holds run `run_id` (a run record from another store names one it does not)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        MlflowClient(tracking_uri=tracking_uri(env)).get_run(run_id)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


@contextlib.contextmanager
def annotate_run(run_id: str, env: Mapping[str, str]) -> Iterator[MlflowTracker]:
    """Add to a finished run (test scores, a logged model) and leave its status and duration as they were."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri(env))
    info = client.get_run(run_id).info
    experiment = client.get_experiment(info.experiment_id).name
    with mlflow_run("", env, experiment=experiment, run_id=run_id) as tracker:
        yield tracker
    client.set_terminated(run_id, status=info.status, end_time=info.end_time)


def sweep_dead_runs(client: Any, experiment_id: str) -> list[str]:
    """Mark KILLED the experiment's RUNNING runs whose process (tag `rnnlab.process`) has died; their ids."""
    swept = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'"):
        process = run.data.tags.get(PROCESS_TAG)
        if process and is_dead(process):
            client.set_terminated(run.info.run_id, status="KILLED")
            swept.append(run.info.run_id)
    return swept


def context_tags(env: Mapping[str, str]) -> dict[str, str]:
    """Git commit and dirtiness, and the DVC experiment name when DVC set it."""
    tags = {}
    commit = _git("rev-parse", "HEAD")
    if commit:
        tags["git.commit"] = commit
        tags["git.dirty"] = str(bool(_git("status", "--porcelain", "--untracked-files=no")))
    if env.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = env["DVC_EXP_NAME"]
    return tags


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def log_pyfunc_model(
    run_id: str, env: Mapping[str, str], registered_name: str, input_example: Any, output_example: Any,
    **pyfunc_args: Any,
) -> int:
    """Log a pyfunc model in run `run_id` with a signature inferred from the examples; register it.

    `pyfunc_args` go to `mlflow.pyfunc.log_model` (loader_module, data_path, code_paths, pip_requirements).
    Returns the new registered version.
    """
    # a training run logged to another store (a teammate's, before a `dvc pull`): the model gets a run of its own
    context = annotate_run(run_id, env) if run_exists(run_id, env) else mlflow_run(registered_name, env, "register")
    with context:
        import mlflow
        from mlflow.models import infer_signature

        info = mlflow.pyfunc.log_model(
            name="model", registered_model_name=registered_name, input_example=input_example,
            signature=infer_signature(input_example, output_example), **pyfunc_args,
        )
    return int(info.registered_model_version)


def set_model_alias(name: str, alias: str, version: int | None, env: Mapping[str, str]) -> None:
    """Point `alias` of registered model `name` at `version`; `None` removes the alias if set."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri(env))
    if version is not None:
        client.set_registered_model_alias(name, alias, str(version))
    elif alias in client.get_registered_model(name).aliases:
        client.delete_registered_model_alias(name, alias)
