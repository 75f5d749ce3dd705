"""The search's space is checked like params, and its trials table says how each trial ended."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from rnnlab.params import ConfigError
from rnnlab.studies.tune.tune import (
    search_space,
    split_trial,
    start_position,
    trial_rows,
)
from tests.configs import model_config, trainer_config

MODEL, TRAINER = model_config(), trainer_config()


def test_the_space_becomes_ray_tune_distributions_over_model_and_trainer_keys():
    space = search_space({"cell": {"choice": ["rnn", "gru"]}, "lr": {"loguniform": [1e-4, 1e-2]},
                          "dropout": {"uniform": [0.0, 0.5]}}, MODEL, TRAINER, "tune")
    assert set(space) == {"cell", "lr", "dropout"}
    assert sorted(space["cell"].categories) == ["gru", "rnn"]
    assert (space["lr"].lower, space["lr"].upper) == (1e-4, 1e-2)


@pytest.mark.parametrize(("space", "message"), [
    ({"hiden_size": {"choice": [64]}}, "tune.space.hiden_size: not a key of the model or the trainer"),
    ({"lr": {"normal": [0, 1]}}, "tune.space.lr: normal: expected"),
    ({"lr": {"loguniform": [0.0, 0.1]}}, "tune.space.lr: loguniform: expected"),
    ({"dropout": {"uniform": [0.5, 0.1]}}, "tune.space.dropout: uniform: expected"),
    ({"lr": 0.001}, "tune.space.lr: expected one of"),
    ({"cell": {"choice": ["lstm", "transformer"]}}, "'transformer' is not one of"),
    ({"dropout": {"choice": [0.1, 1.5]}}, "1.5 is out of range"),
])
def test_a_bad_space_names_the_key(space, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        search_space(space, MODEL, TRAINER, "tune")


def test_a_trial_splits_into_model_and_trainer_overrides():
    variant = split_trial({"hidden_size": 64, "lr": 0.01, "epochs": 3}, MODEL)
    assert variant.model == {"hidden_size": 64}
    assert variant.trainer == {"lr": 0.01, "epochs": 3}


def test_trial_rows_keep_the_best_epoch_and_tell_asha_from_patience_and_completion():
    trainer = trainer_config(epochs=6, patience=2)
    curve = [0.5, 0.7, 0.6, 0.65, 0.66, 0.68]
    history = [{"epoch": e, "val_macro_f1": f} for e, f in enumerate(curve, 1)]
    rows = trial_rows([({"lr": 0.1}, history, None),  # all 6 epochs
                       ({"lr": 0.2}, history[:4], None),  # best at 2, 2 epochs without gain: the loop's patience
                       ({"lr": 0.3}, history[:3], None),  # 1 epoch after the best: ASHA cut it
                       ({"lr": 0.4, "epochs": 3}, history[:3], None),  # its own epoch budget, all run
                       ({"lr": 0.5}, [], "RayTaskError")], trainer)
    assert [(r["trial"], r["ended"], r["epochs_run"]) for r in rows] == [
        (1, "completed", 6), (2, "stopped by patience", 4), (3, "stopped by ASHA", 3), (4, "completed", 3),
        (5, "failed", 0)]
    assert (rows[0]["val_macro_f1"], rows[0]["best_epoch"], rows[2]["best_epoch"]) == (0.7, 2, 2)
    assert math.isnan(rows[4]["val_macro_f1"])


def test_results_are_numbered_in_the_order_their_trials_started_not_by_their_random_ids():
    started = ["f3a1", "07bc", "c9d2"]  # Ray's ids: random hex, so sorted() would put 07bc first
    results = [SimpleNamespace(metrics={"trial_id": "c9d2"}, path="/t/run_trial_c9d2_00003"),
               SimpleNamespace(metrics={}, path="/t/run_trial_07bc_00002"),  # failed before its first report
               SimpleNamespace(metrics={"trial_id": "f3a1"}, path="/t/run_trial_f3a1_00001")]
    ordered = sorted(results, key=lambda r: start_position(r, started))
    assert [r.path[-5:] for r in ordered] == ["00001", "00002", "00003"]
    assert start_position(SimpleNamespace(metrics={}, path="/t/elsewhere"), started) == 3
