"""The zoo and the search on a real two-node Ray cluster on loopback, through RAY_ADDRESS, with a worker killed.

A Ray head and a second node run as separate processes bound to 127.0.0.1 (one CPU each, so the runs
spread over both nodes), as a multi-node cluster does; the test stops them by the PIDs it started.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from rnnlab.text.features import save_features
from rnnlab.text.vocab import build_vocab
from tests.integration.test_training import synthetic_docs
from tests.unit.test_config import REPO

from .conftest import ROOT, VENV_BIN, free_port, running

# Ray 2.60 protects a cluster started by `ray start` with a token that its clients must hold; this one lives
# on loopback for the length of the test, so it goes without.
NO_TOKEN = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
TINY = {"embeddings": "scratch", "embedding_dim": 16, "hidden_size": 16, "bidirectional": False}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Features of a synthetic two-class corpus and a params file: two variants x two seeds, a 3-trial search."""
    from rnnlab.text.batching import encode_split  # noqa: PLC0415

    folder = tmp_path_factory.mktemp("ray")
    docs = {name: synthetic_docs(n, seed) for name, n, seed in (("train", 1500, 0), ("val", 200, 1), ("test", 200, 2))}
    vocab = build_vocab(docs["train"][0], max_size=100, min_freq=1)
    vocab.save(folder / "vocab.json")
    save_features(folder / "tensors.pt", {name: encode_split(d, y, vocab, 20) for name, (d, y) in docs.items()},
                  ["negative", "positive"])
    params = copy.deepcopy(REPO)  # every params file's sections in one file, for both arguments
    params["zoo"].update(seeds=[1, 2], variants={"lstm": {}, "gru": {"model": {"cell": "gru"}}})
    params["zoo"]["base"].update(TINY)
    params["zoo"]["trainer"].update(epochs=6, patience=6, batch_size=32)
    params["train"] = {name: {**params["zoo"]["base"], "cell": name} for name in ("rnn", "lstm", "gru")}
    params["trainer"].update(epochs=2, batch_size=32)
    params["tune"].update(trials=3, grace_period=2, space={
        "cell": {"choice": ["rnn", "lstm", "gru"]}, "hidden_size": {"choice": [8, 16]}, "lr": {"loguniform": [1e-3, 1e-2]}})
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    local = {**params, "cluster": {**params["cluster"], "executor": "local"}}
    (folder / "params_local.yaml").write_text(yaml.safe_dump(local, sort_keys=False), encoding="utf-8")
    # what the search compares with: the main pipeline's test scores and validation histories
    (folder / "test.json").write_text(json.dumps({m: {"macro_f1": 0.5} for m in params["train"]}), encoding="utf-8")
    (folder / "history").mkdir()
    for name in params["train"]:
        (folder / "history" / f"{name}.json").write_text(json.dumps([{"epoch": 1, "val_macro_f1": 0.5}]))
    return folder


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, ray_alone):
    """RAY_ADDRESS of a head and a second node, each a `ray start --block` process with one CPU."""
    port = free_port()
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **NO_TOKEN)
    logs = tmp_path_factory.mktemp("ray_logs")
    common = ["--num-cpus=1", "--block", "--disable-usage-stats"]
    nodes = [subprocess.Popen([str(VENV_BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1",
                               f"--port={port}", "--include-dashboard=false", *common], env=env,
                              stdout=(logs / "head.log").open("w"), stderr=subprocess.STDOUT)]
    address = f"127.0.0.1:{port}"
    try:
        _wait_for_nodes(address, 1, env)
        nodes.append(subprocess.Popen([str(VENV_BIN / "ray"), "start", f"--address={address}", *common], env=env,
                                      stdout=(logs / "node.log").open("w"), stderr=subprocess.STDOUT))
        _wait_for_nodes(address, 2, env)
        yield address
    finally:
        for node in reversed(nodes):
            node.send_signal(signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
        assert not any(running(node.pid) for node in nodes)


def _wait_for_nodes(address: str, count: int, env: dict[str, str], timeout: float = 120) -> None:
    code = f"import ray; ray.init(address={address!r}, logging_level='error'); print(sum(n['Alive'] for n in ray.nodes()))"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        if done.returncode == 0 and done.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(1)
    pytest.fail(f"the Ray cluster at {address} did not reach {count} node(s): {done.stderr[-2000:]}")


def stage_env(folder: Path, address: str | None) -> dict[str, str]:
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
               MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}", MLFLOW_DISABLE_TELEMETRY="true", **NO_TOKEN)
    env.pop("RAY_ADDRESS", None)
    return env | ({"RAY_ADDRESS": address} if address else {})


def zoo_command(folder: Path, params: str, out: str) -> list[str]:
    return [sys.executable, str(ROOT / "studies/zoo/zoo.py"), "--params", str(folder / params),
            "--pipeline-params", str(folder / params), "--vocab",
            str(folder / "vocab.json"), "--tensors", str(folder / "tensors.pt"), "--out", str(folder / out),
            "--run-record", str(folder / f"{out}.json"), "--state-dir", str(folder / f"{out}_state")]


def training_states(folder: Path) -> list[Path]:
    """State files of runs that have trained an epoch and not finished."""
    found = []
    for path in folder.glob("*.pt"):
        try:
            if "model" in torch.load(path, weights_only=True):
                found.append(path)
        except Exception:  # noqa: BLE001 (being replaced right now)
            continue
    return found


def task_workers() -> list[int]:
    """PIDs of Ray workers executing one of our tasks (Ray titles them after the task while it runs)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(b"ray::_in_driver_folder"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_the_zoo_on_two_nodes_survives_a_killed_worker_and_matches_the_sequential_run(workspace, cluster):
    proc = subprocess.Popen(zoo_command(workspace, "params.yaml", "ray"), cwd=ROOT, env=stage_env(workspace, cluster),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, killed = time.monotonic() + 240, None
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        workers = task_workers()
        if len(workers) == 2 and len(training_states(workspace / "ray_state" / "zoo")) == 2:
            killed = workers[0]  # both runs in flight have saved an epoch: the one killed resumes from it
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    output = proc.communicate(timeout=300)[0]
    assert killed is not None, f"never saw two runs in flight:\n{output[-3000:]}"
    assert proc.returncode == 0, output[-4000:]
    assert "ray: 2 node(s), 2 CPUs" in output
    assert "resuming after epoch" in output  # the retried task continued from the run's saved state

    sequential = subprocess.run(zoo_command(workspace, "params_local.yaml", "local"), cwd=ROOT,
                                env=stage_env(workspace, None), capture_output=True, text=True, timeout=300)
    assert sequential.returncode == 0, sequential.stderr[-4000:]
    for variant in ("lstm", "gru"):
        through_ray = json.loads((workspace / "ray" / f"{variant}.json").read_text())
        assert through_ray == json.loads((workspace / "local" / f"{variant}.json").read_text())
        assert [r["seed"] for r in through_ray["runs"]] == [1, 2]

    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("rnnlab-zoo").experiment_id])
    record = json.loads((workspace / "ray.json").read_text())
    ray_runs = [r for r in runs if r.info.run_id in {run["run_id"] for run in record["runs"]}]
    assert len(ray_runs) == 4 and {r.info.status for r in ray_runs} == {"FINISHED"}  # the killed run resumed in place


def test_a_search_on_the_cluster_logs_every_trial_under_one_parent(workspace, cluster):
    out = {name: str(workspace / "tune" / name) for name in ("tune.json", "tune.md", "trials.png", "best.yaml", "run.json")}
    command = [sys.executable, str(ROOT / "studies/tune/tune.py"), "--params", str(workspace / "params.yaml"),
               "--pipeline-params", str(workspace / "params.yaml"),
               "--vocab", str(workspace / "vocab.json"), "--tensors", str(workspace / "tensors.pt"),
               "--test-metrics", str(workspace / "test.json"), "--history", str(workspace / "history"),
               "--metrics", out["tune.json"], "--report", out["tune.md"], "--figure", out["trials.png"],
               "--best", out["best.yaml"], "--run-record", out["run.json"]]
    done = subprocess.run(command, cwd=ROOT, env=stage_env(workspace, cluster), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    metrics = json.loads(Path(out["tune.json"]).read_text())
    assert metrics["trials"] == 3 and 1 <= metrics["best_trial"] <= 3
    best = yaml.safe_load(Path(out["best.yaml"]).read_text())
    assert set(best["train"]["lstm"]) == {"cell", "hidden_size"} and set(best["trainer"]) == {"lr"}
    report = Path(out["tune.md"]).read_text()
    assert report.count("| completed |") == 3  # grace period = every epoch: ASHA stops none here
    # the chosen trial, retrained with the same seed on the driver, scores what it scored as a trial
    row = next(line for line in report.splitlines() if line.startswith(f"| {metrics['best_trial']} |"))
    assert f"| {metrics['val_macro_f1']:.4f} |" in row

    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("rnnlab-tune").experiment_id
    parent = json.loads(Path(out["run.json"]).read_text())["run_id"]
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == 4 and {c.info.status for c in children} == {"FINISHED"}  # 3 trials + the retrained choice
    rows = {int(cells[0]): cells for line in report.splitlines()
            if (cells := [c.strip() for c in line.strip("|").split("|")])[0].isdigit()}
    for child in (c for c in children if c.info.run_name.startswith("trial ")):
        row = rows[int(child.info.run_name.split()[1])]  # the report's trial N is MLflow's "trial N"
        assert row[1:3] == [child.data.params["cell"], child.data.params["hidden_size"]]
    trial = next(c for c in children if c.info.run_name == "trial 1")
    assert [m.step for m in client.get_metric_history(trial.info.run_id, "val_macro_f1")] == [1, 2]
    assert trial.data.tags["tune.ended"] == "completed" and trial.data.tags["tune.epochs_run"] == "2"
