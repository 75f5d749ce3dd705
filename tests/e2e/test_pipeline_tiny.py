"""`dvc repro` in a temporary copy of the repository on a tiny corpus the test writes."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from .conftest import VENV_BIN, make_repo, pipeline_env, run

MODELS = ("rnn", "lstm", "gru")
WORDS = {
    "positive": ["прекрасный", "отличный", "люблю", "радость", "спасибо", ")))"],
    "negative": ["ужасный", "плохой", "ненавижу", "грусть", "обидно", "((("],
    "neutral": ["вторник", "автобус", "отчёт", "улица", "погода", "таблица"],
}
FILLER = ["сегодня", "мы", "город", "вечер", "работа", "дом", "кино", "друг"]


def write_tiny_corpus(path: Path, n: int = 240) -> None:
    """A CSV whose label is given by a cue word among filler words, with quoted line breaks."""
    rng = random.Random(0)
    lines = ["text,label"]
    for i in range(n):
        label = list(WORDS)[i % 3]
        words = rng.sample(FILLER, 4) + [rng.choice(WORDS[label])]
        rng.shuffle(words)
        lines.append(f'"{" ".join(words[:2])}\n{" ".join(words[2:])} {i}",{label}')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


TINY_MODEL = {"embedding_dim": 16, "hidden_size": 16, "bidirectional": False, "pooling": "max"}


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory, mirror):
    repo = tmp_path_factory.mktemp("tiny")
    write_tiny_corpus(repo / "corpus" / "tiny.csv")
    overrides = {
        "download.corpora": ["nltk_stopwords"],
        "prepare.corpus": "local_csv",
        "prepare.local_csv.path": "corpus/tiny.csv",
        "tfidf.char_ngrams": False,
        "tfidf.C": [1.0],
        "tfidf.min_df": 1,
        "featurize.min_freq": 1,
        "trainer.epochs": 3,
        "trainer.batch_size": 16,
        "trainer.lr": 0.01,
        "trainer.num_threads": 1,
        **{f"train.{m}": {"cell": m, **TINY_MODEL} for m in MODELS},
    }
    make_repo(repo, overrides)
    env = pipeline_env(mirror) | {"MLFLOW_TRACKING_URI": f"sqlite:///{repo}/mlflow.db"}
    output = run(["dvc", "repro", "register"], repo, env)
    return repo, env, output


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
    stats = json.loads((repo / "metrics" / "prepare.json").read_text())
    assert sum(sum(c.values()) for c in stats.values()) == 240


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


def test_forced_rerun_reproduces_the_same_metrics(tiny_repo):
    repo, env, _ = tiny_repo
    before = (repo / "metrics" / "test.json").read_text()
    run(["dvc", "repro", "--force", "evaluate"], repo, env)
    assert (repo / "metrics" / "test.json").read_text() == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_make_ui_serves_the_runs_with_metrics_and_artifacts(tiny_repo):
    repo, env, _ = tiny_repo
    port = _free_port()
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
