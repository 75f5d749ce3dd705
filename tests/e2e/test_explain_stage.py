"""The zoo study's attention classifier and explain stages under `dvc repro`, on the tiny corpus; then the command."""

from __future__ import annotations

import json

import pytest

from rnnlab.training.attention import KIND
from rnnlab.training.checkpoint import load_checkpoint

from .conftest import (
    VENV_BIN,
    make_repo,
    pipeline_env,
    run,
    tiny_params,
    write_tiny_corpus,
)


@pytest.fixture(scope="module")
def zoo_repo(tmp_path_factory, mirror):
    repo = tmp_path_factory.mktemp("zoo")
    write_tiny_corpus(repo / "corpus" / "tiny.csv")
    overrides = tiny_params(1, **{"zoo.trainer.epochs": 2, "zoo.base.embedding_dim": 16, "zoo.base.hidden_size": 16,
                                  "cluster.executor": "local", "explain.right": 1, "explain.wrong": 1,
                                  "explain.min_tokens": 3, "explain.max_tokens": 10})
    make_repo(repo, overrides, also=("studies/zoo",))
    env = pipeline_env(mirror) | {"MLFLOW_TRACKING_URI": f"sqlite:///{repo}/mlflow.db"}
    output = run(["dvc", "repro", "studies/zoo/dvc.yaml:explain"], repo, env)
    return repo, env, output


def test_the_attention_runs_every_seed_and_keeps_the_first_model(zoo_repo):
    repo, _, output = zoo_repo
    summary = json.loads((repo / "metrics" / "zoo_attention" / "lstm_attention.json").read_text())
    assert [r["seed"] for r in summary["runs"]] == [1, 2, 3]
    assert all(0 <= r["test_macro_f1"] <= 1 for r in summary["runs"])
    ckpt = load_checkpoint(repo / "data" / "zoo" / "attention.pt", kind=KIND)
    assert ckpt.meta["name"] == "lstm_attention@seed1"
    assert ckpt.meta["val_macro_f1"] == summary["runs"][0]["val_macro_f1"]
    assert "Running stage 'train" not in output  # explaining needs the features, not the main models
    assert not (repo / ".rnnlab" / "state" / "zoo_attention").exists()  # done: the resumable state is gone


def test_explain_draws_a_right_and_a_wrong_post_and_a_page(zoo_repo):
    repo, _, _ = zoo_repo
    figures = sorted(p.name for p in (repo / "reports" / "explain").iterdir())
    assert figures == ["post1-right.png", "post2-wrong.png", "posts.html"]
    assert (repo / "reports" / "explain" / "post1-right.png").read_bytes()[:4] == b"\x89PNG"
    page = (repo / "reports" / "explain" / "posts.html").read_text(encoding="utf-8")
    assert "(gold" in page and page.count('class=post') == 2


def test_the_command_finds_the_attention_model_from_the_study(zoo_repo):
    repo, env, _ = zoo_repo
    out = run([str(VENV_BIN / "rnnlab"), "explain", "--model", "attention", "отлично сегодня"], repo, env)
    lines = out.splitlines()
    assert lines[0] == '"отлично сегодня"' and lines[1].startswith("-> ") and "attention" in lines[2]
    assert len([line for line in lines[3:] if line.startswith("  ")]) == 2
