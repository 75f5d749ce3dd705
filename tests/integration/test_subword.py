"""Character n-gram vectors in a recurrent classifier: the n-grams and the type table, what an unseen word reads, that
training reaches an unseen word through the n-grams it shares with training words, and stage subword end to end."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from rnnlab.classifiers.ngram import encode_types
from rnnlab.config import FeaturizeConfig, Variant
from rnnlab.models.subword import (
    SubwordEmbedding,
    char_ngrams,
    ngram_index,
    ngram_vocab,
    type_vocab,
)
from rnnlab.studies.zoo.subword import SubwordConfig
from rnnlab.text.features import featurize, save_features
from rnnlab.text.vocab import Vocab
from tests.unit.test_config import REPO

ROOT = Path(__file__).resolve().parents[2]
FEATURES = FeaturizeConfig(max_vocab=100, min_freq=1, max_len=10)
CFG = SubwordConfig(seeds=(1,), model="lstm", overrides=Variant(), ngram_low=2, ngram_high=3, min_count=2,
                    unseen_navec=False)


def test_char_ngrams_mark_the_word_boundaries():
    assert char_ngrams("кот", 2, 3) == ["<к", "ко", "от", "т>", "<ко", "кот", "от>"]
    assert char_ngrams(")", 2, 5) == ["<)", ")>", "<)>"]


def test_the_type_table_keeps_the_vocabulary_ids_and_counts_ngrams_on_training_tokens_only():
    vocab = Vocab(("<pad>", "<unk>", "кот", "кит"))
    types = type_vocab(vocab, [["кот", "кит", "котик"], ["ёж", "кот"]])
    assert types.itos == ("<pad>", "<unk>", "кот", "кит", "котик", "ёж")  # the rest sorted by code point
    ngrams = ngram_vocab([["кот", "кит"], ["котик"]], 2, 3, min_count=2)  # "<к" in 3 tokens; "ит", "ик" in 1
    assert set(ngrams) == {"<к", "<ко", "ко", "от", "кот", "т>"} and sorted(ngrams.values()) == list(range(1, 7))
    index = ngram_index(types.itos, ngrams, 2, 3)
    assert index[:2].eq(0).all() and index[5].eq(0).all()  # <pad>, <unk>, and "ёж" (none of its n-grams counted)
    kitten = sorted(ngrams[g] for g in char_ngrams("котик", 2, 3) if g in ngrams)
    assert sorted(index[4][index[4] > 0].tolist()) == kitten


def embedding(fixed_row: int | None = None) -> SubwordEmbedding:
    """Types: <pad> <unk> кот кит | котик ёж (the last two outside the 4-word vocabulary)."""
    itos = ("<pad>", "<unk>", "кот", "кит", "котик", "ёж")
    ngrams = ngram_vocab([["кот", "кит", "котик"]], 2, 3, min_count=1)
    fixed, has = torch.zeros(len(itos), 4), torch.zeros(len(itos), dtype=torch.bool)
    if fixed_row is not None:
        fixed[fixed_row], has[fixed_row] = torch.arange(4.0), True
    return SubwordEmbedding(nn.Embedding(4, 4, padding_idx=0), 4, ngram_index(itos, ngrams, 2, 3), len(ngrams),
                            fixed, has)


def test_a_type_reads_its_word_vector_navec_or_unk_and_the_ngrams_start_at_zero():
    layer = embedding(fixed_row=5)
    out = layer(torch.tensor([[2, 3, 4, 5, 0]]))  # (1, 5, 4)
    assert torch.equal(out[0, :2], layer.word.weight[2:4])  # vocabulary words: their own vectors, n-grams still zero
    assert torch.equal(out[0, 2], layer.word.weight[1])  # "котик": outside the vocabulary, no navec vector: <unk>
    assert torch.equal(out[0, 3], torch.arange(4.0))  # "ёж": navec's vector
    assert torch.equal(out[0, 4], torch.zeros(4))  # <pad>
    with pytest.raises(ValueError, match="6 types of n-grams, 5 fixed vectors"):
        SubwordEmbedding(nn.Embedding(4, 4), 4, layer.index, 3, layer.fixed[:5], layer.has_fixed[:5])


def test_training_on_vocabulary_words_changes_what_an_unseen_word_reads_through_shared_ngrams():
    layer = embedding()
    before = layer(torch.tensor([[4, 5]])).detach().clone()
    optimizer = torch.optim.SGD(layer.parameters(), lr=1.0)
    layer(torch.tensor([[2]])).sum().backward()  # "кот" only
    optimizer.step()
    after = layer(torch.tensor([[4, 5]]))
    assert not torch.equal(after[0, 0], before[0, 0])  # "котик" shares "<к", "<ко", "ко", "кот", "от" with "кот"
    assert torch.equal(after[0, 1], before[0, 1])  # "ёж" shares nothing


POSTS = {"positive": ["отлично классно :)", "очень хорошо !", "класс ))", "отличный день", "хорошо хорошо"],
         "negative": ["плохо ужасно (", "ужас (((", "очень плохо", "ужасный день", "плохо плохо"],
         "neutral": ["просто пост", "завтра будет день", "это пост", "будет завтра", "просто день"]}


def corpus() -> pd.DataFrame:
    rows = []
    for label, posts in POSTS.items():
        for i, post in enumerate(posts * 4):
            rows.append({"tokens": post, "label": label, "split": "train" if i < 14 else "val" if i < 17 else "test"})
    rows.append({"tokens": "отличнейший классный", "label": "positive", "split": "test"})  # both words unseen
    return pd.DataFrame(rows)


def test_encode_types_gives_unseen_test_words_ids_of_their_own_and_refuses_an_unknown_label():
    frame = corpus()
    vocab, _, classes = featurize(frame, FEATURES)
    data = encode_types(frame, vocab, classes, CFG, max_len=10)
    last = data.splits["test"].tokens[-1, :2]
    assert data.types.itos[: len(vocab)] == vocab.itos and all(i >= len(vocab) for i in last.tolist())
    assert data.types.decode(last.tolist()) == ["отличнейший", "классный"]
    assert data.index[last].gt(0).any()  # "<от", "отл", "кл", ... were seen in training
    bad = frame.copy()
    bad.loc[3, "label"] = "speech"
    with pytest.raises(ValueError, match="row 3: label 'speech'"):
        encode_types(bad, vocab, classes, CFG, max_len=10)


def test_the_stage_trains_both_arms_at_every_seed_and_reports_them_beside_tfidf(tmp_path):
    frame = corpus()
    frame.to_csv(tmp_path / "corpus.csv", index=False)
    vocab, splits, classes = featurize(frame, FEATURES)
    vocab.save(tmp_path / "vocab.json")
    save_features(tmp_path / "tensors.pt", splits, classes)
    params = copy.deepcopy(REPO)  # the main pipeline's params and the zoo's, in one file for both arguments
    params["subword"] = {**params["subword"], "seeds": [1, 2],  # navec's 300-d vectors, a small LSTM, 2 epochs
                         "overrides": {"model": {"hidden_size": 8}, "trainer": {"device": "cpu", "epochs": 2}}}
    params["tfidf"]["min_df"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    args = [sys.executable, str(ROOT / "studies" / "zoo" / "subword.py"), "--params", str(tmp_path / "params.yaml"),
            "--pipeline-params", str(tmp_path / "params.yaml"), "--preprocessed", str(tmp_path / "corpus.csv"), "--vocab", str(tmp_path / "vocab.json"),
            "--tensors", str(tmp_path / "tensors.pt"), "--metrics", str(tmp_path / "subword.json"),
            "--report", str(tmp_path / "subword.md"), "--run-record", str(tmp_path / "runs.json"),
            "--state-dir", str(tmp_path / "state")]
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "subword.json").read_text())
    assert metrics["types"] == len(vocab) + 2 and metrics["vocabulary"] == len(vocab)
    for arm in ("words", "subwords", "words_offsets", "subwords_offsets"):
        assert [r["seed"] for r in metrics[arm]["seeds"]] == [1, 2]
        assert all(0 <= r["test_macro_f1"] <= 1 for r in metrics[arm]["seeds"])
    for arm in ("words", "subwords"):  # one network, two decision rules: the same best epoch and validation score
        for argmax, offsets in zip(metrics[arm]["seeds"], metrics[arm + "_offsets"]["seeds"], strict=True):
            assert argmax["val_macro_f1"] == offsets["val_macro_f1"] and len(offsets["offsets"]) == 3
            assert offsets["offsets"][0] == 0.0 and all(-3 <= o <= 3 for o in offsets["offsets"])
    assert metrics["tfidf_offsets"]["C"] == metrics["tfidf"]["C"] and len(metrics["tfidf_offsets"]["offsets"]) == 3
    report = (tmp_path / "subword.md").read_text(encoding="utf-8")
    for arm in ("subwords", "subwords_offsets"):
        assert f"{metrics[arm]['test_macro_f1_mean']:.4f} ± {metrics[arm]['test_macro_f1_std']:.4f}" in report
    assert ("falls short of the target" in report) == (max(
        metrics["subwords"]["test_macro_f1_mean"], metrics["subwords_offsets"]["test_macro_f1_mean"]
    ) < metrics["tfidf"]["test_macro_f1"] + 0.01)
    records = json.loads((tmp_path / "runs.json").read_text())["runs"]
    assert [(r["arm"], r["seed"]) for r in records] == [("words", 1), ("subwords", 1), ("words", 2), ("subwords", 2)]
    assert not (tmp_path / "state" / "subword").exists()
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["rnnlab-zoo"], output_format="list")
    assert sorted((r.data.tags["subword.arm"], r.data.params["seed"]) for r in runs) == sorted(
        (arm, str(s)) for arm in ("words", "subwords") for s in (1, 2))
    assert all(r.data.params["model.hidden_size"] == "8" and r.data.params["trainer.epochs"] == "2" for r in runs)
    assert "changed by `model.hidden_size: 8`, `trainer.device: cpu`, `trainer.epochs: 2`" in report
    subwords = [r for r in runs if r.data.tags["subword.arm"] == "subwords"]
    assert all(r.data.params["subword.n_ngrams"] == str(metrics["ngrams"]) for r in subwords)
    assert all(r.data.metrics["subword_unseen_navec"] == 0.5 for r in subwords)  # "отличнейший" no, "классный" yes
    offsets = {(r.data.tags["subword.arm"], r.data.params["seed"]): [
        float(r.data.params[f"decision_offset.{c}"]) for c in classes] for r in runs}
    assert offsets == {(arm, str(row["seed"])): row["offsets"] for arm in ("words", "subwords")
                       for row in metrics[arm + "_offsets"]["seeds"]}

    params["train"]["lstm"]["embeddings"] = "scratch"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "train.lstm.embeddings must be navec, not 'scratch'" in proc.stderr
    params["subword"]["model"] = "transformer"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "subword.model 'transformer' is not a `train` entry" in proc.stderr
