"""When things go wrong under `dvc repro`: real signals to real stage processes, resume, run states, divergence.

A stage is held still at a known point by a `sitecustomize` the test puts on PYTHONPATH: in the stage
named by PAUSE_STAGE it wraps `RunState.save`, and after the PAUSE_AFTER-th saved epoch writes its PID
to PAUSE_MARK and waits for signals. The test then sends the signal, as a user or a scheduler would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import torch
import yaml

from rnnlab.process import group_members

from .conftest import (
    VENV_BIN,
    free_port,
    make_repo,
    pipeline_env,
    run,
    running,
    tiny_params,
    write_tiny_corpus,
)

HOOK = '''
import os
if os.environ.get("DVC_STAGE") and os.environ.get("DVC_STAGE") == os.environ.get("PAUSE_STAGE"):
    import signal
    from pathlib import Path
    from rnnlab.training import resume

    _save, _saved = resume.RunState.save, []

    def save(self, state):
        _save(self, state)
        _saved.append(state)
        if len(_saved) == int(os.environ["PAUSE_AFTER"]):
            Path(os.environ["PAUSE_MARK"]).write_text(str(os.getpid()))
            while True:
                signal.pause()

    resume.RunState.save = save
'''
EPOCHS = 4


@pytest.fixture(scope="module")
def repo(tmp_path_factory, mirror):
    """A tiny pipeline run once up to `evaluate`, and the environment its stages see."""
    repo = tmp_path_factory.mktemp("failures")
    write_tiny_corpus(repo / "corpus" / "tiny.csv")
    overrides = tiny_params(EPOCHS, {"embedding_dropout": 0.2}, **{"trainer.patience": EPOCHS, "trainer.lr": 0.01})
    make_repo(repo, overrides)
    hooks = tmp_path_factory.mktemp("hooks")
    (hooks / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
    env = pipeline_env(mirror) | {"MLFLOW_TRACKING_URI": f"sqlite:///{repo}/mlflow.db", "PYTHONPATH": str(hooks)}
    run(["dvc", "repro", "evaluate"], repo, env)
    return repo, env


def set_hidden_size(repo: Path, model: str, size: int) -> None:
    """A params edit, so that `dvc repro` trains the model (for unchanged params it restores the cached result)."""
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    params["train"][model]["hidden_size"] = size
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def start_paused(repo: Path, env: dict, stage: str) -> tuple[subprocess.Popen, int]:
    """`dvc repro` of `stage`, held after its 2nd epoch: the dvc process and the stage's PID."""
    mark = repo / f".pause-{stage}"
    mark.unlink(missing_ok=True)
    env = env | {"PAUSE_STAGE": stage, "PAUSE_AFTER": "2", "PAUSE_MARK": str(mark)}
    proc = subprocess.Popen(["dvc", "repro", "--single-item", stage], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while not mark.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{stage} never reached its 2nd epoch:\n{proc.communicate()[0][-3000:]}")
        time.sleep(0.2)
    time.sleep(0.2)  # the PID is written before the pause
    return proc, int(mark.read_text())


def wait_dead(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not running(pid)


def trainers(repo: Path) -> list[int]:
    """PIDs of training stage processes running in `repo` (the `sh -c` wrapper DVC may put above one included)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if os.readlink(proc / "cwd") == str(repo) and b"stages/train.py" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return [pid for pid in found if running(pid)]


def runs(repo: Path, name: str) -> dict[str, str]:
    """run id -> status of the runs named `name` in the sentiment experiment."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo}/mlflow.db")
    experiment = client.get_experiment_by_name("rnnlab-sentiment")
    return {r.info.run_id: r.info.status for r in client.search_runs([experiment.experiment_id])
            if r.info.run_name == name}


def saved_epochs(repo: Path, stage: str) -> list[int]:
    state = torch.load(repo / ".rnnlab" / "state" / stage / "run.pt", weights_only=True)
    return [row["epoch"] for row in state["history"]]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["weights"]


def test_sigkill_after_epoch_2_then_a_rerun_resumes_at_epoch_3_with_identical_weights(repo):
    repo, env = repo
    set_hidden_size(repo, "rnn", 20)
    before = runs(repo, "rnn")
    proc, pid = start_paused(repo, env, "train@rnn")
    os.kill(pid, signal.SIGKILL)
    assert proc.wait(timeout=60) != 0
    (killed_run,) = set(runs(repo, "rnn")) - set(before)
    assert runs(repo, "rnn")[killed_run] == "RUNNING"  # SIGKILL leaves no chance to say otherwise
    assert saved_epochs(repo, "train@rnn") == [1, 2]

    run(["dvc", "repro", "--force", "--single-item", "tfidf"], repo, env)  # the next stage sweeps the dead run
    assert runs(repo, "rnn")[killed_run] == "KILLED"

    output = run(["dvc", "repro", "--single-item", "train@rnn"], repo, env)
    assert "resuming after epoch 2" in output and "epoch 3:" in output and "epoch 1:" not in output
    assert runs(repo, "rnn") == {**before, killed_run: "FINISHED"}  # one run for the interrupted training
    from mlflow.tracking import MlflowClient

    history = MlflowClient(tracking_uri=f"sqlite:///{repo}/mlflow.db").get_metric_history(killed_run, "val_macro_f1")
    assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1))
    assert not (repo / ".rnnlab" / "state" / "train@rnn").exists()  # removed when the stage completed
    resumed = weights(repo / "data" / "models" / "rnn.pt")
    run(["dvc", "repro", "--force", "--single-item", "train@rnn"], repo, env)  # uninterrupted, same params
    reference = weights(repo / "data" / "models" / "rnn.pt")
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)


