"""MLflow pyfunc models: log, register, alias the champion, load by alias and predict like `rnnlab predict`."""

import os

import mlflow
import pandas as pd
import pytest
import torch

from rnnlab.checkpoint import Classifier, load_checkpoint, save_checkpoint
from rnnlab.config import ModelConfig, PreprocessConfig
from rnnlab.models import build_model
from rnnlab.predict import Predictor
from rnnlab.serving import CHAMPION, pip_requirements, register_classifiers, registered_name
from rnnlab.tracking import mlflow_run
from rnnlab.vocab import PAD, UNK, Vocab

CLASSES = ["negative", "neutral", "positive"]
VOCAB = Vocab((PAD, UNK, "прекрасный", "день", "ужасный", "обслуживание", "!", "xxnum"))
TEXTS = ["Какой прекрасный день!", "Ужасное обслуживание", "", "hello world", "в 2024 году", "день " * 50]


def save_classifier(path, name: str, val_macro_f1: float, seed: int) -> None:
    """A tiny random classifier whose training run exists in the store."""
    with mlflow_run(name, os.environ, stage=f"train@{name}") as tracker:
        run_id = tracker.run_id
    torch.manual_seed(seed)
    cfg = ModelConfig(cell="gru", embedding_dim=8, hidden_size=6, pooling="mean")
    meta = {"name": name, "run_id": run_id, "val_macro_f1": val_macro_f1, "stopwords": ["в"]}
    model = build_model(cfg, len(VOCAB), len(CLASSES)).eval()
    save_checkpoint(path, Classifier(model, cfg, VOCAB, CLASSES, PreprocessConfig(remove_stopwords=True), 5, meta))


@pytest.fixture
def checkpoints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tracking store's artifacts go to tmp_path/mlruns
    paths = {"lstm": tmp_path / "lstm.pt", "gru": tmp_path / "gru.pt"}
    save_classifier(paths["lstm"], "lstm", 0.55, seed=0)
    save_classifier(paths["gru"], "gru", 0.60, seed=1)
    return paths


def test_champion_loads_by_alias_and_predicts_like_predictor(checkpoints):
    registry = register_classifiers(checkpoints, {"gru": {"macro_f1": 0.58}}, os.environ)
    assert registry[CHAMPION] == {"model": "gru", "version": 1, "uri": f"models:/{registered_name('gru')}@{CHAMPION}"}
    assert registry["models"]["gru"]["test_macro_f1"] == 0.58 and registry["models"]["lstm"]["test_macro_f1"] is None

    model = mlflow.pyfunc.load_model(registry[CHAMPION]["uri"])
    out = model.predict(pd.DataFrame({"text": TEXTS}))
    expected = Predictor(load_checkpoint(checkpoints["gru"])).table(TEXTS)
    assert out["label"].tolist() == expected["label"].tolist()
    pd.testing.assert_frame_equal(out, expected, check_exact=False, atol=1e-6)

    schema = model.metadata.get_input_schema()
    assert schema.input_names() == ["text"]
    assert model.metadata.get_output_schema().input_names() == ["label", *(f"p_{c}" for c in CLASSES)]
    requirements = open(mlflow.pyfunc.get_model_dependencies(registry[CHAMPION]["uri"])).read().split()
    assert requirements == pip_requirements()  # pinned by us, not inferred


def test_champion_alias_moves_to_the_new_best(checkpoints):
    register_classifiers(checkpoints, {}, os.environ)
    save_classifier(checkpoints["lstm"], "lstm", 0.70, seed=2)  # lstm retrained, now the best
    registry = register_classifiers(checkpoints, {}, os.environ)
    client = mlflow.MlflowClient()
    assert registry[CHAMPION]["model"] == "lstm" and registry["models"]["lstm"]["version"] == 2
    assert client.get_registered_model(registered_name("lstm")).aliases == {CHAMPION: 2}
    assert client.get_registered_model(registered_name("gru")).aliases == {}  # one champion only
