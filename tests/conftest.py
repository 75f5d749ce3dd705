"""Shared test setup: one torch thread, and MLflow pointed away from the repository's mlflow.db."""

import pytest
import torch

torch.set_num_threads(1)  # tests run on 2 cores beside other work


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path, monkeypatch):
    """Every test gets its own sqlite tracking store and lemma cache, so none writes to ./mlflow.db or ~/.cache."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("RNNLAB_CACHE_DIR", str(tmp_path / "cache"))  # no test reads or fills the user's lemma cache
