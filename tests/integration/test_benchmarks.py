"""The benchmark scripts run on a tiny corpus written here and write well-formed results (no timings asserted)."""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import math
import random
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from rnnlab.config import FeaturizeConfig, ModelConfig, PrepareConfig
from rnnlab.data.datasets import prepare
from rnnlab.params import NonNegativeInt, load_section, read_params
from rnnlab.text.features import featurize, save_features
from rnnlab.text.preprocessing import preprocess_texts
from rnnlab.text.tokenizer import load_stopwords
from tests.configs import text_config

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
WORDS = {
    "positive": ["прекрасный", "отличная", "люблю", "радуюсь", "спасибо", ")))"],
    "negative": ["ужасный", "плохая", "ненавижу", "грустно", "обидно", "((("],
    "neutral": ["вторник", "автобусы", "отчёт", "улицы", "погода", "таблицы"],
}
FILLER = ["сегодня", "мы", "городе", "вечером", "работали", "дома", "кино", "друзья", "ходили"]
ENGLISH = ["great", "awful", "movie", "plot", "actors", "boring", "loved", "the", "was", "and"]
MACHINE_KEYS = {"cpu", "logical_cores", "ram_gib", "torch", "device", "torch_threads", "load_average_at_start"}
ROW_KEYS = {"what", "how", "value", "unit", "baseline", "ratio", "device", "details"}


