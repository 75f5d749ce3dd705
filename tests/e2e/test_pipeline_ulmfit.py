"""`dvc repro register` with ULMFiT's classifier in the main pipeline, on the tiny corpus: the pretraining study's
language model (tiny, on the mirror's unlabelled text) -> train_ulmfit@awd -> evaluate, register, `rnnlab predict`."""

from __future__ import annotations

import json

import pytest
import yaml

from rnnlab.training.checkpoint import read_payload

from .conftest import MODELS, ROOT, VENV_BIN, make_repo, pipeline_env, run, tiny_params, write_tiny_corpus

LM_TRAINER = {"device": "cpu", "autocast": "off", "lr": 0.01, "clip_grad_norm": 0.5, "num_threads": 1}


@pytest.fixture(scope="module")
def ulmfit_repo(tmp_path_factory, mirror):
    repo = tmp_path_factory.mktemp("ulmfit")
    write_tiny_corpus(repo / "corpus" / "tiny.csv")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    awd = params["train_ulmfit"]["awd"]
    overrides = tiny_params(2) | {
        "train_ulmfit": {"awd": {**awd, "max_len": 20, "trainer": {**awd["trainer"], "device": "cpu", "epochs": 2,
                                                                   "batch_size": 16, "num_threads": 1}}},
        "lm.vocab": {"max_size": 300, "min_freq": 2},
        "lm.model": {**params["lm"]["model"], "embeddings": "scratch", "embedding_dim": 16, "hidden_size": 24,
                     "num_layers": 2, "cutoffs": [100]},
        "lm.pretrain": {"batch_size": 8, "seq_len": 20, "trainer": {**LM_TRAINER, "steps": 6, "eval_every": 3}},
        "lm.finetune": {"batch_size": 4, "seq_len": 10, "trainer": {**LM_TRAINER, "steps": 4, "eval_every": 2}},
    }
    make_repo(repo, overrides, also=("studies/pretraining/dvc.yaml",))
    env = pipeline_env(mirror) | {"MLFLOW_TRACKING_URI": f"sqlite:///{repo}/mlflow.db"}
    output = run(["dvc", "repro", "register"], repo, env)
    return repo, env, output


def test_repro_trains_the_language_model_then_ulmfits_classifier_beside_the_others(ulmfit_repo):
    repo, _, output = ulmfit_repo
    for stage in ("studies/pretraining/dvc.yaml:pretrain", "studies/pretraining/dvc.yaml:finetune_lm",
                  "train_ulmfit@awd", "train@gru", "evaluate", "register"):
        assert f"Running stage '{stage}'" in output, stage
    assert read_payload(repo / "data" / "models" / "awd.pt")["kind"] == "awd_classifier"
    metrics = json.loads((repo / "metrics" / "test.json").read_text())
    assert set(metrics) == {*MODELS, "awd", "tfidf", "majority"} and 0 <= metrics["awd"]["macro_f1"] <= 1
    assert "| awd |" in (repo / "reports" / "comparison.md").read_text()
    history = json.loads((repo / "reports" / "history" / "awd.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]


def test_register_logs_ulmfits_classifier_and_picks_the_champion_among_all(ulmfit_repo):
    repo, _, _ = ulmfit_repo
    registry = json.loads((repo / "metrics" / "registry.json").read_text())
    assert set(registry["models"]) == {*MODELS, "awd"}
    scores = {name: entry["val_macro_f1"] for name, entry in registry["models"].items()}
    assert registry["champion"]["model"] == max(scores, key=scores.get)
    metrics = json.loads((repo / "metrics" / "test.json").read_text())
    assert registry["models"]["awd"]["test_macro_f1"] == metrics["awd"]["macro_f1"]


def test_rnnlab_predict_reads_raw_text_with_ulmfits_classifier(ulmfit_repo):
    repo, env, _ = ulmfit_repo
    out = run([str(VENV_BIN / "rnnlab"), "predict", "--model", "awd", "сегодня отлично", "ужасный вечер"], repo, env)
    lines = out.strip().splitlines()
    assert lines[0] == '"сегодня отлично"' and lines[1].lstrip().startswith("-> ") and lines[2] == '"ужасный вечер"'
    assert "model awd (data/models/awd.pt" in out
    probs = [float(part.split(": ")[1]) for part in lines[1].split("  ") if ": " in part]
    assert len(probs) == 3 and abs(sum(probs) - 1) < 0.01
