"""Moving in: copy the runs of one MLflow store (a person's mlflow.db) into another (the team's server).

Each run keeps its name, params, tags, every metric's full history (values, steps, timestamps),
its artifacts, status and start and end times; the copy is tagged with the id it came from, so a
second migration skips what the first one copied.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

FROM_TAG = "rnnlab.migrated_from"  # the run id in the source store
BATCH = 1000  # MLflow's log_batch takes at most 1000 metrics and 100 params per call


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _all_runs(client: Any, experiment_id: str) -> list[Any]:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs


def copy_run(source: Any, target: Any, run: Any, experiment_id: str) -> str:
    """Copy one run into `experiment_id` of the target store; the new run's id."""
    from mlflow.entities import Metric, Param

    info, data = run.info, run.data
    new = target.create_run(experiment_id, start_time=info.start_time, run_name=info.run_name,
                            tags={**data.tags, FROM_TAG: info.run_id}).info.run_id
    for chunk in _chunks([Param(k, v) for k, v in data.params.items()], 100):
        target.log_batch(new, params=chunk)
    metrics = [Metric(m.key, m.value, m.timestamp, m.step)
               for key in data.metrics for m in source.get_metric_history(info.run_id, key)]
    for chunk in _chunks(metrics, BATCH):
        target.log_batch(new, metrics=chunk)
    with tempfile.TemporaryDirectory() as tmp:
        if source.list_artifacts(info.run_id):
            local = source.download_artifacts(info.run_id, "", tmp)
            target.log_artifacts(new, local)
    target.set_terminated(new, status=info.status, end_time=info.end_time)
    return new


def migrate(source_uri: str, target_uri: str) -> dict[str, int]:
    """Copy every run of every experiment from `source_uri` to `target_uri`; runs copied per experiment."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient

    source, target = MlflowClient(tracking_uri=source_uri), MlflowClient(tracking_uri=target_uri)
    copied = {}
    for experiment in source.search_experiments():
        found = target.get_experiment_by_name(experiment.name)
        experiment_id = found.experiment_id if found else target.create_experiment(experiment.name, tags=experiment.tags)
        done = {r.data.tags.get(FROM_TAG) for r in _all_runs(target, experiment_id)}
        runs = [run for run in _all_runs(source, experiment.experiment_id) if run.info.run_id not in done]
        for run in sorted(runs, key=lambda r: r.info.start_time):
            copy_run(source, target, run, experiment_id)
        copied[experiment.name] = len(runs)
    return copied
