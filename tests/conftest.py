"""Shared test setup: one torch thread, MLflow pointed away from the repository's mlflow.db, and one Ray at a
time when `make test` spreads the modules over several pytest-xdist workers."""

import subprocess
from pathlib import Path

import pytest
import torch
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
# what running the suite may leave in the checkout: the environment, caches, and DVC's own state of `dvc status`
ALLOWED = (".venv/", ".pytest_cache/", "src/rnnlab.egg-info/", ".dvc/tmp/", "__pycache__/")

torch.set_num_threads(1)  # tests run on 2 cores beside other work


def checkout_state() -> set[str]:
    """`git status` of the checkout, ignored files included, less what the suite may leave (ALLOWED)."""
    done = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return {line for line in done.stdout.splitlines() if not any(part in line for part in ALLOWED)}


@pytest.fixture(scope="session", autouse=True)
def _checkout_untouched():
    """The suite writes into temporary folders only: a test that leaves a file in the checkout (an mlruns/, a
    report, a state folder) fails the run here, naming it."""
    before = checkout_state()
    yield
    left = sorted(checkout_state() - before)
    assert not left, f"tests left these in the checkout: {left}"


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
