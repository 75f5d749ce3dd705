"""ULMFiT's classifier in the main pipeline on tiny data: stage train_ulmfit@awd from a params file, its checkpoint
(rebuilt without the language model, the frozen embedding the language model's), `rnnlab predict`'s reading of raw
text, and the one namespace of model names."""

import json
import os
import subprocess
import sys

import mlflow
import pytest
import torch
import yaml

from rnnlab.config import ConfigError
from rnnlab.serving.outputs import pipeline_models
from rnnlab.serving.predict import ULMFiTPredictor, load_predictor
from rnnlab.tasks.pretraining import BOS, LMVocabConfig, pretrain
from rnnlab.tasks.ulmfit import encode_target
from rnnlab.tasks.ulmfit_entry import KIND, ULMFiTEntry, load_models, training_stage
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.classification import predict_logits
from rnnlab.training.decision import apply_offsets, fit_offsets
from rnnlab.training.tracking import MemoryTracker
from tests.integration.test_ablation import ROOT
from tests.integration.test_pretraining import MODEL, TEXT, corpus, labelled, stage


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ulmfit_entry")
    torch.manual_seed(0)
    lm, _ = pretrain(corpus(), TEXT, LMVocabConfig(max_size=100, min_freq=1), MODEL, stage(20), MemoryTracker(), seed=0)
    save_checkpoint(folder / "finetuned.pt", lm)
    labelled().to_csv(folder / "corpus.csv", index=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    entry = params["train_ulmfit"]["awd"]
    entry.update(max_len=20, embedding_dropout=0.0, input_dropout=0.0, hidden_dropout=0.0, weight_dropout=0.0,
                 head_size=8, head_dropout=0.0, trainer={**entry["trainer"], "device": "cpu", "epochs": 8,
                                                         "batch_size": 8, "lr": 0.01, "patience": 8, "num_threads": 1})
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train_ulmfit.py"), "--params", str(folder / "params.yaml"),
         "--name", "awd", "--lm", str(folder / "finetuned.pt"), "--prepared", str(folder / "corpus.csv"),
         "--checkpoint", str(folder / "awd.pt"), "--run-record", str(folder / "train_awd.json"),
         "--state-dir", str(folder / "state")], cwd=folder, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder, lm


def test_the_stage_writes_a_checkpoint_that_rebuilds_without_the_language_model(trained):
    folder, lm = trained
    ckpt = load_checkpoint(folder / "awd.pt", kind=KIND)
    assert ckpt.vocab == lm.vocab and ckpt.classes == ["negative", "neutral", "positive"]
    assert ckpt.meta["name"] == "awd" and ckpt.meta["preprocess"] == lm.meta["text"] and ckpt.meta["max_len"] == 20
    assert [row["epoch"] for row in ckpt.meta["history"]] == list(range(1, 9))
    ours, theirs = ckpt.model.encoder.state_dict(), lm.model.encoder.state_dict()
    assert torch.equal(ours["embedding.weight"], theirs["embedding.weight"])  # frozen: the language model's
    assert not torch.equal(ours["layers.0.lstm.weight_ih_l0"], theirs["layers.0.lstm.weight_ih_l0"])  # trained


def test_the_stage_logs_its_run_and_clears_its_state(trained):
    folder, _ = trained
    record = json.loads((folder / "train_awd.json").read_text())
    assert record["stage"] == "train_ulmfit@awd" and not (folder / "state" / "train_ulmfit@awd").exists()
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    run = mlflow.get_run(record["run_id"])
    assert run.data.params["model.gradual_unfreezing"] == "False" and run.data.params["lm.hidden_size"] == "24"
    assert "val_macro_f1" in run.data.metrics


def run_params(folder):
    """The MLflow params of the stage's run."""
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    return mlflow.get_run(json.loads((folder / "train_awd.json").read_text())["run_id"]).data.params


def test_predict_reads_raw_text_as_the_language_model_did(trained):
    folder, lm = trained
    predictor = load_predictor(folder / "awd.pt")
    assert isinstance(predictor, ULMFiTPredictor) and predictor.name == "awd"
    test = labelled().query("split == 'test'")
    assert predictor.tokens(["Очень ХОРОШО"]) == [[BOS, "очень", "хорошо"]]
    ckpt = load_checkpoint(folder / "awd.pt")
    splits, _ = encode_target(labelled(), lm, 20)  # the texts as the stage encoded them
    offsets = ckpt.meta["decision_offsets"]  # params.yaml's awd: offsets fitted on validation, applied by predict
    assert offsets == fit_offsets(predict_logits(ckpt.model, splits["val"], 16, "cpu"), splits["val"].labels)
    assert run_params(folder)["decision_offset.positive"] == str(offsets[-1])
    expected = apply_offsets(predict_logits(ckpt.model, splits["test"], 16, "cpu"), offsets)
    assert torch.allclose(predictor.probabilities(test["text"].tolist()), expected, atol=1e-6)
    accuracy = (expected.argmax(1) == splits["test"].labels).float().mean().item()
    assert accuracy > 0.6  # the label's words decide it: a trained classifier reads them


def test_both_sections_share_one_namespace_of_models(trained, tmp_path):
    folder, _ = trained
    models = load_models(folder / "params.yaml")
    assert isinstance(models["awd"], ULMFiTEntry) and {"rnn", "lstm", "gru"} < set(models)
    assert training_stage("awd", models) == "train_ulmfit@awd" and training_stage("gru", models) == "train@gru"
    params = yaml.safe_load((folder / "params.yaml").read_text(encoding="utf-8"))
    params["train_ulmfit"]["gru"] = params["train_ulmfit"]["awd"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"train_ulmfit.gru: the name of a `train` entry too"):
        load_models(tmp_path / "params.yaml")


def test_the_models_rnnlab_predict_knows_include_ulmfits(tmp_path):
    lock = {"stages": {"train@gru": {"outs": [{"path": "data/models/gru.pt"}]},
                       "train_ulmfit@awd": {"outs": [{"path": "data/models/awd.pt"}]},
                       "tfidf": {"outs": [{"path": "data/models/tfidf.pkl"}]},
                       "finetune_lm": {"outs": [{"path": "data/lm/finetuned.pt"}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock), encoding="utf-8")
    assert {name: str(path) for name, path in pipeline_models(tmp_path / "dvc.lock").items()} == {
        "gru": "data/models/gru.pt", "awd": "data/models/awd.pt", "tfidf": "data/models/tfidf.pkl"}
