"""RuSentiment's 5-class task: splits built around the 3-class corpus the language model read, no validation or
test text in the language model's corpus, weighted F1, and the stage on tiny data."""

import copy
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from sklearn.metrics import f1_score

from rnnlab.data.datasets import clean
from rnnlab.studies.pretraining.five_class import (
    FiveClassConfig,
    LeakError,
    check_no_leak,
    five_class_corpus,
    weighted_f1,
)
from rnnlab.studies.pretraining.lm import LMVocabConfig, pretrain
from rnnlab.training.checkpoint import save_checkpoint
from rnnlab.training.metrics import score
from rnnlab.training.tracking import MemoryTracker
from tests.integration.test_ablation import ROOT
from tests.integration.test_pretraining import MODEL, PHRASES, SENTIMENT, TEXT, stage
from tests.unit.test_config import REPO

FIVE = FiveClassConfig(label_map={k: k for k in ("positive", "negative", "neutral", "speech", "skip")}, val_size=0.25)
EXTRA = {"speech": "с днём рождения", "skip": "репост если согласен"}


def raw_rows(n_train=20, n_test=4):
    texts = SENTIMENT | EXTRA
    rows = [(f"{texts[label]} {PHRASES[i % 4]} {split}{i}", label, split) for split, n in (("train", n_train), ("test", n_test))
            for i in range(n) for label in sorted(texts)]
    return pd.DataFrame(rows, columns=["text", "label", "split"])


def three_class(raw):
    """The 3-class corpus as prepare makes it: speech and skip dropped, a quarter of training carved out."""
    three = clean(raw, {k: k for k in SENTIMENT})
    train = three.index[three["split"] == "train"]
    three.loc[train[::4], "split"] = "val"
    return three


def test_the_splits_keep_the_official_test_and_the_3_class_validation_and_carve_the_new_labels():
    raw = raw_rows()
    three = three_class(raw)
    five = five_class_corpus(raw, three, FIVE, seed=0)
    assert set(five["label"]) == set(FIVE.label_map)
    assert set(five.loc[five["split"] == "test", "text"]) == set(raw.loc[raw["split"] == "test", "text"])
    three_split = dict(zip(three["text"], three["split"]))
    shared = five[five["label"].isin(SENTIMENT)]
    assert (shared["split"] == shared["text"].map(three_split)).all()  # the language model's training texts stay train
    new = five[(five["label"].isin(EXTRA)) & (five["split"] != "test")]
    assert new.groupby("label")["split"].apply(lambda s: (s == "val").sum()).to_dict() == {"skip": 5, "speech": 5}
    assert five_class_corpus(raw, three, FIVE, seed=0).equals(five)


def test_a_validation_or_test_text_in_the_language_models_corpus_is_refused():
    raw = raw_rows()
    five = five_class_corpus(raw, three_class(raw), FIVE, seed=0)
    check_no_leak(five, five.loc[five["split"] == "train", "text"], "lm.csv")
    test_text = five.loc[five["split"] == "test", "text"].iloc[0]
    with pytest.raises(LeakError, match=r"lm.csv: 1 validation or test texts .* are in the language model's corpus"):
        check_no_leak(five, pd.Series(["другое", test_text]), "lm.csv")


def test_weighted_f1_is_scikit_learns():
    truth, predicted = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3], [0, 1, 0, 1, 2, 2, 2, 0, 2, 3]
    scores = score(truth, predicted, ["a", "b", "c", "d"])
    assert weighted_f1(scores) == pytest.approx(f1_score(truth, predicted, average="weighted"))
    assert weighted_f1(scores) != pytest.approx(scores["macro_f1"])


def test_the_stage_trains_the_recipe_on_five_labels(tmp_path):
    raw = raw_rows(n_train=12, n_test=3)
    (tmp_path / "raw" / "rusentiment").mkdir(parents=True)
    for name, split in (("random_posts", "train"), ("preselected_posts", None), ("test", "test")):
        part = raw[raw["split"] == split] if split else raw.iloc[:0]
        part[["label", "text"]].to_csv(tmp_path / "raw" / "rusentiment" / f"rusentiment_{name}.csv", index=False)
    three = three_class(raw)
    three.to_csv(tmp_path / "corpus.csv", index=False)
    texts = three.loc[three["split"] == "train", "text"].tolist()
    lm_corpus = pd.DataFrame({"text": texts, "source": "target",
                              "split": ["val" if i % 5 == 0 else "train" for i in range(len(texts))]})
    lm_corpus.to_csv(tmp_path / "lm.csv", index=False)
    lm, _ = pretrain(lm_corpus, TEXT, LMVocabConfig(max_size=200, min_freq=1), MODEL, stage(9), MemoryTracker(), seed=0)
    save_checkpoint(tmp_path / "lm.pt", lm)
    params = copy.deepcopy(REPO)  # every params file's sections in one file, for both arguments
    trainer = {**params["lm"]["classifier"]["trainer"], "device": "cpu", "epochs": 2, "batch_size": 8, "num_threads": 1}
    params["lm"]["classifier"] = {**params["lm"]["classifier"], "seeds": [1, 2], "max_len": 20, "trainer": trainer}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    proc = subprocess.run([sys.executable, str(ROOT / "studies" / "pretraining" / "ulmfit_5class.py"), "--params", "params.yaml",
                           "--pipeline-params", "params.yaml",
                           "--raw", "raw", "--prepared", "corpus.csv", "--lm", "lm.pt", "--lm-corpus", "lm.csv",
                           "--metrics", "five.json", "--run-record", "runs.json", "--state-dir", "state"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "five.json").read_text())
    assert metrics["classes"] == sorted(FIVE.label_map) and [r["seed"] for r in metrics["seeds"]] == [1, 2]
    assert sum(metrics["rows"]["test"].values()) == 15 and set(metrics["rows"]["val"]) == set(FIVE.label_map)
    assert all(0 <= r["test_weighted_f1"] <= 1 for r in metrics["seeds"])
    assert metrics["test_weighted_f1_mean"] == pytest.approx(sum(r["test_weighted_f1"] for r in metrics["seeds"]) / 2)
