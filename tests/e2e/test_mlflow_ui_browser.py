"""The MLflow UI as a person sees it: `make ui`'s server, the experiment page in headless Chromium.

The test writes its own sqlite store (runs named like the pipeline's, with test metrics), so it
works on a clean clone. The runs table shows the metric columns through a shared view, the UI's
own "share" mechanism: an experiment tag `mlflow.sharedViewState.<key>` opened with
`?viewStateShareKey=<key>`. The screenshot goes to reports/mlflow_ui.png (shown in the README).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rnnlab.training.tracking import EXPERIMENT, mlflow_run

ROOT = Path(__file__).resolve().parents[2]
RUNS = {"rnn": 0.61, "lstm": 0.66, "gru": 0.65, "tfidf": 0.63}  # test_macro_f1 per pipeline run
VIEW_KEY = "pipeline"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,900", "--virtual-time-budget=15000"]


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def browser() -> str:
    path = find_browser()
    if path is None:  # `make test` installs it (`make browser`); a test installs nothing
        message = "headless Chromium is missing: `make browser` (or `apt-get install -y chromium`) installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def pipeline_store(tmp_path: Path) -> str:
    """Runs named like the pipeline's with test metrics, and a shared view showing the metric columns."""
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    for name, f1 in RUNS.items():
        with mlflow_run(name, env, stage=f"train@{name}") as tracker:
            tracker.log_params({"model": name})
            tracker.log_metrics({"test_macro_f1": f1, "test_accuracy": f1 + 0.1})
    import mlflow

    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    columns = ["attributes.`Run Name`", "metrics.`test_macro_f1`", "metrics.`test_accuracy`", "params.`model`"]
    view = {"selectedColumns": columns, "orderByKey": "metrics.`test_macro_f1`", "orderByAsc": False}
    client.set_experiment_tag(experiment_id, f"mlflow.sharedViewState.{VIEW_KEY}", json.dumps(view))
    return experiment_id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ui_server(tmp_path, monkeypatch):
    """`make ui`'s command on a free loopback port; yields (base URL, experiment id)."""
    monkeypatch.chdir(tmp_path)  # the store's artifacts land in tmp_path/mlruns
    experiment_id = pipeline_store(tmp_path)
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = [str(Path(sys.executable).parent / "rnnlab"), "ui", "--backend-store-uri", store, "--port", str(port),
           "--pid-file", str(tmp_path / "ui.pid")]
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", server, tmp_path / "server.log")
        yield f"http://127.0.0.1:{port}", experiment_id
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


def run_browser(browser: str, profile: Path, *args: str) -> str:
    profile.mkdir()
    done = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class RowText(HTMLParser):
    """Text of each runs-table row, keyed by AG Grid's row-index (pinned and scrolled parts joined)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self._stack: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        row = attrs.get("row-index") if attrs.get("role") == "row" else None
        self._stack.append(row if row is not None else (self._stack[-1] if self._stack else None))

    def handle_endtag(self, tag):
        if self._stack:
            self._stack.pop()

    def handle_data(self, data):
        if self._stack and self._stack[-1] is not None and data.strip():
            self.rows.setdefault(self._stack[-1], []).append(data.strip())


def table_rows(dom: str) -> list[list[str]]:
    parser = RowText()
    parser.feed(dom)
    return [parser.rows[k] for k in sorted(parser.rows, key=int)]


def test_experiment_page_shows_pipeline_runs_with_metric_columns(browser, ui_server, tmp_path):
    base, experiment_id = ui_server
    url = f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"
    dom = run_browser(browser, tmp_path / "profile-dom", "--dump-dom", url)
    shot = tmp_path / "mlflow_ui.png"
    run_browser(browser, tmp_path / "profile-shot", f"--screenshot={shot}", url)

    assert "col-id=\"metrics.`test_macro_f1`\"" in dom and "col-id=\"metrics.`test_accuracy`\"" in dom
    rows = table_rows(dom)
    names = [next(t for t in row if t in RUNS) for row in rows]
    assert names == sorted(RUNS, key=RUNS.get, reverse=True)  # every run, sorted by test_macro_f1
    for name, row in zip(names, rows):
        assert f"{RUNS[name]:.2f}" in row and f"{RUNS[name] + 0.1:.2f}" in row
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank image
    if os.environ.get("RNNLAB_UPDATE_SCREENSHOT"):  # refresh the README's picture on request only
        (ROOT / "reports").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "reports" / "mlflow_ui.png")
