"""ULMFiT's forward and backward classifiers and their average on tiny data: the average of probabilities, rows
that must align, the backward classifier's reversed texts, and stage ulmfit_bidirectional end to end (its forward
half is stage ulmfit's classifier, its MLflow runs link the average to its two classifiers)."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
import torch
import yaml

from rnnlab.studies.pretraining.backward import DIRECTION, reverse_texts
from rnnlab.studies.pretraining.bidirectional import (
    average_probabilities,
    averaged_row,
    direction_frame,
)
from rnnlab.studies.pretraining.lm import LMVocabConfig, pretrain
from rnnlab.text.batching import EncodedSplit
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.tracking import MemoryTracker
from tests.integration.test_ablation import run_stage, tiny_classifier_params
from tests.integration.test_pretraining import MODEL, TEXT, corpus, labelled, stage

CLASSES = ["negative", "neutral", "positive"]


def split(labels: list[int]) -> EncodedSplit:
    n = len(labels)
    return EncodedSplit(torch.ones(n, 2, dtype=torch.long), torch.full((n,), 2), torch.tensor(labels))


def test_the_average_is_the_mean_of_probabilities_so_the_more_confident_direction_wins():
    forward = torch.tensor([[0.3, 0.0, 0.0], [0.0, 4.0, 0.0]])  # row 0: class 0 by a little; row 1: class 1, sure
    backward = torch.tensor([[0.0, 0.0, 3.0], [0.0, 0.0, 0.5]])  # row 0: class 2, sure; row 1: class 2 by a little
    average = average_probabilities([forward, backward])
    assert torch.allclose(average, (forward.softmax(1) + backward.softmax(1)) / 2)
    assert average.argmax(1).tolist() == [2, 1] and torch.allclose(average.sum(1), torch.ones(2))
    with pytest.raises(ValueError, match="same rows"):
        average_probabilities([forward, backward[:1]])


def test_the_averaged_row_scores_the_average_and_refuses_rows_that_do_not_align():
    labels = {"val": [2, 1, 0], "test": [2, 0, 0]}
    splits = {d: {s: split(labels[s]) for s in labels} for d in ("forward", "backward")}
    logits = {"forward": {s: torch.tensor([[0.3, 0.0, 0.0], [0.0, 4.0, 0.0], [2.0, 0.0, 0.0]]) for s in labels},
              "backward": {s: torch.tensor([[0.0, 0.0, 3.0], [0.0, 0.0, 0.5], [1.0, 0.0, 0.0]]) for s in labels}}
    row, test = averaged_row(7, logits, splits, CLASSES)  # predicts [2, 1, 0]: val all right, test 2 of 3
    assert row == {"seed": 7, "val_macro_f1": 1.0, "test_macro_f1": test["macro_f1"], "test_accuracy": 2 / 3}
    assert test["confusion"] == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    splits["backward"]["test"] = split([0, 2, 0])
    with pytest.raises(ValueError, match="test split's labels differ"):
        averaged_row(7, logits, splits, CLASSES)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bidirectional")
    vocab = LMVocabConfig(max_size=100, min_freq=1)
    forward, _ = pretrain(corpus(), TEXT, vocab, MODEL, stage(15), MemoryTracker(), seed=0)
    documents = corpus()
    backward, _ = pretrain(documents.assign(text=reverse_texts(documents["text"].tolist(), TEXT)), TEXT, vocab, MODEL,
                           stage(15), MemoryTracker(), seed=0)
    backward.meta[DIRECTION] = "backward"
    save_checkpoint(folder / "forward.pt", forward)
    save_checkpoint(folder / "backward.pt", backward)
    labelled().to_csv(folder / "corpus.csv", index=False)
    (folder / "params.yaml").write_text(yaml.safe_dump(tiny_classifier_params(), allow_unicode=True, sort_keys=False),
                                        encoding="utf-8")
    return folder


def test_the_backward_classifier_reads_each_text_reversed(folder):
    frame = pd.read_csv(folder / "corpus.csv", dtype=str, keep_default_na=False)
    forward, backward = (load_checkpoint(folder / f"{d}.pt", kind="awd_lm") for d in ("forward", "backward"))
    assert direction_frame(frame, forward).equals(frame)
    reversed_frame = direction_frame(frame, backward)
    assert reversed_frame["text"].tolist() == reverse_texts(frame["text"].tolist(), TEXT)
    assert reversed_frame[["label", "split"]].equals(frame[["label", "split"]])
    assert reversed_frame["text"].tolist() != frame["text"].tolist()


def test_the_stage_trains_both_directions_at_every_seed_and_averages_them(folder):
    proc = run_stage("ulmfit_bidirectional", folder, "--forward", str(folder / "forward.pt"),
                     "--backward", str(folder / "backward.pt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((folder / "ulmfit_bidirectional.json").read_text())
    assert metrics["classes"] == CLASSES and set(metrics) == {"classes", "forward", "backward", "average"}
    for name in ("forward", "backward", "average"):
        assert [r["seed"] for r in metrics[name]["seeds"]] == [1, 2]
        assert metrics[name]["test_macro_f1_mean"] == pytest.approx(
            sum(r["test_macro_f1"] for r in metrics[name]["seeds"]) / 2)
    assert not (folder / "state" / "ulmfit_bidirectional").exists()

    # the forward half is stage ulmfit's classifier, trained the same
    proc = run_stage("ulmfit", folder, "--lm", str(folder / "forward.pt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((folder / "ulmfit.json").read_text())["seeds"] == metrics["forward"]["seeds"]

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    logged = mlflow.search_runs(experiment_names=["rnnlab-pretraining"], output_format="list")
    runs = {r.info.run_name: r for r in logged if r.data.tags.get("ablation.step") == "bidirectional"}
    names = [f"bidirectional-{d}-seed{s}" for d in ("forward", "backward", "average") for s in (1, 2)]
    assert sorted(runs) == sorted(names)
    for seed, row in zip((1, 2), metrics["average"]["seeds"], strict=True):
        average = runs[f"bidirectional-average-seed{seed}"]
        assert average.data.metrics["test_macro_f1"] == row["test_macro_f1"]
        for d in ("forward", "backward"):
            assert average.data.tags[f"{d}_run_id"] == runs[f"bidirectional-{d}-seed{seed}"].info.run_id
            assert runs[f"bidirectional-{d}-seed{seed}"].data.params[DIRECTION] == d
    records = json.loads((folder / "ulmfit_bidirectional_runs.json").read_text())["runs"]
    assert [(r["direction"], r["seed"]) for r in records] == [
        (d, s) for s in (1, 2) for d in ("forward", "backward", "average")]


def test_a_language_model_of_the_wrong_direction_is_refused_by_name(folder):
    for forward, backward, named, is_, needed in [("backward", "backward", "backward", "backward", "forward"),
                                                  ("forward", "forward", "forward", "forward", "backward")]:
        proc = run_stage("ulmfit_bidirectional", folder, "--forward", str(folder / f"{forward}.pt"),
                         "--backward", str(folder / f"{backward}.pt"), "--state-dir", str(folder / "refused"))
        assert proc.returncode != 0
        assert f"{folder / named}.pt: a {is_} language model where a {needed} one is needed" in proc.stderr
        assert not (folder / "refused").exists()  # refused before any training state
