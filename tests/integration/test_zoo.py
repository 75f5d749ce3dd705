"""Every zoo variant of studies/zoo/params.yaml trains end to end on a tiny corpus, through the one loop."""

import dataclasses
import math
from pathlib import Path

import pytest

from rnnlab.config import ModelConfig, Variant
from rnnlab.params import load_section, read_params
from rnnlab.studies.shared import variant_configs
from rnnlab.studies.zoo.zoo import report_rows, summarize
from rnnlab.training.classification import train_classifier
from rnnlab.training.reports import plot_variants
from rnnlab.training.tracking import MemoryTracker
from tests.configs import trainer_config

from .test_training import splits  # noqa: F401 (fixture)

PARAMS = Path(__file__).resolve().parents[2] / "studies" / "zoo" / "params.yaml"
VARIANTS = sorted(read_params(PARAMS)["zoo"]["variants"])
TRAINER = trainer_config(device="cpu", epochs=1, batch_size=32, num_threads=1)


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_trains(splits, name):  # noqa: F811
    vocab, train, val = splits
    variant = load_section(PARAMS, f"zoo.variants.{name}", Variant)
    model_cfg, trainer = variant_configs(load_section(PARAMS, "zoo.base", ModelConfig), TRAINER, variant, f"zoo.variants.{name}")
    if model_cfg.embeddings == "scratch":  # keep it tiny; navec fixes the width at 300
        model_cfg = dataclasses.replace(model_cfg, embedding_dim=16)
    model_cfg = dataclasses.replace(model_cfg, hidden_size=16)
    trainer = dataclasses.replace(trainer, epochs=1)
    tracker = MemoryTracker()
    _, result = train_classifier(model_cfg, trainer, list(vocab.itos), {"train": train, "val": val}, 2, tracker, seed=0)
    assert math.isfinite(result.history[0]["train_loss"])
    assert tracker.params["model.cell"] == model_cfg.cell
    if model_cfg.embeddings == "navec":
        coverage = [m["navec_coverage"] for _, m in tracker.metrics if "navec_coverage" in m]
        assert coverage and 0 < coverage[0] <= 1


def test_variant_layers_its_overrides_over_the_base_and_trainer():
    base = load_section(PARAMS, "zoo.base", ModelConfig)
    variant = load_section(PARAMS, "zoo.variants.lstm_fixed_padding", Variant)
    model, trainer = variant_configs(base, TRAINER, variant, "zoo.variants.lstm_fixed_padding")
    assert (model.packed, trainer.bucket_by_length, trainer.pad_to_max_len) == (False, False, True)
    assert (model.cell, model.hidden_size, trainer.batch_size) == (base.cell, base.hidden_size, TRAINER.batch_size)


def test_summary_has_mean_and_spread_and_rows_sort_by_f1():
    runs = [{"test_macro_f1": f, "test_accuracy": 0.5} for f in (0.6, 0.7, 0.8)]
    summary = summarize("a", runs, 10)
    assert summary["test_macro_f1"]["mean"] == pytest.approx(0.7)
    assert summary["test_macro_f1"]["std"] == pytest.approx(0.1)
    other = summarize("b", [{"test_macro_f1": 0.9, "test_accuracy": 0.9}], 5)
    assert [r["variant"] for r in report_rows([summary, other])] == ["b", "a"]


def test_the_variants_figure_is_the_same_for_the_same_scores(tmp_path):
    """zoo_report's figure is a DVC out: it holds scores and sizes, nothing a rerun would change."""
    rows = [summarize(name, [{"test_macro_f1": f, "test_accuracy": 0.5} for f in (f1, f1 + 0.01)], n)
            for name, f1, n in (("a", 0.6, 1000), ("b", 0.7, 20000))]
    for name in ("one.png", "two.png"):
        plot_variants(rows, tmp_path / name, reference=0.65)
    assert (tmp_path / "one.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "two.png").read_bytes()
