"""The team's tracking server, for real: `make server` (PostgreSQL + mlflow server with logins) on loopback.

The tiny pipeline logs to it; the REST API must show its runs, metric histories and artifacts, refuse
a request without credentials (401) and a reader's write (403); no password may appear in a log or
a committed file; headless Chromium, logged in, must see the runs with their test metrics;
`make server-stop` must leave no process running.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rnnlab.process import group_members
from rnnlab.team.migrate import FROM_TAG
from rnnlab.team.server import read_credentials
from rnnlab.training.tracking import RUNS_VIEW

from .browser import LoginProxy, page_dom, table_rows
from .conftest import (
    MODELS,
    VENV_BIN,
    free_port,
    make_repo,
    pipeline_env,
    run,
    running,
    tiny_params,
    write_tiny_corpus,
)


def call(url: str, path: str, auth: tuple[str, str] | None, body: dict | None = None, version: str = "2.0") -> dict:
    """A REST call to the server (POST with `body`, else GET); HTTP errors raise urllib's HTTPError."""
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    request = urllib.request.Request(f"{url}/api/{version}/mlflow/{path}", headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


@pytest.fixture(scope="module")
def team(tmp_path_factory, mirror):
    """A tiny repository, its tracking server (`make server`), and the pipeline run logging to it."""
    repo = tmp_path_factory.mktemp("team")
    write_tiny_corpus(repo / "corpus" / "tiny.csv")
    make_repo(repo, tiny_params(3))
    # PostgreSQL runs as its own user: its folder must be reachable, which pytest's private tmp is not
    server_dir = Path(tempfile.mkdtemp(prefix="rnnlab-server-")) / "server"
    server_dir.parent.chmod(0o711)
    port, pg_port = free_port(), free_port()
    make = ["make", "-s", f"VENV={VENV_BIN.parent}", f"SERVER_DIR={server_dir}", f"SERVER_PORT={port}",
            f"PG_PORT={pg_port}"]
    env = pipeline_env(mirror)
    started = run([*make, "server"], repo, env)
    creds = read_credentials(server_dir / "credentials")
    url = f"http://127.0.0.1:{port}"
    logged = run(["dvc", "repro", "evaluate"], repo, env | {
        "MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": creds["MLFLOW_TRACKING_PASSWORD"]})
    yield {"repo": repo, "url": url, "dir": server_dir, "creds": creds, "make": make, "env": env,
           "output": started + logged}
    subprocess.run([*make, "server-stop"], cwd=repo, env=env, capture_output=True)


def admin(team) -> tuple[str, str]:
    return "admin", team["creds"]["MLFLOW_TRACKING_PASSWORD"]


def test_a_request_without_credentials_gets_401(team):
    with pytest.raises(urllib.error.HTTPError) as err:
        call(team["url"], "experiments/search?max_results=10", None)
    assert err.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as err:
        call(team["url"], "experiments/search?max_results=10", ("admin", "wrong"))
    assert err.value.code == 401


def test_the_pipeline_logs_runs_metric_histories_and_artifacts_to_the_server(team):
    experiment = call(team["url"], "experiments/get-by-name?experiment_name=rnnlab-sentiment", admin(team))["experiment"]
    assert {"key": "mlflow.experimentKind", "value": "custom_model_development"} in experiment["tags"]
    runs = call(team["url"], "runs/search", admin(team), {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    by_name = {r["info"]["run_name"]: r for r in runs}
    assert set(by_name) == {*MODELS, "tfidf"} and all(r["info"]["status"] == "FINISHED" for r in runs)
    lstm = by_name["lstm"]["info"]["run_id"]
    history = call(team["url"], f"metrics/get-history?run_id={lstm}&metric_key=val_macro_f1", admin(team))["metrics"]
    assert [m["step"] for m in history] == [1, 2, 3]
    assert "test_macro_f1" in {m["key"] for m in by_name["lstm"]["data"]["metrics"]}
    artifacts = call(team["url"], f"artifacts/list?run_id={lstm}", admin(team))["files"]
    assert {"checkpoint", "plots"} <= {a["path"] for a in artifacts}
    # the artifacts went through the server into its own folder
    assert list((team["dir"] / "artifacts").rglob("lstm.pt"))


def test_a_reader_cannot_log_to_the_experiment(team):
    experiment = call(team["url"], "experiments/get-by-name?experiment_name=rnnlab-sentiment", admin(team))["experiment"]
    call(team["url"], "users/create", admin(team), {"username": "reader", "password": "reader-pw-123"})
    call(team["url"], "users/permissions/grant", admin(team), {
        "username": "reader", "resource_type": "experiment", "resource_id": experiment["experiment_id"],
        "permission": "READ"}, version="3.0")
    reader = ("reader", "reader-pw-123")
    assert call(team["url"], f"experiments/get?experiment_id={experiment['experiment_id']}", reader)
    with pytest.raises(urllib.error.HTTPError) as err:
        call(team["url"], "runs/create", reader, {"experiment_id": experiment["experiment_id"]})
    assert err.value.code == 403


def test_no_password_appears_in_a_log_a_command_line_or_a_file_git_would_take(team):
    secrets = [team["creds"][k] for k in ("MLFLOW_TRACKING_PASSWORD", "RNNLAB_POSTGRES_PASSWORD")]
    logs = [team["output"], *(p.read_text(errors="replace") for p in team["dir"].rglob("*.log"))]
    commands = [p.read_bytes().decode(errors="replace") for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists()]
    committed = subprocess.run(["git", "grep", "-I", "--untracked", "-e", secrets[0], "-e", secrets[1]], cwd=team["repo"],
                               capture_output=True, text=True).stdout
    assert not any(secret in text for secret in secrets for text in [*logs, *commands, committed])
    assert oct(team["dir"].joinpath("credentials").stat().st_mode & 0o777) == "0o600"


def test_local_runs_move_into_the_server_with_identical_metric_histories(team, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from rnnlab.training.tracking import mlflow_run

    monkeypatch.chdir(tmp_path)
    local = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "notes.txt").write_text("a local artifact")
    with mlflow_run("solo", {"MLFLOW_TRACKING_URI": local}, experiment="rnnlab-solo") as tracker:
        tracker.log_params({"model.cell": "gru"})
        for epoch in range(1, 21):
            tracker.log_metrics({"val_macro_f1": epoch / 40, "train_loss": 1 / epoch}, step=epoch)
        tracker.log_artifact(tmp_path / "notes.txt", "notes")
        source_id = tracker.run_id
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", team["creds"]["MLFLOW_TRACKING_PASSWORD"])
    for _ in range(2):  # a second migration copies nothing twice
        out = run([str(VENV_BIN / "rnnlab"), "migrate", "--source", local, "--target", team["url"]], tmp_path,
                  dict(os.environ))
    assert "rnnlab-solo: 0 runs copied" in out
    source, target = MlflowClient(local), MlflowClient(team["url"])
    (copied,) = target.search_runs([target.get_experiment_by_name("rnnlab-solo").experiment_id])
    assert copied.data.tags[FROM_TAG] == source_id and copied.info.run_name == "solo"
    assert copied.data.params == {"model.cell": "gru"} and copied.info.status == "FINISHED"
    for key in ("val_macro_f1", "train_loss"):
        expected = [(m.step, m.value, m.timestamp) for m in source.get_metric_history(source_id, key)]
        assert sorted((m.step, m.value, m.timestamp) for m in target.get_metric_history(copied.info.run_id, key)) \
            == sorted(expected)
    assert [a.path for a in target.list_artifacts(copied.info.run_id, "notes")] == ["notes/notes.txt"]


def test_after_login_the_ui_shows_the_pipeline_runs_with_their_test_metrics(team, browser, tmp_path):
    """The page a member sees once logged in (the README's picture, with RNNLAB_UPDATE_SCREENSHOT set)."""
    experiment = call(team["url"], "experiments/get-by-name?experiment_name=rnnlab-sentiment", admin(team))["experiment"]
    with LoginProxy(team["url"], *admin(team)) as logged_in:
        url = f"{logged_in.url}/#/experiments/{experiment['experiment_id']}/runs?viewStateShareKey={RUNS_VIEW}"
        dom = page_dom(browser, tmp_path, url, "mlflow_server_ui.png")
    assert "col-id=\"metrics.`test_macro_f1`\"" in dom
    rows = table_rows(dom)
    assert sorted(next(t for t in row if t in {*MODELS, "tfidf"}) for row in rows) == sorted({*MODELS, "tfidf"})


def test_make_server_stop_leaves_no_process_running(team):
    pid = int((team["dir"] / "mlflow.pid").read_text())
    postmaster = int((team["dir"] / "postgres" / "postmaster.pid").read_text().split()[0])
    group = group_members(pid)
    assert running(postmaster) and len(group) >= 2
    run([*team["make"], "server-stop"], team["repo"], team["env"])
    deadline = time.monotonic() + 30
    while any(running(p) for p in [postmaster, *group]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(running(p) for p in [postmaster, *group])
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{team['url']}/health", timeout=2)
