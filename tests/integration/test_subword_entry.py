"""The character n-gram classifier in the main pipeline on tiny data: stage train_subword@<name> from a params file,
its checkpoint (the vocabulary's types only, rebuilt from the file), `rnnlab predict` giving a new word its
n-grams' vectors, and the one namespace of model names."""

import json
import os
import subprocess
import sys

import mlflow
import pytest
import torch
import yaml

from rnnlab.classifiers.ngram import (
    KIND,
    SubwordEntry,
    encode_types,
    load_models,
    set_types,
    training_stage,
)
from rnnlab.config import FeaturizeConfig
from rnnlab.params import ConfigError
from rnnlab.serving.outputs import pipeline_models
from rnnlab.serving.predict import SubwordPredictor, load_predictor
from rnnlab.text.features import featurize
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.classification import predict_logits
from rnnlab.training.decision import apply_offsets, fit_offsets
from tests.integration.test_subword import ROOT, corpus

ENTRY = {"model": "lstm", "ngram_low": 2, "ngram_high": 3, "min_count": 2, "unseen_navec": True,
         "decision": "macro_f1_offsets"}


def write_params(folder, **trainer):
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["train"]["lstm"] |= {"hidden_size": 8}
    params["trainer"] |= {"device": "cpu", "epochs": 3, "batch_size": 8, "lr": 0.01, "patience": 3, **trainer}
    params["preprocess"]["text"] |= {"normalize": "none", "remove_stopwords": False}  # predict reads tokens as written
    params["featurize"]["max_len"] = 10
    params["train_subword"] = {"lstm_subword": ENTRY}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return params


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("subword_entry")
    frame = corpus()
    frame.to_csv(folder / "corpus.csv", index=False)
    vocab, _, _ = featurize(frame, FeaturizeConfig(max_vocab=100, min_freq=1, max_len=10))
    vocab.save(folder / "vocab.json")
    stopwords = folder / "nltk_data" / "corpora" / "stopwords"
    stopwords.mkdir(parents=True)
    (stopwords / "russian").write_text("и\nв\nне\n", encoding="utf-8")
    write_params(folder)
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train_subword.py"), "--params", str(folder / "params.yaml"),
         "--name", "lstm_subword", "--vocab", str(folder / "vocab.json"), "--preprocessed", str(folder / "corpus.csv"),
         "--nltk-data", str(folder / "nltk_data"), "--checkpoint", str(folder / "lstm_subword.pt"),
         "--run-record", str(folder / "train_lstm_subword.json"), "--state-dir", str(folder / "state")],
        cwd=folder, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder, vocab


def test_the_checkpoint_keeps_the_vocabularys_types_and_the_ngrams_it_trained(trained):
    folder, vocab = trained
    ckpt = load_checkpoint(folder / "lstm_subword.pt", kind=KIND)
    assert ckpt.vocab == vocab and ckpt.classes == ["negative", "neutral", "positive"]
    assert ckpt.config.entry == SubwordEntry(**ENTRY) and ckpt.config.model.hidden_size == 8
    layer = ckpt.model.embedding
    assert layer.index.size(0) == len(vocab) and not layer.has_fixed.any()
    assert ckpt.config.n_ngrams == len(ckpt.meta["ngrams"]) == layer.ngrams.weight.size(0) - 1
    assert layer.ngrams.weight[1:].abs().sum() > 0  # trained away from their zero start
    assert [row["epoch"] for row in ckpt.meta["history"]] == [1, 2, 3] and ckpt.meta["name"] == "lstm_subword"


def test_the_stage_logs_its_run_and_clears_its_state(trained):
    folder, _ = trained
    record = json.loads((folder / "train_lstm_subword.json").read_text())
    assert record["stage"] == "train_subword@lstm_subword" and not (folder / "state" / record["stage"]).exists()
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    run = mlflow.get_run(record["run_id"])
    assert run.data.params["subword.ngram_high"] == "3" and run.data.params["model.hidden_size"] == "8"
    ckpt = load_checkpoint(folder / "lstm_subword.pt")
    classes, offsets = ckpt.classes, ckpt.meta["decision_offsets"]
    assert {c: float(run.data.params[f"decision_offset.{c}"]) for c in classes} == dict(zip(classes, offsets))
    assert "val_macro_f1" in run.data.metrics


