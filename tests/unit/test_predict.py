"""`rnnlab predict`: raw text through the training preprocessing, model choice, CLI output and errors."""

import dataclasses
import pickle
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from rnnlab import cli
from rnnlab.classifiers.tfidf import TfidfBaseline
from rnnlab.config import TfidfConfig
from rnnlab.models.classifier import build_model
from rnnlab.serving.predict import Predictor, TfidfPredictor, best_model, load_predictor
from rnnlab.text.batching import encode_split
from rnnlab.text.preprocessing import preprocess_texts
from rnnlab.text.vocab import PAD, UNK, Vocab
from rnnlab.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnnlab.training.classification import predict_logits
from tests.configs import model_config, text_config

ROOT = Path(__file__).resolve().parents[2]

CLASSES = ["negative", "neutral", "positive"]
VOCAB = Vocab((PAD, UNK, "xxnum", "год", "прекрасный", "день", "!!!", "ужасный", "обслуживание", ":("))
STOPWORDS = ["был", "в", "и"]
MAX_LEN = 6
TEXTS = ["И в 2024 году был прекрасный день!!!", "Ужасное обслуживание :(", "", "hello world", "день " * 20]


def classifier(name: str = "lstm", val_macro_f1: float = 0.5, seed: int = 0, **preprocess) -> Checkpoint:
    torch.manual_seed(seed)
    cfg = model_config(cell="lstm", embedding_dim=8, hidden_size=6, bidirectional=True, pooling="max")
    meta = {"name": name, "val_macro_f1": val_macro_f1, "stopwords": STOPWORDS, "max_len": MAX_LEN,
            "preprocess": dataclasses.asdict(text_config(**{"remove_stopwords": True, **preprocess}))}
    return Checkpoint("classifier", cfg, build_model(cfg, len(VOCAB), len(CLASSES)).eval(), VOCAB, CLASSES, meta)


