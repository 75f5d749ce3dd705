"""Memory probe: the digit data, cell configs, the sweep's bookkeeping and its table."""

import contextlib

import pytest
import torch

from rnnlab.studies.chars.probe import (
    cell_config,
    digit_sequences,
    fails_at,
    plot_probe,
    probe_table,
    run_probe,
)
from rnnlab.training.resume import StageState
from rnnlab.training.tracking import MemoryTracker
from tests.configs import probe_config, probe_model_config, trainer_config


@pytest.mark.parametrize("length", [1, 5, 80])
def test_labels_are_the_first_digit_and_ids_skip_pad_and_unk(length):
    split = digit_sequences(200, length, torch.Generator().manual_seed(0))
    assert split.tokens.shape == (200, length) and split.lengths.tolist() == [length] * 200
    assert torch.equal(split.labels, split.tokens[:, 0] - 2)
    assert split.tokens.min() >= 2 and split.tokens.max() <= 11
    assert len(split.labels.unique()) == 10


@pytest.mark.parametrize("name, cell, nonlinearity", [
    ("rnn_tanh", "rnn", "tanh"), ("rnn_relu", "rnn", "relu"), ("lstm", "lstm", "tanh"), ("gru", "gru", "tanh"),
])
def test_cell_names_map_to_unidirectional_last_state_models(name, cell, nonlinearity):
    cfg = cell_config(probe_model_config(), name)
    assert (cfg.cell, cfg.nonlinearity, cfg.bidirectional, cfg.pooling) == (cell, nonlinearity, False, "last")


@pytest.mark.parametrize("accuracies, threshold, expected", [
    ({5: 1.0, 10: 0.9, 20: 0.3, 40: 0.6}, 0.5, 20),
    ({5: 1.0, 10: 0.9}, 0.5, None),
    ({40: 0.1, 5: 0.2}, 0.5, 5),
    ({5: 0.95, 10: 0.85}, 0.9, 10),
])
def test_a_cell_fails_at_the_shortest_length_under_the_threshold(accuracies, threshold, expected):
    assert fails_at(accuracies, threshold) == expected


def test_the_sweep_opens_one_run_per_cell_and_length_plus_one_per_cell(tmp_path):
    cfg = probe_config(cells=("rnn_tanh", "gru"), lengths=(2, 4), train_length=2, train_size=64, val_size=32,
                      test_size=50, model=probe_model_config(embedding_dim=4, hidden_size=4),
                      trainer=trainer_config(device="cpu", epochs=1, batch_size=32, bucket_by_length=False))
    runs: dict[str, MemoryTracker] = {}

    def open_run(name, run_id):
        runs[name] = MemoryTracker()
        return contextlib.nullcontext(runs[name])

    results = run_probe(cfg, open_run, seed=0, state=StageState(tmp_path / "state", "probe", "fp"))
    assert sorted(runs) == ["gru-L2", "gru-L4", "gru-train2", "rnn_tanh-L2", "rnn_tanh-L4", "rnn_tanh-train2"]
    assert runs["gru-L4"].params["train_length"] == 4 and runs["gru-train2"].params["model.cell"] == "gru"
    assert set(results["sweep"]["gru"]) == {2, 4} and set(results["generalization"]["rnn_tanh"]) == {2, 4}
    assert all(0.0 <= a <= 1.0 for cell in results["sweep"].values() for a in cell.values())
    assert runs["gru-L2"].metrics[-1][1]["test_accuracy"] == results["sweep"]["gru"][2]
    table = probe_table(results, 2)
    assert "| gru |" in table and "L=4" in table and "trained at length 2" in table
    plot_probe(results, 2, tmp_path / "probe.png")
    assert (tmp_path / "probe.png").read_bytes()[:4] == b"\x89PNG"


def test_the_same_seed_gives_the_same_results(tmp_path):
    cfg = probe_config(cells=("lstm",), lengths=(3,), train_length=3, train_size=64, val_size=32, test_size=50,
                      model=probe_model_config(embedding_dim=4, hidden_size=4),
                      trainer=trainer_config(device="cpu", epochs=1, batch_size=32, bucket_by_length=False))
    runs = [run_probe(cfg, lambda name, run_id: contextlib.nullcontext(MemoryTracker()), seed=1,
                      state=StageState(tmp_path / str(k), "probe", "fp")) for k in range(2)]
    assert runs[0] == runs[1]


def test_a_rerun_after_an_interruption_trains_only_the_runs_that_had_not_finished(tmp_path):
    cfg = probe_config(cells=("rnn_tanh", "gru"), lengths=(2,), train_length=3, train_size=64, val_size=32,
                      test_size=50, model=probe_model_config(embedding_dim=4, hidden_size=4),
                      trainer=trainer_config(device="cpu", epochs=1, batch_size=32, bucket_by_length=False))
    opened = []

    def interrupted(name, run_id):
        if len(opened) == 2:
            raise KeyboardInterrupt
        opened.append(name)
        return contextlib.nullcontext(MemoryTracker(run_id=f"id-{name}"))

    with pytest.raises(KeyboardInterrupt):
        run_probe(cfg, interrupted, seed=0, state=StageState(tmp_path / "state", "probe", "fp"))
    reopened = []

    def resumed(name, run_id):
        reopened.append(name)
        return contextlib.nullcontext(MemoryTracker())

    state = StageState(tmp_path / "state", "probe", "fp")
    results = run_probe(cfg, resumed, seed=0, state=state)
    assert opened == ["rnn_tanh-L2", "rnn_tanh-train3"] and reopened == ["gru-L2", "gru-train3"]
    fresh = run_probe(cfg, lambda name, run_id: contextlib.nullcontext(MemoryTracker()), seed=0,
                      state=StageState(tmp_path / "fresh", "probe", "fp"))
    assert results == fresh
