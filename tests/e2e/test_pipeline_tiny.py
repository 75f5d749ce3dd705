"""`dvc repro` in a temporary copy of the repository on a tiny corpus the test writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from rnnlab.training.checkpoint import read_payload

from .conftest import (
    MODELS,
    VENV_BIN,
    free_port,
    make_repo,
    pipeline_env,
    run,
    tiny_params,
    write_tiny_corpus,
)


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory, mirror):
    repo = tmp_path_factory.mktemp("tiny")
    write_tiny_corpus(repo / "corpus" / "tiny.csv")
    overrides = tiny_params(3, **{"trainer.lr": 0.01, "train.gru.pooling": "attention"})  # any model may attend
    make_repo(repo, overrides)
    env = pipeline_env(mirror) | {"MLFLOW_TRACKING_URI": f"sqlite:///{repo}/mlflow.db"}
    output = run(["dvc", "repro", "register"], repo, env)
    return repo, env, output


def test_a_pipeline_model_with_attention_pooling_trains_predicts_and_explains(tiny_repo):
    repo, env, _ = tiny_repo
    assert read_payload(repo / "data" / "models" / "gru.pt")["kind"] == "attention_classifier"
    assert read_payload(repo / "data" / "models" / "lstm.pt")["kind"] == "classifier"
    out = run([str(VENV_BIN / "rnnlab"), "predict", "--model", "gru", "сегодня отлично"], repo, env)
    assert "model gru" in out and "-> " in out
    out = run([str(VENV_BIN / "rnnlab"), "explain", "--model", "gru", "сегодня отлично"], repo, env).splitlines()
    assert "attention" in out[2] and len([line for line in out[3:] if line.startswith("  ")]) == 2


def test_repro_writes_metrics_for_every_model(tiny_repo):
    repo, _, _ = tiny_repo
    metrics = json.loads((repo / "metrics" / "test.json").read_text())
    assert set(metrics) == {*MODELS, "tfidf", "majority"}
    for name, scores in metrics.items():
        assert 0.0 <= scores["macro_f1"] <= 1.0, name
    # the cue word makes the task easy: every model must beat always-majority
    for name in (*MODELS, "tfidf"):
        assert metrics[name]["macro_f1"] > metrics["majority"]["macro_f1"] + 0.2, name
    report = (repo / "reports" / "comparison.md").read_text()
    assert all(f"| {name} |" in report for name in (*MODELS, "tfidf"))
    assert {p.name for p in (repo / "reports" / "figures").iterdir()} >= {
        "learning_curves.png", *(f"confusion_{m}.png" for m in (*MODELS, "tfidf"))
    }
    for name in MODELS:  # the learning curves DVC plots, from the checkpoints
        history = json.loads((repo / "reports" / "history" / f"{name}.json").read_text())
        assert [row["epoch"] for row in history] == [1, 2, 3] and all("val_macro_f1" in row for row in history)
    stats = json.loads((repo / "metrics" / "prepare.json").read_text())
    assert sum(sum(c.values()) for c in stats.values()) == 240


def test_a_forced_rerun_changes_no_file_but_the_run_records(tiny_repo):
    """Same params, same machine: every DVC-tracked output and dvc.lock come out byte for byte the same;
    only the run records (MLflow run ids, timings) change."""
    repo, env, _ = tiny_repo
    run(["git", "add", "-A"], repo, env)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "outputs"], repo, env)
    lock = (repo / "dvc.lock").read_text()
    run(["dvc", "repro", "--force", "register"], repo, env)
    assert (repo / "dvc.lock").read_text() == lock
    changed = sorted(line[3:] for line in run(["git", "status", "--porcelain"], repo, env).splitlines())
    assert changed and all(path.startswith("reports/runs/") for path in changed), changed
    assert {"reports/runs/train_lstm.json", "reports/runs/tfidf.json", "reports/runs/register.json"} <= set(changed)


def _status(repo: Path, env: dict) -> dict:
    """`dvc status` of the sentiment pipeline (the stages `register` depends on), as JSON."""
    return json.loads(run(["dvc", "status", "--json", "--with-deps", "register"], repo, env).strip().splitlines()[-1])


@pytest.mark.parametrize(("module", "stale"), [
    ("serving/review.py", set()),  # imported by no stage
    # the stages that import the tokenizer (evaluate: ULMFiT's classifiers read raw text); the rest follow only if
    # preprocess's output changes
    ("text/tokenizer.py", {"preprocess", "tfidf", "train@rnn", "train@lstm", "train@gru", "evaluate", "register"}),
])
def test_an_edit_marks_exactly_the_stages_that_import_the_module(tiny_repo, module, stale):
    repo, env, _ = tiny_repo
    path = repo / "src" / "rnnlab" / module
    source = path.read_text(encoding="utf-8")
    try:
        path.write_text(source.replace('"""', '"""Edited. ', 1), encoding="utf-8")
        assert set(_status(repo, env)) == stale
    finally:
        path.write_text(source, encoding="utf-8")
    assert _status(repo, env) == {}


def test_second_repro_is_up_to_date_and_one_param_reruns_one_model(tiny_repo):
    repo, env, _ = tiny_repo
    again = run(["dvc", "repro", "register"], repo, env)
    assert "Running stage" not in again
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    params["train"]["gru"]["hidden_size"] = 24
    (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    changed = run(["dvc", "repro", "register"], repo, env)
    ran = {line.split("'")[1] for line in changed.splitlines() if line.startswith("Running stage")}
    assert ran == {"train@gru", "evaluate", "register"}


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_make_ui_serves_the_runs_with_metrics_and_artifacts(tiny_repo):
    repo, env, _ = tiny_repo
    port = free_port()
    # the copy has no .venv of its own: point make at the one running these tests
    server = subprocess.Popen(["make", "-s", "ui", f"PORT={port}", f"VENV={VENV_BIN.parent}"], cwd=repo, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    try:
        for _ in range(120):
            try:
                experiment = _get(f"{base}/experiments/get-by-name?experiment_name=rnnlab-sentiment")["experiment"]
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow ui did not answer within 120 s")
        request = urllib.request.Request(
            f"{base}/runs/search", data=json.dumps({"experiment_ids": [experiment["experiment_id"]]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            runs = json.loads(response.read())["runs"]
        by_name = {r["info"]["run_name"]: r for r in runs}
        assert set(by_name) >= {*MODELS, "tfidf"}
        for name in (*MODELS, "tfidf"):
            run_data = by_name[name]["data"]
            metrics = {m["key"] for m in run_data["metrics"]}
            params = {p["key"] for p in run_data["params"]}
            assert {"test_macro_f1", "test_accuracy"} <= metrics, name
            assert "seed" in params and "git.commit" in {t["key"] for t in run_data["tags"]}
            artifacts = _get(f"{base}/artifacts/list?run_id={by_name[name]['info']['run_id']}").get("files", [])
            assert "plots" in {a["path"] for a in artifacts}, name
        lstm = by_name["lstm"]
        history = _get(f"{base}/metrics/get-history?run_id={lstm['info']['run_id']}&metric_key=val_macro_f1")["metrics"]
        assert [m["step"] for m in history] == list(range(1, len(history) + 1)) and len(history) >= 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
