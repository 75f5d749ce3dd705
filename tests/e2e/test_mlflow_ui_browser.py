"""The MLflow UI as a person sees it: `make ui`'s server, the experiment page in headless Chromium.

The test writes its own sqlite store (runs named like the pipeline's, with test metrics), so it
works on a clean clone. The runs table shows the test metric columns through the view every rnnlab
experiment carries (the UI's own "share" mechanism: an experiment tag `mlflow.sharedViewState.rnnlab`
opened with `?viewStateShareKey=rnnlab`), at the address `rnnlab ui` prints. With
RNNLAB_UPDATE_SCREENSHOT set, its screenshot replaces reports/mlflow_ui.png (shown in the README).
"""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rnnlab.training.tracking import mlflow_run

from .browser import page_dom, table_rows
from .conftest import free_port

RUNS = {"rnn": 0.61, "lstm": 0.66, "gru": 0.65, "tfidf": 0.63}  # test_macro_f1 per pipeline run


def pipeline_store(tmp_path: Path) -> None:
    """Runs named like the pipeline's, with test metrics, logged as the pipeline logs them."""
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    for name, f1 in RUNS.items():
        with mlflow_run(name, env, stage=f"train@{name}") as tracker:
            tracker.log_params({"model": name})
            tracker.log_metrics({"test_macro_f1": f1, "test_accuracy": f1 + 0.1})


@pytest.fixture
def ui_server(tmp_path, monkeypatch):
    """`make ui`'s command on a free loopback port; yields the runs page's address it printed."""
    monkeypatch.chdir(tmp_path)  # the store's artifacts land in tmp_path/mlruns
    pipeline_store(tmp_path)
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = [str(Path(sys.executable).parent / "rnnlab"), "ui", "--backend-store-uri", store, "--port", str(port),
           "--pid-file", str(tmp_path / "ui.pid")]
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", server, tmp_path / "server.log")
        printed = re.search(r"MLflow UI: (\S+)", (tmp_path / "server.log").read_text())
        assert printed, (tmp_path / "server.log").read_text()[-2000:]
        yield printed.group(1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def wait_healthy(url: str, server: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow ui exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow ui did not answer {url} within {seconds} s:\n{log.read_text()[-2000:]}")


def test_experiment_page_shows_pipeline_runs_with_metric_columns(browser, ui_server, tmp_path):
    url = ui_server  # the experiment's runs on the view every rnnlab experiment carries
    dom = page_dom(browser, tmp_path, url, "mlflow_ui.png")
    assert "col-id=\"metrics.`test_macro_f1`\"" in dom and "col-id=\"metrics.`test_accuracy`\"" in dom
    rows = table_rows(dom)
    names = [next(t for t in row if t in RUNS) for row in rows]
    assert names == sorted(RUNS, key=RUNS.get, reverse=True)  # every run, sorted by test_macro_f1
    for name, row in zip(names, rows):
        assert f"{RUNS[name]:.2f}" in row and f"{RUNS[name] + 0.1:.2f}" in row
