"""Stage tune_seeds on tiny features: the tune stage's fragment applied over `train` and `trainer`, one run per
seed into the metrics and MLflow, and a fragment with a key the model lacks refused by name."""

from __future__ import annotations

import copy
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import mlflow
import torch
from ruamel.yaml import YAML

from rnnlab.text.batching import EncodedSplit
from rnnlab.text.features import save_features
from rnnlab.text.vocab import Vocab
from tests.unit.test_config import REPO, write_params

ROOT = Path(__file__).resolve().parents[2]


def features(folder: Path) -> tuple[Path, Path]:
    """Texts of 3-6 filler words and one cue word per class: learnable in a few epochs."""
    gen = torch.Generator().manual_seed(0)
    itos = ("<pad>", "<unk>", "good", "bad", "meh", *(f"w{i}" for i in range(30)))
    splits = {}
    for name, n in (("train", 150), ("val", 45), ("test", 45)):
        labels = torch.arange(n) % 3
        lengths = torch.randint(4, 8, (n,), generator=gen)
        tokens = torch.randint(5, len(itos), (n, 7), generator=gen)
        tokens[torch.arange(7) >= lengths[:, None]] = 0
        tokens[torch.arange(n), torch.randint(0, 4, (n,), generator=gen)] = labels + 2
        splits[name] = EncodedSplit(tokens, lengths, labels)
    save_features(folder / "tensors.pt", splits, ["positive", "negative", "neutral"])
    Vocab(itos).save(folder / "vocab.json")
    return folder / "tensors.pt", folder / "vocab.json"


def run_stage(tmp_path: Path, fragment: dict) -> subprocess.CompletedProcess:
    params = copy.deepcopy(REPO)
    params["train"]["lstm"].update(embeddings="scratch", embedding_dim=16, hidden_size=16)
    params["trainer"].update(device="cpu", epochs=1, num_threads=1)
    params["seeds"] = [1, 2]
    tensors, vocab = features(tmp_path)
    best = tmp_path / "best.yaml"
    with best.open("w", encoding="utf-8") as f:
        YAML(typ="safe").dump(fragment, f)
    return subprocess.run(
        [sys.executable, "studies/tune/tune_seeds.py", "--params", str(path := write_params(tmp_path, params)),
         "--pipeline-params", str(path), "--best", str(best),
         "--vocab", str(vocab), "--tensors", str(tensors), "--metrics", str(tmp_path / "metrics.json"),
         "--run-record", str(tmp_path / "record.json"), "--state-dir", str(tmp_path / "state")],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)


def test_the_chosen_configuration_trains_once_per_seed(tmp_path):
    done = run_stage(tmp_path, {"train": {"lstm": {"cell": "gru", "hidden_size": 8}},
                                "trainer": {"epochs": 3, "batch_size": 16, "lr": 0.01}})
    assert done.returncode == 0, done.stderr[-3000:]

    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["model"] == "lstm"
    config = metrics["config"]
    assert (config["model.cell"], config["model.hidden_size"], config["model.embedding_dim"]) == ("gru", 8, 16)
    assert (config["trainer.epochs"], config["trainer.batch_size"], config["trainer.lr"]) == (3, 16, 0.01)
    rows = metrics["seeds"]
    assert [r["seed"] for r in rows] == [1, 2] and rows[0] != rows[1]
    f1 = [r["test_macro_f1"] for r in rows]
    assert metrics["test_macro_f1_mean"] == statistics.fmean(f1)
    assert metrics["test_macro_f1_std"] == statistics.stdev(f1)
    assert all(1 <= r["best_epoch"] <= 3 for r in rows)
    assert not (tmp_path / "state" / "tune_seeds").exists()  # the finished stage leaves no state behind

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["rnnlab-tune"], output_format="list")
    logged = {r.info.run_name: r.data.metrics["test_macro_f1"] for r in runs}
    assert logged == {"chosen-seed1": f1[0], "chosen-seed2": f1[1]}
    record = json.loads((tmp_path / "record.json").read_text(encoding="utf-8"))
    assert [r["run_id"] for r in record["runs"]] == [r.info.run_id for r in sorted(runs, key=lambda r: r.info.run_name)]


def test_a_fragment_key_the_model_lacks_is_refused_by_name(tmp_path):
    done = run_stage(tmp_path, {"train": {"lstm": {"cells": "gru"}}, "trainer": {}})
    assert done.returncode != 0
    assert "best.yaml" in done.stderr and "cells" in done.stderr
    assert not (tmp_path / "metrics.json").exists()
