"""Every zoo variant of params.yaml trains end to end on a tiny corpus, through the one loop."""

import dataclasses
import math
from pathlib import Path

import pytest

from rnnlab.config import ConfigError, TrainerConfig, load_section
from rnnlab.tracking import MemoryTracker
from rnnlab.training import train_classifier
from rnnlab.zoo import ZooConfig, Variant, report_rows, summarize, variant_configs

from .test_training import splits  # noqa: F401 (fixture)

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
ZOO = load_section(PARAMS, "zoo", ZooConfig)
TRAINER = TrainerConfig(device="cpu", epochs=1, batch_size=32, num_threads=1)


@pytest.mark.parametrize("name", sorted(ZOO.variants))
def test_every_variant_trains(splits, name):  # noqa: F811
    vocab, train, val = splits
    model_cfg, trainer = variant_configs(ZOO, name, TRAINER, str(PARAMS))
    if model_cfg.embeddings == "scratch":  # keep it tiny; navec fixes the width at 300
        model_cfg = dataclasses.replace(model_cfg, embedding_dim=16)
    model_cfg = dataclasses.replace(model_cfg, hidden_size=16)
    trainer = dataclasses.replace(trainer, epochs=1)
    tracker = MemoryTracker()
    _, result = train_classifier(model_cfg, trainer, list(vocab.itos), {"train": train, "val": val}, 2, tracker, seed=0)
    assert math.isfinite(result.history[0].train_loss)
    assert tracker.params["model.cell"] == model_cfg.cell
    if model_cfg.embeddings == "navec":
        coverage = [m["navec_coverage"] for _, m in tracker.metrics if "navec_coverage" in m]
        assert coverage and 0 < coverage[0] <= 1


def test_variant_overrides_are_validated():
    zoo = ZooConfig(base={"cell": "lstm"}, variants={"bad": Variant(model={"hiden_size": 3}), "slow": Variant(trainer={"epochs": "x"})})
    with pytest.raises(ConfigError, match=r"zoo.variants.bad.model.hiden_size: unknown key"):
        variant_configs(zoo, "bad", TRAINER, "params.yaml")
    with pytest.raises(ConfigError, match=r"zoo.variants.slow.trainer.epochs"):
        variant_configs(zoo, "slow", TRAINER, "params.yaml")
    with pytest.raises(KeyError, match="no variant 'nope'"):
        variant_configs(zoo, "nope", TRAINER, "params.yaml")


def test_variant_layers_base_then_variant_over_trainer():
    zoo = ZooConfig(base={"cell": "gru", "hidden_size": 8}, trainer={"epochs": 2},
                    variants={"v": Variant(model={"hidden_size": 4}, trainer={"lr": 0.5})})
    model, trainer = variant_configs(zoo, "v", TRAINER, "params.yaml")
    assert (model.cell, model.hidden_size, trainer.epochs, trainer.lr, trainer.batch_size) == ("gru", 4, 2, 0.5, 32)


def test_summary_has_mean_and_spread_and_rows_sort_by_f1():
    runs = [{"test_macro_f1": f, "test_accuracy": 0.5, "epoch_seconds": 2.0} for f in (0.6, 0.7, 0.8)]
    summary = summarize("a", runs, 10)
    assert summary["test_macro_f1"]["mean"] == pytest.approx(0.7)
    assert summary["test_macro_f1"]["std"] == pytest.approx(0.1)
    other = summarize("b", [{"test_macro_f1": 0.9, "test_accuracy": 0.9, "epoch_seconds": 1.0}], 5)
    assert [r["variant"] for r in report_rows([summary, other])] == ["b", "a"]