def tfidf_bundle(val_macro_f1: float) -> dict:
    """What the tfidf stage pickles: a baseline fitted on preprocessed cue words, and how to preprocess."""
    cfg = TfidfConfig(word_ngram_max=1, char_ngrams=False, char_ngram_range=(2, 4), min_df=1, max_features=100,
                      C=(10.0,), class_weight="balanced")
    docs = ["ужасный обслуживание", "год xxnum", "прекрасный день"] * 4
    baseline = TfidfBaseline(cfg, seed=0)
    baseline.fit(docs, [0, 1, 2] * 4, docs, [0, 1, 2] * 4)
    return {"name": "tfidf", "baseline": baseline, "classes": CLASSES, "val_macro_f1": val_macro_f1,
            "preprocess": dataclasses.asdict(text_config(remove_stopwords=True)), "stopwords": STOPWORDS}


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """A repository whose dvc.lock records rnn, lstm, gru and tfidf, with a leftover model beside them."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    stages = {f"train@{name}": f"data/models/{name}.pt" for name in ("rnn", "lstm", "gru")}
    lock = "".join(f"  {stage}:\n    outs:\n    - path: {path}\n      md5: 0\n"
                   for stage, path in {**stages, "tfidf": "data/models/tfidf.pkl"}.items())
    (tmp_path / "dvc.lock").write_text(f"schema: '2.0'\nstages:\n{lock}", encoding="utf-8")
    models = tmp_path / "data" / "models"
    for i, (name, score) in enumerate({"rnn": 0.51, "lstm": 0.64, "gru": 0.62}.items()):
        save_checkpoint(models / f"{name}.pt", classifier(name, score, seed=i))
    save_checkpoint(models / "old_corpus.pt", classifier("old_corpus", 0.99))  # no stage of dvc.lock wrote it
    with (models / "tfidf.pkl").open("wb") as f:
        pickle.dump(tfidf_bundle(0.60), f)
    monkeypatch.chdir(tmp_path)
    return models


def test_tokens_follow_the_checkpoint_preprocessing():
    tokens = Predictor(classifier()).tokens(TEXTS[:4])
    # stopwords from the checkpoint dropped, number replaced, words lemmatised, !!! kept as one token
    assert tokens == [["xxnum", "год", "прекрасный", "день", "!!!"], ["ужасный", "обслуживание", ":("], [],
                      ["hello", "world"]]


def test_probabilities_equal_the_training_path(tmp_path):
    save_checkpoint(tmp_path / "lstm.pt", classifier())
    clf = load_checkpoint(tmp_path / "lstm.pt")
    # preprocess stage: tokens joined by spaces in a CSV; featurize: split and encoded with max_len
    joined = preprocess_texts(TEXTS, text_config(), frozenset(STOPWORDS))
    split = encode_split([s.split() for s in joined], [0] * len(TEXTS), clf.vocab, MAX_LEN)
    expected = predict_logits(clf.model, split, 64, "cpu").softmax(1)
    torch.testing.assert_close(Predictor(clf).probabilities(TEXTS), expected)


def test_empty_and_latin_texts_get_probabilities_that_sum_to_one():
    table = Predictor(classifier()).table(["", "hello world", "   ", "12345"])
    probs = table[[f"p_{c}" for c in CLASSES]].to_numpy()
    assert probs.shape == (4, 3) and (probs > 0).all()
    assert probs.sum(1) == pytest.approx([1.0] * 4, abs=1e-6)
    assert set(table["label"]) <= set(CLASSES)
    assert Predictor(classifier()).table([]).empty


def test_texts_longer_than_max_len_are_cut_like_in_training():
    predictor = Predictor(classifier())
    long, cut = "прекрасный день " * 10 + "ужасный", "прекрасный день " * 3
    torch.testing.assert_close(predictor.probabilities([long]), predictor.probabilities([cut]))


def test_stopwords_are_dropped_only_when_the_checkpoint_says_so():
    assert Predictor(classifier()).stopwords == set(STOPWORDS)
    assert Predictor(classifier(remove_stopwords=False)).stopwords == set()


def test_best_is_the_highest_validation_macro_f1_among_the_pipeline_models(models_dir):
    names = {name: models_dir / f"{name}.pt" for name in ("rnn", "lstm", "gru")} | {"tfidf": models_dir / "tfidf.pkl"}
    assert best_model(names) == models_dir / "lstm.pt"  # old_corpus.pt scores higher but is not a pipeline model
    assert best_model({**names, "lstm": models_dir / "gone.pt"}) == models_dir / "gru.pt"
    assert best_model({**names, "lstm": models_dir / "gone.pt", "gru": models_dir / "gone.pt"}) == names["tfidf"]


def test_the_tfidf_baseline_is_served_on_raw_text_through_its_own_preprocessing(models_dir, capsys):
    predictor = load_predictor(models_dir / "tfidf.pkl")
    assert isinstance(predictor, TfidfPredictor) and predictor.classes == CLASSES
    table = predictor.table(["Ужасное обслуживание :(", "И в 2024 году", "Прекрасный день!!!"])
    assert table["label"].tolist() == CLASSES  # lemmatised like the training docs, then classified
    assert cli.main(["predict", "--model", "tfidf", "Прекрасный день"]) == 0
    out, err = capsys.readouterr()
    assert "model tfidf (data/models/tfidf.pkl, val macro-F1 0.6000)" in err and "-> positive" in out


def test_missing_model_names_the_stage(models_dir, capsys):
    (models_dir / "gru.pt").unlink()
    assert cli.main(["predict", "--model", "gru", "текст"]) == 2
    assert "checkpoint not found: data/models/gru.pt" in capsys.readouterr().err
    assert cli.main(["predict", "--model", "old_corpus", "текст"]) == 2  # a file in the folder, not a model
    assert "unknown model 'old_corpus': the pipeline's models (dvc.lock) are rnn, lstm, gru, tfidf" in capsys.readouterr().err
    for name in ("rnn.pt", "lstm.pt", "tfidf.pkl"):
        (models_dir / name).unlink()
    assert cli.main(["predict", "--model", "best", "текст"]) == 2
    assert "run `dvc repro`" in capsys.readouterr().err


def test_cli_prints_label_and_probabilities_per_text(models_dir, capsys):
    assert cli.main(["predict", "--model", "best", "Прекрасный день!", ""]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == '"Прекрасный день!"' and lines[2] == '""' and len(lines) == 4
    for line in (lines[1], lines[3]):
        label, *pairs = line.split()[1:]
        probs = dict(pair.split(":") for pair in " ".join(pairs).replace(": ", ":").split())
        assert label in CLASSES and list(probs) == CLASSES
        assert sum(map(float, probs.values())) == pytest.approx(1, abs=2e-3)
    assert "model lstm" in err  # `best` resolved to the highest validation macro-F1


def test_cli_csv_batch_keeps_input_columns_and_adds_predictions(models_dir, tmp_path):
    source, out = tmp_path / "in.csv", tmp_path / "preds.csv"
    pd.DataFrame({"text": TEXTS, "label": ["positive"] * len(TEXTS)}).to_csv(source, index=False)
    argv = ["predict", "--model", "gru", "--input", str(source), "--output", str(out)]
    assert cli.main(argv) == 0
    preds = pd.read_csv(out, keep_default_na=False)
    assert list(preds.columns) == ["text", "label", "predicted_label", "p_negative", "p_neutral", "p_positive"]
    assert preds["text"].tolist() == TEXTS and preds["label"].eq("positive").all()
    expected = Predictor(load_checkpoint(models_dir / "gru.pt")).table(TEXTS)["label"].tolist()
    assert preds["predicted_label"].tolist() == expected


def test_cli_takes_a_checkpoint_path_too(models_dir, capsys):
    assert cli.main(["predict", "--checkpoint", str(models_dir / "rnn.pt"), "день"]) == 0
    assert "model rnn" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["текст", "--input", "in.csv"], "not both"),
    ([], "give texts"),
    (["--input", "in.csv", "--text-column", "body"], "no column 'body' (columns: text)"),
    (["--input", "missing.csv"], "missing.csv"),
])
def test_cli_rejects_bad_input(models_dir, capsys, args, message):
    pd.DataFrame({"text": ["a"]}).to_csv("in.csv", index=False)
    assert cli.main(["predict", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnlab: error: ") and message in err