def test_sigterm_ends_the_run_killed_and_keeps_the_state(repo):
    """SIGINT takes the same path (KeyboardInterrupt): tests/unit/test_process.py sends both to a real stage."""
    repo, env = repo
    sig = signal.SIGTERM
    set_hidden_size(repo, "gru", 20)
    before = runs(repo, "gru")
    proc, pid = start_paused(repo, env, "train@gru")
    os.kill(pid, sig)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0 and f"stopped by {sig.name}" in output
    (stopped,) = set(runs(repo, "gru")) - set(before)
    assert runs(repo, "gru")[stopped] == "KILLED"
    assert saved_epochs(repo, "train@gru") == [1, 2]
    run(["dvc", "repro", "--single-item", "train@gru"], repo, env)
    assert runs(repo, "gru")[stopped] == "FINISHED"


def test_kill_9_of_dvc_repro_stops_the_trainer_and_its_run(repo):
    repo, env = repo
    set_hidden_size(repo, "lstm", 20)
    before = runs(repo, "lstm")
    # DVC runs the stage as `$SHELL -c cmd`; dash (/bin/sh here, and $SHELL where none is set) stays between
    # DVC and the stage, which makes its parent a shell that a kill -9 of DVC leaves alive
    proc, pid = start_paused(repo, env | {"SHELL": "/bin/sh"}, "train@lstm")
    shell = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert Path(f"/proc/{shell}/cmdline").read_bytes().startswith(b"/bin/sh\0-c\0")
    os.kill(proc.pid, signal.SIGKILL)  # dvc itself, not the stage
    proc.wait(timeout=30)
    assert wait_dead(pid), "the trainer outlived dvc repro"
    # the shell sees its child die a moment later (CI once caught it still running); then it exits too
    assert wait_dead(shell), "the stage's shell outlived its trainer"
    assert trainers(repo) == []
    output = proc.stdout.read()  # the trainer wrote to dvc's pipe until it exited
    (orphaned,) = set(runs(repo, "lstm")) - set(before)
    deadline = time.monotonic() + 20  # a loaded machine: give the store a moment to show the last write
    while runs(repo, "lstm")[orphaned] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert runs(repo, "lstm")[orphaned] == "KILLED", output[-3000:]
    assert "train@lstm: stopped by SIGTERM" in output
    output = run(["dvc", "repro", "--single-item", "train@lstm"], repo, env)
    assert "resuming after epoch 2" in output and runs(repo, "lstm")[orphaned] == "FINISHED"


def test_a_diverging_model_fails_the_repro_naming_the_stage_and_keeps_metrics_and_reports(repo):
    repo, env = repo
    run(["dvc", "repro", "evaluate"], repo, env)  # the models resumed above, evaluated
    kept = {p: p.read_bytes() for folder in ("metrics", "reports") for p in (repo / folder).rglob("*") if p.is_file()}
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    params["trainer"] |= {"lr": 1e30, "clip_grad_norm": 0}
    params["train"]["rnn"]["nonlinearity"] = "relu"  # unbounded: weights of 1e30 overflow (tanh would saturate)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    before = runs(repo, "rnn")
    proc = subprocess.run(["dvc", "repro", "evaluate"], cwd=repo, env=env, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert re.search(r"train@rnn: non-finite (loss|gradient norm) \((nan|inf|-inf)\) at epoch \d+, step \d+", output)
    assert "clipping is off" in output and "Traceback" not in output
    now = {p: p.read_bytes() for folder in ("metrics", "reports") for p in (repo / folder).rglob("*") if p.is_file()}
    changed = {str(p.relative_to(repo)) for p in kept.keys() | now.keys() if kept.get(p) != now.get(p)}
    # models whose loss stayed finite (their cells saturate) finished: only their run records are new
    assert changed <= {"reports/runs/train_lstm.json", "reports/runs/train_gru.json"}, changed
    (failed,) = set(runs(repo, "rnn")) - set(before)
    assert runs(repo, "rnn")[failed] == "FAILED"


@pytest.mark.parametrize("stop", ["kill make ui by its PID", "make ui-stop"])
def test_stopping_make_ui_stops_everything_it_started(repo, stop):
    repo, env = repo
    port, make_vars = free_port(), [f"VENV={VENV_BIN.parent}"]
    ui = subprocess.Popen(["make", "-s", "ui", f"PORT={port}", *make_vars], cwd=repo, env=env,
                          start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/health"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                assert response.status == 200
            break
        except OSError:
            assert ui.poll() is None and time.monotonic() < deadline, "make ui did not serve within 120 s"
            time.sleep(0.5)
    pid_file = repo / ".rnnlab" / "ui.pid"
    server = group_members(int(pid_file.read_text()))
    assert len(server) >= 2  # mlflow and its uvicorn worker
    if stop == "make ui-stop":
        run(["make", "-s", "ui-stop", *make_vars], repo, env)
    else:
        os.kill(ui.pid, signal.SIGTERM)  # make's PID only, as `kill <pid>` does
    ui.wait(timeout=60)
    assert all(wait_dead(pid) for pid in server), "a process of the UI outlived it"
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
    assert not pid_file.exists()
