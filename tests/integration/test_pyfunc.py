"""MLflow pyfunc models: log, register, alias the champion, load by alias and predict like `rnnlab predict`."""

import dataclasses
import os

import mlflow
import pandas as pd
import pytest
import torch

from rnnlab.models.classifier import build_model
from rnnlab.serving.predict import load_predictor
from rnnlab.serving.pyfunc import (
    CHAMPION,
    pip_requirements,
    register_classifiers,
    registered_name,
)
from rnnlab.text.vocab import PAD, UNK, Vocab
from rnnlab.training.checkpoint import Checkpoint, save_checkpoint
from rnnlab.training.tracking import mlflow_run
from tests.configs import model_config, text_config

CLASSES = ["negative", "neutral", "positive"]
VOCAB = Vocab((PAD, UNK, "прекрасный", "день", "ужасный", "обслуживание", "!", "xxnum"))
TEXTS = ["Какой прекрасный день!", "Ужасное обслуживание", "", "hello world", "в 2024 году", "день " * 50]


RUN_IDS: dict[str, str] = {}


def save_classifier(path, name: str, val_macro_f1: float, seed: int) -> None:
    """A tiny random classifier whose training run exists in the store."""
    with mlflow_run(name, os.environ, stage=f"train@{name}") as tracker:
        RUN_IDS[name] = tracker.run_id
    torch.manual_seed(seed)
    cfg = model_config(cell="gru", embedding_dim=8, hidden_size=6, pooling="mean")
    meta = {"name": name, "val_macro_f1": val_macro_f1, "stopwords": ["в"], "max_len": 5,
            "preprocess": dataclasses.asdict(text_config(remove_stopwords=True))}
    model = build_model(cfg, len(VOCAB), len(CLASSES)).eval()
    save_checkpoint(path, Checkpoint("classifier", cfg, model, VOCAB, CLASSES, meta))


@pytest.fixture
def checkpoints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tracking store's artifacts go to tmp_path/mlruns
    paths = {"lstm": tmp_path / "lstm.pt", "gru": tmp_path / "gru.pt"}
    save_classifier(paths["lstm"], "lstm", 0.55, seed=0)
    save_classifier(paths["gru"], "gru", 0.60, seed=1)
    return paths


def test_champion_loads_by_alias_and_predicts_like_predictor(checkpoints):
    registry, versions = register_classifiers(checkpoints, RUN_IDS, {"gru": {"macro_f1": 0.58}}, os.environ)
    assert registry[CHAMPION] == {"model": "gru", "uri": f"models:/{registered_name('gru')}@{CHAMPION}"}
    assert versions == {"lstm": {"version": 1, "run_id": RUN_IDS["lstm"]}, "gru": {"version": 1, "run_id": RUN_IDS["gru"]}}
    assert registry["models"]["gru"]["test_macro_f1"] == 0.58 and registry["models"]["lstm"]["test_macro_f1"] is None
    # the model is logged in its training run
    assert mlflow.MlflowClient().get_model_version(registered_name("gru"), "1").run_id == RUN_IDS["gru"]

    model = mlflow.pyfunc.load_model(registry[CHAMPION]["uri"])
    out = model.predict(pd.DataFrame({"text": TEXTS}))
    expected = load_predictor(checkpoints["gru"]).table(TEXTS)
    assert out["label"].tolist() == expected["label"].tolist()
    pd.testing.assert_frame_equal(out, expected, check_exact=False, atol=1e-6)

    schema = model.metadata.get_input_schema()
    assert schema.input_names() == ["text"]
    assert model.metadata.get_output_schema().input_names() == ["label", *(f"p_{c}" for c in CLASSES)]
    requirements = open(mlflow.pyfunc.get_model_dependencies(registry[CHAMPION]["uri"])).read().split()
    assert requirements == pip_requirements()  # pinned by us, not inferred


def test_champion_alias_moves_to_the_new_best(checkpoints):
    first, _ = register_classifiers(checkpoints, RUN_IDS, {}, os.environ)
    save_classifier(checkpoints["lstm"], "lstm", 0.70, seed=2)  # lstm retrained, now the best
    registry, versions = register_classifiers(checkpoints, RUN_IDS, {}, os.environ)
    client = mlflow.MlflowClient()
    assert first[CHAMPION]["model"] == "gru"
    assert registry[CHAMPION]["model"] == "lstm" and versions["lstm"]["version"] == 2
    assert client.get_registered_model(registered_name("lstm")).aliases == {CHAMPION: 2}
    assert client.get_registered_model(registered_name("gru")).aliases == {}  # one champion only
