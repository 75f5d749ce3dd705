"""`dvc repro` on the real RuSentiment from the mirror, with a small, fast params profile."""

from __future__ import annotations

import json

from rnnlab.config import PrepareConfig
from rnnlab.data.datasets import prepare, split_stats
from rnnlab.data.files import sha256_file
from rnnlab.params import NonNegativeInt, load_section

from .conftest import ROOT, base_model, make_repo, pipeline_env, run

SMALL_MODEL = {"embedding_dim": 32, "hidden_size": 32, "bidirectional": False, "pooling": "max", "embedding_dropout": 0.0,
               "dropout": 0.0}


def test_fast_profile_on_rusentiment(tmp_path, mirror):
    overrides = {
        "prepare.max_rows_per_split": 1500,
        "tfidf.char_ngrams": False,
        "tfidf.C": [1.0],
        "trainer.epochs": 2,
        "trainer.num_threads": 1,
        **{f"train.{m}": base_model(cell=m, **SMALL_MODEL) for m in ("rnn", "lstm", "gru")},
        "train_subword.lstm_subword.unseen_navec": False,  # the small lstm learns its word vectors from scratch
    }
    repo = make_repo(tmp_path, overrides)
    run(["dvc", "repro", "evaluate"], repo, pipeline_env(mirror))

    for file in ("rusentiment_random_posts.csv", "rusentiment_preselected_posts.csv", "rusentiment_test.csv"):
        assert sha256_file(repo / "data" / "raw" / "rusentiment" / file) == sha256_file(mirror / "rusentiment" / file)
    stats = json.loads((repo / "metrics" / "prepare.json").read_text())
    assert set(stats) == {"train", "val", "test"}
    assert all(sum(counts.values()) == 1500 for counts in stats.values())
    assert set(stats["test"]) == {"positive", "negative", "neutral"}
    metrics = json.loads((repo / "metrics" / "test.json").read_text())
    assert metrics["tfidf"]["macro_f1"] > metrics["majority"]["macro_f1"] + 0.2
    assert all(0 < metrics[m]["accuracy"] <= 1 for m in ("rnn", "lstm", "gru", "lstm_subword"))


def test_committed_split_counts_are_what_prepare_reproduces(mirror):
    """The committed metrics/prepare.json is what the default params give on the mirror."""
    params = ROOT / "params.yaml"
    frame = prepare(mirror, load_section(params, "prepare", PrepareConfig), load_section(params, "seed", NonNegativeInt))
    assert split_stats(frame) == json.loads((ROOT / "metrics" / "prepare.json").read_text())