def texts(n: int, seed: int) -> pd.DataFrame:
    """Prepared-corpus rows: a cue word among filler words, three labels, three splits."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = list(WORDS)[i % 3]
        words = rng.sample(FILLER, 4) + [rng.choice(WORDS[label])]
        rng.shuffle(words)
        rows.append({"text": " ".join(words) + f" {i}", "label": label, "split": ("train", "train", "val", "test")[i % 4]})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """A prepared CSV, stopwords, tensors + vocab, a params file, two gzipped IMDB-like files, a local corpus."""
    root = tmp_path_factory.mktemp("bench_data")
    frame = texts(240, 0)
    frame.to_csv(root / "prepared.csv", index=False)
    frame[["text", "label"]].to_csv(root / "local.csv", index=False)
    stopwords = root / "nltk_data" / "corpora" / "stopwords"
    stopwords.mkdir(parents=True)
    (stopwords / "russian").write_text("и\nв\nне\nмы\n", encoding="utf-8")
    docs = preprocess_texts(frame["text"], text_config(remove_stopwords=False), load_stopwords(root / "nltk_data", True))
    featurizing = FeaturizeConfig(max_vocab=30000, min_freq=1, max_len=20)
    vocab, splits, classes = featurize(frame.assign(tokens=docs), featurizing)
    vocab.save(root / "vocab.json")
    save_features(root / "tensors.pt", splits, classes)
    imdb = root / "imdb"
    imdb.mkdir()
    rng = random.Random(1)
    for split in ("train", "test"):
        reviews = pd.DataFrame({"id": [f"{split}_{i}" for i in range(60)], "rating": ["7"] * 60,
                                "label": ["pos", "neg"] * 30,
                                "text": [" ".join(rng.choices(ENGLISH, k=30)) + " <br />" for _ in range(60)]})
        with gzip.open(imdb / f"imdb_{split}.csv.gz", "wt", encoding="utf-8") as f:
            reviews.to_csv(f, index=False)
    params = (ROOT / "params.yaml").read_text(encoding="utf-8")
    (root / "params.yaml").write_text(params, encoding="utf-8")
    return {"root": root, "prepared": root / "prepared.csv", "nltk": root / "nltk_data", "tensors": root / "tensors.pt",
            "vocab": root / "vocab.json", "imdb": imdb, "local": root / "local.csv", "params": root / "params.yaml"}


def run_script(name: str, out: Path, *args: str) -> dict:
    """Run benchmarks/<name> --quick --out <out>; return the parsed results.json."""
    cmd = [sys.executable, str(BENCH / name), "--quick", "--out", str(out), *args]
    # from the output folder: MLflow's artifacts (./mlruns) and anything else relative land there, not in the checkout
    proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def check_section(results: dict, name: str, out: Path) -> list[dict]:
    """Machine facts, rows with every key, ratios positive numbers, and the markdown table for the section."""
    section = results["sections"][name]
    assert MACHINE_KEYS <= set(section["machine"])
    assert section["machine"]["logical_cores"] >= 1 and section["machine"]["torch"]
    assert section["rows"] and section["notes"]
    for row in section["rows"]:
        assert ROW_KEYS <= set(row), row
        assert row["ratio"] is None or (isinstance(row["ratio"], float) and math.isfinite(row["ratio"]) and row["ratio"] > 0), row
        assert row["value"] is not None or row.get("note"), f"a row without a value must say why: {row}"
        if "target" in row:
            assert row["met"] == (row["ratio"] is not None and row["ratio"] >= row["target"] and all(row["requires"].values()))
    markdown = (out / "results.md").read_text(encoding="utf-8")
    assert f"## {section['title']}" in markdown
    assert section["machine"]["cpu"] in markdown
    for table in tables(markdown):
        assert len({len(cells) for cells in table}) == 1, table  # every row as wide as the header
    assert len(section["rows"]) == sum(1 for t in tables(markdown) for cells in t if cells[0] in titles(section)) > 0
    return section["rows"]


def tables(markdown: str) -> list[list[list[str]]]:
    """Markdown tables as lists of rows of cells (escaped pipes stay inside a cell); separator rows dropped."""
    found, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(c) <= {"-"} for c in cells):
                current.append(cells)
        elif current:
            found, current = found + [current], []
    return found


def titles(section: dict) -> set[str]:
    return {r["what"].replace("|", "\\|") for r in section["rows"]}


def by_what(rows: list[dict], start: str) -> dict:
    matches = [r for r in rows if r["what"].startswith(start)]
    assert matches, f"no row starting {start!r}"
    return matches[0]


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """One results folder shared by the scripts, as `make bench` shares benchmarks/."""
    return tmp_path_factory.mktemp("bench_out")


def test_preprocess_benchmark_checks_identical_lemmas(tiny, out):
    results = run_script("bench_preprocess.py", out, "--prepared", str(tiny["prepared"]), "--nltk-data", str(tiny["nltk"]),
                         "--params", str(tiny["params"]))
    rows = check_section(results, "preprocess", out)
    head = by_what(rows, "preprocess_texts vs naive, first 240 texts, first run")
    assert head["target"] == 30.0 and head["unit"] == "tokens/s" and head["ratio"] > 0
    assert head["details"]["texts"] == 240 and head["details"]["tokens"] > 240
    rerun = by_what(rows, "preprocess_texts vs naive, rerun")
    assert rerun["details"]["cached_lemmas"] == head["details"]["distinct_tokens"]  # the first run filled the cache
    assert by_what(rows, "first run vs naive with pymorphy3[fast]")["details"]["extension_speedup_of_naive"] > 0
    identical = by_what(rows, "identical lemmas")
    assert identical["details"]["identical"] is True and identical["value"] == 100.0
    assert by_what(rows, "preprocess stage end to end")["details"]["peak_rss_mib"] > 0


def test_training_benchmark_covers_every_batching_and_says_where_gpu_is_missing(tiny, out):
    results = run_script("bench_training.py", out, "--tensors", str(tiny["tensors"]), "--vocab", str(tiny["vocab"]))
    rows = check_section(results, "training", out)
    for cell in ("rnn", "lstm", "gru"):
        assert {by_what(rows, f"{cell} {b}")["unit"] for b in ("fixed", "packed", "bucketed")} == {"seq/s"}
    bucketed = by_what(rows, "lstm length-bucketed")
    assert bucketed["target"] == 1.5 and 0.0 <= bucketed["details"]["val_macro_f1_best"] <= 1.0
    assert list(bucketed["requires"]) == ["val macro-F1 equal or better (within 0.01)"]
    assert len(bucketed["details"]["f1_by_epoch"].split()) == 2  # --quick trains 2 epochs
    assert len(bucketed["details"]["val_macro_f1_best_by_seed"].split()) == 2  # over 2 seeds
    assert by_what(rows, "lstm_loop bucketed")["ratio"] > 0 and by_what(rows, "weight_drop_lstm bucketed")["ratio"] > 0
    assert by_what(rows, "lstm bucketed, autocast bfloat16")["device"].startswith(("cpu", "cuda"))
    gpu = by_what(rows, "lstm bucketed on GPU vs CPU")
    assert gpu["target"] == 20.0
    if not results["sections"]["training"]["machine"]["cuda_available"]:
        assert gpu["value"] is None and "not available" in gpu["note"]


def test_scaling_benchmark_reports_growth_and_memory(tiny, out):
    results = run_script("bench_scaling.py", out, "--prepared", str(tiny["prepared"]), "--nltk-data", str(tiny["nltk"]),
                         "--params", str(tiny["params"]))
    rows = check_section(results, "scaling", out)
    for step in ("preprocess", "featurize", "train"):
        one, two = by_what(rows, f"{step}: RuSentiment x1"), by_what(rows, f"{step}: RuSentiment x2")
        assert one["ratio"] == pytest.approx(1.0) and two["baseline"] == pytest.approx(2 * one["value"])
        assert two["details"]["texts"] == 2 * one["details"]["texts"] == 480
        assert two["details"]["peak_rss_mib"] > 0
        assert by_what(rows, f"{step}: texts at which peak RSS reaches")["unit"] == "texts"
    assert "skipped" in by_what(rows, "IMDB")["note"]  # no --imdb given


def test_imdb_files_become_a_local_csv_corpus_that_prepare_accepts(tiny, tmp_path, monkeypatch):
    scaling = bench_module("bench_scaling", monkeypatch)
    csv = scaling.write_imdb_csv(tiny["imdb"], 0, tmp_path / "imdb.csv")
    args = argparse.Namespace(train_epochs=1, threads=1, embedding_dim=8, hidden_size=8)
    overrides = {"prepare.corpus": "local_csv", "prepare.label_map": {"pos": "positive", "neg": "negative"},
                 "prepare.local_csv": {"path": str(csv), "text_column": "text", "label_column": "label",
                                       "split_column": "split", "test_size": 0.2, "encoding": "utf-8"}}
    params = scaling.write_params(tiny["params"], tmp_path / "params.yaml", args, overrides)
    frame = prepare(tmp_path, load_section(params, "prepare", PrepareConfig), load_section(params, "seed", NonNegativeInt))
    assert len(frame) == 120 and set(frame["label"]) == {"positive", "negative"}
    assert (frame["split"] == "test").sum() == 60 and set(frame["split"]) == {"train", "val", "test"}
    assert load_section(params, "train.scale", ModelConfig).hidden_size == 8


def test_pipeline_benchmark_measures_mlflow_and_skips_dvc_without_a_mirror(tiny, out, tmp_path):
    results = run_script("bench_pipeline.py", out, "--tensors", str(tiny["tensors"]), "--vocab", str(tiny["vocab"]),
                         "--corpus", str(tiny["local"]), "--mirror", str(tmp_path / "no-mirror"))
    rows = check_section(results, "pipeline", out)
    assert "skipped: no corpus mirror" in by_what(rows, "dvc repro overheads")["note"]
    mlflow = by_what(rows, "training with MLflow logging")
    assert mlflow["baseline"] > 0 and mlflow["ratio"] > 0


def test_tracking_benchmark_counts_every_writer_of_both_stores(out):
    results = run_script("bench_tracking.py", out, "--writers", "2")
    rows = check_section(results, "tracking", out)
    steady = [r for r in rows if r["what"] == "2 concurrent writers, 20 epochs each"]
    assert [r["how"] for r in steady] == ["sqlite", "PostgreSQL server"]
    assert all(r["details"]["failed"] == 0 and r["details"]["landed"] == "2/2" for r in steady)
    assert steady[1]["ratio"] == pytest.approx(steady[0]["value"] / steady[1]["value"])


def bench_module(name: str, monkeypatch):
    """A module of benchmarks/, imported as the scripts import each other (the folder on sys.path)."""
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module(name)


def test_results_writer_merges_sections_and_drops_nan(tmp_path, monkeypatch):
    common = bench_module("common", monkeypatch)
    machine = common.machine_info(torch.device("cpu"), 1)
    rows = [common.row("a", "how a", 2.0, "s", "cpu", baseline=4.0, ratio=2.0, target=1.5, exponent=float("nan")),
            common.unavailable_row("b", "how b", "seq/s", "cuda"),
            common.row("c", "how c", 1.0, "s", "cpu", ratio=3.0, target=1.5, requires={"same quality": False})]
    common.write_section(tmp_path, "training", common.section("T", machine, rows, ["n"], {}))
    common.write_section(tmp_path, "preprocess", common.section("P", machine, rows[:1], ["n"], {}))
    data = json.loads((tmp_path / "results.json").read_text())  # strict JSON: NaN would not parse back as None
    assert list(data["sections"]) == ["preprocess", "training"]
    assert data["sections"]["training"]["rows"][0]["details"]["exponent"] is None
    assert data["sections"]["training"]["rows"][0]["met"] is True
    assert data["sections"]["training"]["rows"][2]["met"] is False  # fast enough, but a requirement fails
    markdown = (tmp_path / "results.md").read_text()
    assert markdown.index("## P\n") < markdown.index("## T\n") and "not available during this work" in markdown
    assert "| training | c | 3 x | 1.5 x | no (fails: same quality) |" in markdown


def test_lm_benchmark_times_each_size_and_output_layer_against_the_first(out, tmp_path):
    results = run_script("bench_lm.py", out, "--mirror", str(tmp_path / "no-mirror"), "--configs", "16x2:full@50",
                         "16x2:adaptive", "--vocab", "200", "--embedding-dim", "16", "--batch", "4", "8", "--bptt", "8",
                         "--steps", "2", "--tokens", "5000")
    rows = check_section(results, "lm", out)
    assert [r["what"] for r in rows] == ["16x2:full@50, batch 4", "16x2:full@50, batch 8", "16x2:adaptive, batch 4",
                                         "16x2:adaptive, batch 8"]
    full, _, adaptive, _ = rows
    assert full["ratio"] == 1 and adaptive["ratio"] == pytest.approx(adaptive["value"] / full["value"])
    assert (full["details"]["vocab"], full["details"]["cutoffs"]) == (50, [])
    assert (adaptive["details"]["vocab"], adaptive["details"]["cutoffs"]) == (200, [13, 66])
    assert adaptive["details"]["minutes_per_pass"] == pytest.approx(5000 / adaptive["value"] / 60)
    pretrain = read_params(ROOT / "studies/pretraining/params.yaml")["lm"]["pretrain"]
    tokens = pretrain["trainer"]["steps"] * pretrain["batch_size"] * pretrain["seq_len"]
    assert adaptive["details"]["pretrain_minutes"] == pytest.approx(tokens / adaptive["value"] / 60)
    assert all(0 < r["details"]["loss_per_token"] < 10 for r in rows)  # about ln(vocab) at the start


def test_gpu_pretraining_experiment_runs_the_recipe_at_each_scale(tiny, out, tmp_path):
    rng = random.Random(2)
    words = ["".join(rng.choices("абвгдеклмнопрст", k=6)) for _ in range(150)]
    corpus = pd.DataFrame({"text": [" ".join(rng.choices(words, k=12)) for _ in range(400)], "source": "fixture",
                           "split": ["train"] * 360 + ["val"] * 40})
    corpus.to_csv(tmp_path / "lm.csv.gz", index=False)
    results = run_script("gpu_pretraining.py", out, "--device", "cpu", "--corpus", str(tmp_path / "lm.csv.gz"),
                         "--prepared", str(tiny["prepared"]), "--scale", "2", "1")
    rows = check_section(results, "lm_gpu_quality", out)
    params = read_params(ROOT / "studies/pretraining/params.yaml")["lm"]
    assert [r["details"]["scale"] for r in rows] == [2, 1]
    for row in rows:
        details = row["details"]
        assert details["tokens"] == 10 * 2 * details["scale"] * params["pretrain"]["seq_len"]  # --quick: 10 steps, 2k rows
        assert details["seeds"] == params["classifier"]["seeds"]
        assert len(details["test_macro_f1"]) == len(details["seeds"])
        assert all(0 <= f <= 1 for f in details["test_macro_f1"])
        assert row["value"] == pytest.approx(sum(details["test_macro_f1"]) / len(details["seeds"]))
        assert details["pretrain_perplexity"] > 1 and details["finetune_perplexity"] > 1