def test_predict_scores_the_test_split_as_training_encoded_it_and_gives_new_words_their_ngrams(trained):
    folder, vocab = trained
    predictor = load_predictor(folder / "lstm_subword.pt")
    assert isinstance(predictor, SubwordPredictor) and predictor.name == "lstm_subword"
    frame = corpus()
    test = frame[frame["split"] == "test"]
    ckpt = load_checkpoint(folder / "lstm_subword.pt")  # the type table of the stage: every type of the corpus
    entry = ckpt.config.entry
    data = encode_types(frame, vocab, ckpt.classes, entry, 10)
    set_types(ckpt.model, data.types.itos, len(vocab), predictor.ngrams, entry)
    # the offsets are the ones the stage's model fits on validation, and predict applies them
    offsets = ckpt.meta["decision_offsets"]
    assert offsets == fit_offsets(predict_logits(ckpt.model, data.splits["val"], 16, "cpu"), data.splits["val"].labels)
    logits = predict_logits(ckpt.model, data.splits["test"], 16, "cpu")
    probabilities = predictor.probabilities(test["tokens"].tolist())
    assert torch.allclose(probabilities, apply_offsets(logits, offsets), atol=1e-6)
    assert (offsets == [0.0, 0.0, 0.0]) == torch.allclose(probabilities, logits.softmax(1), atol=1e-6)
    # "отличнейший" and "классный" are outside the vocabulary: read by their n-grams (and navec), not as <unk>
    # as "щщщщ ъъъъ" is (no n-gram of theirs was trained, no navec vector)
    types = predictor.vocab([["отличнейший", "классный"]])
    assert types.itos[len(vocab):] == ("классный", "отличнейший")
    assert predictor.clf.model.embedding.index[-2:].gt(0).any()
    new, unknown = predictor.probabilities(["отличнейший классный", "щщщщ ъъъъ"])
    assert not torch.allclose(new, unknown)


def test_a_bad_entry_is_refused_by_key(trained, tmp_path):
    folder, _ = trained
    params = write_params(tmp_path)
    params["train_subword"]["lstm_subword"] = {**ENTRY, "model": "transformer"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    args = [sys.executable, str(ROOT / "stages" / "train_subword.py"), "--params", str(tmp_path / "params.yaml"),
            "--name", "lstm_subword", "--vocab", str(folder / "vocab.json"),
            "--preprocessed", str(folder / "corpus.csv"), "--nltk-data", str(folder / "nltk_data"),
            "--checkpoint", str(tmp_path / "x.pt"),
            "--run-record", str(tmp_path / "x.json"), "--state-dir", str(tmp_path / "state")]
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "train_subword.lstm_subword.model 'transformer' is not a `train` entry" in proc.stderr
    params["train_subword"]["lstm_subword"] = {**ENTRY, "decision": "threshold"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"train_subword.lstm_subword.decision: 'threshold' is not one of"):
        load_models(tmp_path / "params.yaml")
    del params["train_subword"]["lstm_subword"]["min_count"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="min_count"):
        load_models(tmp_path / "params.yaml")
    assert not (tmp_path / "x.pt").exists()


def test_two_sections_share_one_namespace_of_models(trained, tmp_path):
    folder, _ = trained
    models = load_models(folder / "params.yaml")
    assert isinstance(models["lstm_subword"], SubwordEntry) and {"rnn", "lstm", "gru"} < set(models)
    assert training_stage("lstm_subword", models) == "train_subword@lstm_subword"
    assert training_stage("gru", models) == "train@gru"
    params = yaml.safe_load((folder / "params.yaml").read_text(encoding="utf-8"))
    params["train_subword"]["gru"] = ENTRY
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"train_subword.gru: the name of another model too"):
        load_models(tmp_path / "params.yaml")
    lock = {"stages": {"train@gru": {"outs": [{"path": "data/models/gru.pt"}]},
                       "train_subword@lstm_subword": {"outs": [{"path": "data/models/lstm_subword.pt"}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock), encoding="utf-8")
    assert {name: str(path) for name, path in pipeline_models(tmp_path / "dvc.lock").items()} == {
        "gru": "data/models/gru.pt", "lstm_subword": "data/models/lstm_subword.pt"}
