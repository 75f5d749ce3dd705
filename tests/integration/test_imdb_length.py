"""Stage imdb_length end to end on a tiny IMDB-like corpus: four settings, each trained in a process of its own,
into the metrics, the report, the plot and one MLflow run each."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow

from rnnlab.data.imdb import read_imdb, sample_imdb
from rnnlab.studies.imdb.length import tokenize_reviews
from tests.imdb_fixture import write_imdb
from tests.unit.test_config import REPO, write_params
from tests.unit.test_imdb_length import STUDY

ROOT = Path(__file__).resolve().parents[2]


def test_the_stage_writes_every_setting_into_metrics_report_plot_and_mlflow(tmp_path):
    raw = write_imdb(tmp_path / "raw", 80, 40)
    params = copy.deepcopy(REPO)
    params["imdb_length"] = {**copy.deepcopy(STUDY), "train_reviews": 60, "test_reviews": 30,
                             "trainer": {**STUDY["trainer"], "lr": 0.05, "epochs": 3, "patience": 3}}
    path = write_params(tmp_path, params)
    out = {name: tmp_path / name for name in ("metrics.json", "length.md", "length.png", "run.json", "run.md")}
    done = subprocess.run(
        [sys.executable, "studies/imdb/imdb_length.py", "--params", str(path), "--raw", str(raw), "--metrics",
         str(out["metrics.json"]), "--report", str(out["length.md"]), "--plot", str(out["length.png"]),
         "--run-record", str(out["run.json"]), "--state-dir", str(tmp_path / "state")],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    metrics = json.loads(out["metrics.json"].read_text(encoding="utf-8"))
    assert metrics["reviews"] == {"train": 48, "val": 12, "test": 30}
    settings = metrics["settings"]
    assert list(settings) == ["len_5", "len_10", "len_20", "full"]
    tokens = [row["tokens_per_epoch"] for row in settings.values()]
    assert tokens == sorted(tokens) and len(set(tokens)) == 4  # more kept, more read
    frame = sample_imdb(read_imdb(raw), 60, 30, 0.2, seed=params["seed"])
    whole = [len(doc) for doc in tokenize_reviews(frame.loc[frame["split"] == "train", "text"].tolist())]
    assert tokens == [sum(min(n, cut) for n in whole) for cut in (5, 10, 20)] + [sum(whole)]  # full: every token
    assert settings["full"]["truncated_share"] == 0.0 and settings["len_5"]["truncated_share"] > 0.9
    for row in settings.values():
        assert 0.0 <= row["test_macro_f1"] <= 1.0 and 0.0 <= row["test_accuracy"] <= 1.0
        assert row["epochs"] == 3 and not {"mean_epoch_seconds", "peak_memory_mib", "run_id"} & set(row)
    assert settings["full"]["test_accuracy"] >= 0.8  # the sentiment word leads every review: it is learned
    costs = json.loads(out["run.json"].read_text(encoding="utf-8"))  # what is measured, not reproduced
    assert costs["device"] == "cpu" and "fresh process" in costs["peak_memory"]
    assert list(costs["settings"]) == list(settings)
    assert all(c["mean_epoch_seconds"] > 0 and c["peak_memory_mib"] >= 0 for c in costs["settings"].values())
    assert "| full length |" in out["run.md"].read_text(encoding="utf-8")
    assert "seconds" not in out["metrics.json"].read_text(encoding="utf-8")

    report = out["length.md"].read_text(encoding="utf-8")
    for label in ("| 5 tokens |", "| 10 tokens |", "| 20 tokens |", "| full length |"):
        assert label in report
    assert out["length.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "state" / "imdb_length").exists()  # the finished stage leaves no state behind

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["rnnlab-imdb-length"])
    assert sorted(runs["tags.mlflow.runName"]) == ["imdb-full", "imdb-len_10", "imdb-len_20", "imdb-len_5"]
    assert set(runs["status"]) == {"FINISHED"}
    assert sorted(runs["run_id"]) == sorted(c["run_id"] for c in costs["settings"].values())
    by_name = runs.set_index("tags.mlflow.runName")
    assert by_name.loc["imdb-full", "metrics.test_accuracy"] == settings["full"]["test_accuracy"]
