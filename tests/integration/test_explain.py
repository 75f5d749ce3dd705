"""The zoo's attention classifier trains through the one loop, resumes finished, and `rnnlab explain` reads it."""

import dataclasses

import pytest
import torch

from rnnlab.cli import main
from rnnlab.config import ModelConfig, Variant
from rnnlab.models.attention import AttentionPooling
from rnnlab.models.classifier import build_model
from rnnlab.params import load_section
from rnnlab.serving.predict import Predictor
from rnnlab.studies.shared import variant_configs
from rnnlab.studies.zoo.attention import VARIANT, train_attention_run
from rnnlab.studies.zoo.zoo import ZooRun
from rnnlab.training.attention import KIND
from rnnlab.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from tests.configs import model_config, text_config, trainer_config

from .test_training import splits  # noqa: F401 (fixture)
from .test_zoo import PARAMS

TEXTS = ["сегодня кино отлично", "плохо"]


@pytest.fixture(scope="module")
def trained(splits, tmp_path_factory):  # noqa: F811
    vocab, train, val = splits
    folder = tmp_path_factory.mktemp("attention")
    model, trainer = variant_configs(load_section(PARAMS, "zoo.base", ModelConfig), trainer_config(epochs=8, lr=0.01),
                                     load_section(PARAMS, "zoo.attention", Variant), "zoo.attention")
    model = dataclasses.replace(model, embedding_dim=16, hidden_size=16)
    run = ZooRun(VARIANT, 0, model, trainer, folder / "seed0.pt", "fingerprint")
    meta = {"preprocess": dataclasses.asdict(text_config(normalize="none", remove_stopwords=False)), "max_len": 20,
            "stopwords": []}
    shared = dict(splits={"train": train, "val": val, "test": val}, itos=list(vocab.itos), classes=["neg", "pos"],
                  meta=meta, env={"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"})
    saved = train_attention_run(run, folder / "model.pt", **shared)
    return run, folder, shared, saved


def test_the_attention_classifier_learns_and_writes_its_checkpoint(trained):
    run, folder, _, saved = trained
    assert saved["result"]["run"]["test_macro_f1"] > 0.8  # the cue word decides the class
    ckpt = load_checkpoint(folder / "model.pt", kind=KIND)
    assert isinstance(ckpt.model.pooling, AttentionPooling)
    assert ckpt.config.pooling == "attention" and ckpt.meta["name"] == f"{VARIANT}@seed0"


def test_a_finished_run_is_not_trained_again(trained):
    run, folder, shared, saved = trained
    before = (folder / "model.pt").read_bytes()
    again = train_attention_run(run, folder / "model.pt", **shared)
    assert again["run_id"] == saved["run_id"] and again["result"] == saved["result"]
    assert (folder / "model.pt").read_bytes() == before


def test_explain_prints_each_token_and_ends_on_the_models_prediction(trained, tmp_path, capsys):
    _, folder, _, _ = trained
    page = tmp_path / "page.html"
    assert main(["explain", "--checkpoint", str(folder / "model.pt"), "--html", str(page), *TEXTS]) == 0
    out = capsys.readouterr().out.splitlines()
    probabilities = Predictor(load_checkpoint(folder / "model.pt")).probabilities(TEXTS)
    first, second = out.index('"сегодня кино отлично"'), out.index('"плохо"')
    for start, probs in ((first, probabilities[0]), (second, probabilities[1])):
        head = out[start + 1]
        assert head.startswith(f"-> {['neg', 'pos'][int(probs.argmax())]}")
        assert f"pos: {float(probs[1]):.3f}" in head  # the last prefix is the whole text
        assert "attention" in out[start + 2]
    assert [line.split()[0] for line in out[first + 3: second]] == ["сегодня", "кино", "отлично"]
    last = out[first + 3 + 2].split()
    assert float(last[2]) == pytest.approx(float(probabilities[0].max()), abs=1e-3)
    assert page.read_text(encoding="utf-8").count("<span") == 4


def test_explain_refuses_an_unknown_model_and_a_foreign_checkpoint(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    assert main(["explain", "--model", "nope", "text"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    torch.save({"format": "something else"}, tmp_path / "x.pt")
    assert main(["explain", "--checkpoint", str(tmp_path / "x.pt"), "text"]) == 2
    assert "not an rnnlab checkpoint" in capsys.readouterr().err


def test_explain_reads_a_plain_classifier_without_attention(splits, tmp_path, capsys):  # noqa: F811
    vocab, _, _ = splits
    cfg = model_config(pooling="max", bidirectional=True, embedding_dim=8, hidden_size=6)
    meta = {"preprocess": dataclasses.asdict(text_config(normalize="none", remove_stopwords=False)), "max_len": 2,
            "stopwords": [], "name": "plain", "val_macro_f1": 0.5}
    save_checkpoint(tmp_path / "plain.pt", Checkpoint("classifier", cfg, build_model(cfg, len(vocab), 2), vocab,
                                                      ["neg", "pos"], meta))
    assert main(["explain", "--checkpoint", str(tmp_path / "plain.pt"), TEXTS[0]]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "attention" not in out[2]
    assert [line.split()[0] for line in out[3:]] == ["сегодня", "кино"]  # cut to the model's max_len
