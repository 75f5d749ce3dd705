"""Trackers: the in-memory one, context tags, and MLflow runs in a throwaway sqlite store."""

import contextlib
import json
import socket
import subprocess
import sys
import time

import pytest

from rnnlab.process import Terminated, is_dead, process_id
from rnnlab.training import tracking
from rnnlab.training.tracking import (
    EXPERIMENT,
    PROCESS_TAG,
    RUNS_VIEW,
    MemoryTracker,
    annotate_run,
    context_tags,
    mlflow_run,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_git(dirty: str = ""):
    """Stand-in for `git`: a fixed commit, and `status` output `dirty`."""

    def run(*args: str) -> str:
        return COMMIT if args[0] == "rev-parse" else dirty

    return run


def test_memory_tracker_records():
    tracker = MemoryTracker()
    tracker.log_params({"lr": 0.1})
    tracker.log_params({"epochs": 2})
    tracker.log_metrics({"loss": 1.5}, step=0)
    tracker.log_metrics({"loss": 1.0, "acc": 0.5}, step=1)
    tracker.log_metrics({"test_f1": 0.4})
    tracker.set_tags({"a": "1"})
    tracker.log_artifact("reports/x.json", "reports")
    assert tracker.params == {"lr": 0.1, "epochs": 2}
    assert tracker.metrics == [(0, {"loss": 1.5}), (1, {"loss": 1.0, "acc": 0.5}), (None, {"test_f1": 0.4})]
    assert tracker.tags == {"a": "1"}
    assert tracker.artifacts == [("reports/x.json", "reports")]


def test_memory_tracker_copies_metrics():
    tracker, metrics = MemoryTracker(), {"loss": 1.0}
    tracker.log_metrics(metrics, step=0)
    metrics["loss"] = 9.0
    assert tracker.metrics == [(0, {"loss": 1.0})]


@pytest.mark.parametrize(
    ("env", "dirty", "expected"),
    [
        ({}, "", {"git.commit": COMMIT, "git.dirty": "False"}),
        ({"DVC_EXP_NAME": ""}, " M src/x.py", {"git.commit": COMMIT, "git.dirty": "True"}),
        ({"DVC_EXP_NAME": "brisk-lamb"}, "", {"git.commit": COMMIT, "git.dirty": "False", "dvc.exp_name": "brisk-lamb"}),
    ],
)
def test_context_tags(monkeypatch, env, dirty, expected):
    monkeypatch.setattr(tracking, "_git", fake_git(dirty))
    assert context_tags(env) == expected


def test_context_tags_without_git(monkeypatch):
    monkeypatch.setattr(tracking, "_git", lambda *args: "")
    assert context_tags({"DVC_EXP_NAME": "e1"}) == {"dvc.exp_name": "e1"}


def test_context_tags_reads_only_the_mapping(monkeypatch):
    monkeypatch.setattr(tracking, "_git", lambda *args: "")
    monkeypatch.setenv("DVC_EXP_NAME", "from-os-environ")
    assert context_tags({}) == {}


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory) -> str:
    """One sqlite store for the module: creating its tables takes seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def mlflow_env(tracking_uri, tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)  # mlflow also reads its own env
    monkeypatch.chdir(tmp_path)  # any default artifact folder lands here, not in the repository
    monkeypatch.setattr(tracking, "_git", fake_git())
    return {"MLFLOW_TRACKING_URI": tracking_uri, "DVC_EXP_NAME": "brisk-lamb"}


def test_mlflow_run_logs_tags_params_and_metrics(mlflow_env, tracking_uri):
    from mlflow.tracking import MlflowClient

    with mlflow_run("lstm", mlflow_env, stage="train_lstm", experiment="unit-create") as tracker:
        tracker.log_params({"train.cell": "lstm", "trainer.lr": 0.002})
        tracker.log_metrics({"train_loss": 1.25, "val_macro_f1": 0.5}, step=0)
        tracker.log_metrics({"train_loss": 0.75, "val_macro_f1": 0.625}, step=1)
        run_id = tracker.run_id

    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == "unit-create"
    assert run.info.run_name == "lstm"
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["dvc.exp_name"] == "brisk-lamb"
    assert tags["dvc.stage"] == "train_lstm"
    assert tags["git.commit"] == COMMIT
    assert tags["git.dirty"] == "False"
    assert run.data.params == {"train.cell": "lstm", "trainer.lr": "0.002"}
    history = {m.step: m.value for m in client.get_metric_history(run_id, "val_macro_f1")}
    assert history == {0: 0.5, 1: 0.625}
    assert run.data.metrics == {"train_loss": 0.75, "val_macro_f1": 0.625}  # latest step of each


def test_mlflow_run_resumes_by_run_id(mlflow_env, tracking_uri):
    from mlflow.tracking import MlflowClient

    with mlflow_run("gru", mlflow_env, stage="train_gru", experiment="unit-resume") as tracker:
        tracker.log_metrics({"val_macro_f1": 0.25}, step=0)
        run_id = tracker.run_id
    env = {**mlflow_env, "DVC_EXP_NAME": "other-exp"}
    with mlflow_run("ignored", env, experiment="unit-resume", run_id=run_id) as resumed:
        assert resumed.run_id == run_id
        resumed.log_metrics({"test_macro_f1": 0.4})
        resumed.log_metrics({"val_macro_f1": 0.3}, step=1)

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("unit-resume")
    assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [run_id]
    run = client.get_run(run_id)
    assert run.info.run_name == "gru"
    assert run.data.tags["dvc.exp_name"] == "brisk-lamb"  # tags are set once, at creation
    assert run.data.metrics["test_macro_f1"] == 0.4
    steps = [(m.step, m.value) for m in client.get_metric_history(run_id, "val_macro_f1")]
    assert sorted(steps) == [(0, 0.25), (1, 0.3)]


def test_queued_experiments_log_to_the_repository_store(tmp_path):
    workspace = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmpab12cd"  # where `dvc queue` runs an experiment
    workspace.mkdir(parents=True)
    assert tracking.tracking_uri({}, workspace) == f"sqlite:///{tmp_path / 'repo' / 'mlflow.db'}"
    assert tracking.tracking_uri({}, tmp_path) == "sqlite:///mlflow.db"
    assert tracking.tracking_uri({"MLFLOW_TRACKING_URI": "sqlite:///x.db"}, workspace) == "sqlite:///x.db"


@pytest.mark.parametrize(("error", "status"), [(KeyboardInterrupt, "KILLED"), (Terminated, "KILLED"),
                                               (ValueError, "FAILED"), (None, "FINISHED")])
def test_a_run_ends_killed_on_a_signal_failed_on_an_error(mlflow_env, tracking_uri, error, status):
    from mlflow.tracking import MlflowClient

    with contextlib.suppress(BaseException), mlflow_run("r", mlflow_env, experiment="unit-status") as tracker:
        run_id = tracker.run_id
        if error is not None:
            raise error
    assert MlflowClient(tracking_uri=tracking_uri).get_run(run_id).info.status == status


def test_a_new_run_sweeps_runs_left_running_by_dead_processes_only(mlflow_env, tracking_uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.create_experiment("unit-sweep")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tags = {"dead": f"{socket.gethostname()}:{dead.pid}:1", "alive": process_id(),
            "other-host": "elsewhere:1:1", "untagged": None}
    ids = {}
    for name, tag in tags.items():
        ids[name] = client.create_run(experiment, run_name=name).info.run_id
        if tag:
            client.set_tag(ids[name], PROCESS_TAG, tag)
    with mlflow_run("new", mlflow_env, experiment="unit-sweep"):
        pass
    status = {name: client.get_run(run_id).info.status for name, run_id in ids.items()}
    assert status == {"dead": "KILLED", "alive": "RUNNING", "other-host": "RUNNING", "untagged": "RUNNING"}


def test_a_reused_pid_is_not_the_process_that_opened_the_run():
    host, pid, start = process_id().split(":")
    assert not is_dead(process_id())
    assert is_dead(f"{host}:{pid}:{int(start) + 1}")  # same PID, another start time: another process
    assert not is_dead(f"another-host:{pid}:{start}")


def test_annotating_a_finished_run_keeps_its_status_and_duration(mlflow_env, tracking_uri):
    from mlflow.tracking import MlflowClient

    with mlflow_run("lstm", mlflow_env, experiment="unit-annotate") as tracker:
        run_id = tracker.run_id
    client = MlflowClient(tracking_uri=tracking_uri)
    before = client.get_run(run_id).info
    time.sleep(0.05)  # a reopened run would otherwise end within the same millisecond
    with annotate_run(run_id, mlflow_env) as tracker:
        tracker.log_metrics({"test_macro_f1": 0.7})
    after = client.get_run(run_id)
    assert (after.info.status, after.info.end_time) == (before.status, before.end_time) == ("FINISHED", before.end_time)
    assert after.data.metrics["test_macro_f1"] == 0.7
    experiment = client.get_experiment(after.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens it on its runs


def test_writers_that_open_a_new_sqlite_store_together_all_land(tmp_path):
    """Without the first-use lock, processes creating the schema together fail (alembic races: 8 of 8 did)."""
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    code = ("import sys; from rnnlab.training.tracking import mlflow_run\n"
            "with mlflow_run(sys.argv[1], {'MLFLOW_TRACKING_URI': sys.argv[2]}) as t:\n"
            "    t.log_metrics({'test_macro_f1': 0.5})")
    writers = [subprocess.Popen([sys.executable, "-c", code, f"w{i}", uri], stderr=subprocess.PIPE, text=True)
               for i in range(4)]
    errors = [w.communicate(timeout=300)[1] for w in writers]
    assert [w.returncode for w in writers] == [0] * 4, "\n".join(e[-1500:] for e in errors)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["w0", "w1", "w2", "w3"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    view = json.loads(experiment.tags[f"mlflow.sharedViewState.{RUNS_VIEW}"])  # the runs table a newcomer opens
    assert "metrics.`test_macro_f1`" in view["selectedColumns"]
