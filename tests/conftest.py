"""Shared test setup: one torch thread, MLflow pointed away from the repository's mlflow.db, and one Ray at a
time when `make test` spreads the modules over several pytest-xdist workers."""

import pytest
import torch
from filelock import FileLock

torch.set_num_threads(1)  # tests run on 2 cores beside other work


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path, monkeypatch):
    """Every test gets its own sqlite tracking store and lemma cache, so none writes to ./mlflow.db or ~/.cache."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("RNNLAB_CACHE_DIR", str(tmp_path / "cache"))  # no test reads or fills the user's lemma cache


@pytest.fixture(scope="module")
def ray_alone(tmp_path_factory):
    """Held by a module that starts Ray for as long as it runs: the xdist workers share one folder above their own
    temporary folders, and a lock there keeps a second Ray (and its CPU demand) out until this one has stopped."""
    with FileLock(tmp_path_factory.getbasetemp().parent / "ray.lock"):
        yield
