"""`rnnlab predict`: raw text through the training preprocessing, model choice, CLI output and errors."""

import dataclasses

import pandas as pd
import pytest
import torch

from rnnlab import cli
from rnnlab.batching import encode_split
from rnnlab.checkpoint import Classifier, load_checkpoint, save_checkpoint
from rnnlab.config import ModelConfig, PreprocessConfig
from rnnlab.models import build_model
from rnnlab.predict import Predictor, resolve_model
from rnnlab.preprocessing import preprocess_texts
from rnnlab.training import predict_logits
from rnnlab.vocab import PAD, UNK, Vocab

CLASSES = ["negative", "neutral", "positive"]
VOCAB = Vocab((PAD, UNK, "xxnum", "год", "прекрасный", "день", "!!!", "ужасный", "обслуживание", ":("))
STOPWORDS = ["был", "в", "и"]
MAX_LEN = 6
TEXTS = ["И в 2024 году был прекрасный день!!!", "Ужасное обслуживание :(", "", "hello world", "день " * 20]


def classifier(name: str = "lstm", val_macro_f1: float = 0.5, seed: int = 0, **preprocess) -> Classifier:
    torch.manual_seed(seed)
    cfg = ModelConfig(cell="lstm", embedding_dim=8, hidden_size=6, bidirectional=True, pooling="max")
    meta = {"name": name, "run_id": f"run-{name}", "val_macro_f1": val_macro_f1, "stopwords": STOPWORDS}
    return Classifier(build_model(cfg, len(VOCAB), len(CLASSES)).eval(), cfg, VOCAB, CLASSES,
                      PreprocessConfig(**{"remove_stopwords": True, **preprocess}), MAX_LEN, meta)


@pytest.fixture
def models_dir(tmp_path):
    for i, (name, score) in enumerate({"rnn": 0.51, "lstm": 0.64, "gru": 0.62}.items()):
        save_checkpoint(tmp_path / f"{name}.pt", classifier(name, score, seed=i))
    torch.save({"weights": torch.zeros(2)}, tmp_path / "not_a_classifier.pt")
    return tmp_path


def test_tokens_follow_the_checkpoint_preprocessing():
    tokens = Predictor(classifier()).tokens(TEXTS[:4])
    # stopwords from the checkpoint dropped, number replaced, words lemmatised, !!! kept as one token
    assert tokens == [["xxnum", "год", "прекрасный", "день", "!!!"], ["ужасный", "обслуживание", ":("], [],
                      ["hello", "world"]]


def test_probabilities_equal_the_training_path(tmp_path):
    save_checkpoint(tmp_path / "lstm.pt", classifier())
    clf = load_checkpoint(tmp_path / "lstm.pt")
    # preprocess stage: tokens joined by spaces in a CSV; featurize: split and encoded with max_len
    joined = preprocess_texts(TEXTS, clf.preprocess, frozenset(STOPWORDS))
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


def test_missing_stopword_list_names_the_stage_to_rerun():
    clf = classifier()
    clf.meta.pop("stopwords")
    with pytest.raises(ValueError, match=r"dvc repro train@lstm"):
        Predictor(clf)
    assert Predictor(dataclasses.replace(clf, preprocess=PreprocessConfig(remove_stopwords=False))).stopwords == set()


def test_best_is_the_highest_validation_macro_f1(models_dir):
    assert resolve_model(models_dir, "best") == models_dir / "lstm.pt"
    assert resolve_model(models_dir, "gru") == models_dir / "gru.pt"


def test_missing_model_names_the_stage(tmp_path, capsys):
    assert cli.main(["predict", "--model", "gru", "--models-dir", str(tmp_path), "текст"]) == 2
    assert f"no trained model at {tmp_path / 'gru.pt'}: run `dvc repro train@gru`" in capsys.readouterr().err
    assert cli.main(["predict", "--model", "best", "--models-dir", str(tmp_path), "текст"]) == 2
    assert "run `dvc repro train`" in capsys.readouterr().err


def test_cli_prints_label_and_probabilities_per_text(models_dir, capsys):
    assert cli.main(["predict", "--model", "best", "--models-dir", str(models_dir), "Прекрасный день!", ""]) == 0
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
    argv = ["predict", "--model", "gru", "--models-dir", str(models_dir), "--input", str(source), "--output", str(out)]
    assert cli.main(argv) == 0
    preds = pd.read_csv(out, keep_default_na=False)
    assert list(preds.columns) == ["text", "label", "predicted_label", "p_negative", "p_neutral", "p_positive"]
    assert preds["text"].tolist() == TEXTS and preds["label"].eq("positive").all()
    expected = Predictor(load_checkpoint(models_dir / "gru.pt")).table(TEXTS)["label"].tolist()
    assert preds["predicted_label"].tolist() == expected


@pytest.mark.parametrize("args, message", [
    (["текст", "--input", "in.csv"], "not both"),
    ([], "give texts"),
    (["--input", "in.csv", "--text-column", "body"], "no column 'body' (columns: text)"),
    (["--input", "missing.csv"], "missing.csv"),
])
def test_cli_rejects_bad_input(models_dir, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"text": ["a"]}).to_csv("in.csv", index=False)
    assert cli.main(["predict", "--models-dir", str(models_dir), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnlab: error: ") and message in err
