"""Fail loudly and resume: the non-finite guard, saved states, fingerprints, the stage lock."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.models.classifier import build_model
from rnnlab.models.language import CharLM
from rnnlab.process import TrainingDiverged
from rnnlab.text.batching import EncodedSplit
from rnnlab.training.classification import fit
from rnnlab.training.language import fit_language_model, stream_batches, stream_epochs
from rnnlab.training.loop import Optimization, train
from rnnlab.training.resume import FORMAT, StageBusy, StageState
from rnnlab.training.tracking import MemoryTracker
from tests.configs import lm_config, lm_trainer_config, model_config, trainer_config

MODEL = model_config(cell="gru", embedding_dim=8, hidden_size=8, pooling="max", dropout=0.3, embedding_dropout=0.2)


class StopAt(MemoryTracker):
    """A tracker that is interrupted (as by Ctrl-C) when the loop logs the round at `position`."""

    def __init__(self, position: int) -> None:
        super().__init__()
        self.position = position

    def log_metrics(self, metrics, step=None):
        if step == self.position:
            raise KeyboardInterrupt
        super().log_metrics(metrics, step)


def splits(seed: int = 0) -> tuple[EncodedSplit, EncodedSplit]:
    generator = torch.Generator().manual_seed(seed)

    def split(n: int) -> EncodedSplit:
        lengths = torch.randint(1, 9, (n,), generator=generator)
        tokens = torch.randint(2, 30, (n, 8), generator=generator) * (torch.arange(8) < lengths[:, None])
        return EncodedSplit(tokens, lengths, (tokens[:, 0] % 3))

    return split(96), split(48)


def train_classifier(tracker, state=None, model_cfg=MODEL, **trainer):
    torch.manual_seed(0)
    model = build_model(model_cfg, 30, 3)
    cfg = trainer_config(epochs=5, batch_size=16, patience=10, **trainer)
    return model, fit(model, *splits(), cfg, tracker, seed=0, state=state)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_resumed_classifier_ends_with_the_weights_and_history_of_an_uninterrupted_run(tmp_path):
    model, result = train_classifier(MemoryTracker())
    with pytest.raises(KeyboardInterrupt):
        train_classifier(StopAt(3), StageState(tmp_path, "train@x", "fp").run())  # epochs 1 and 2 saved
    state = StageState(tmp_path, "train@x", "fp").run()
    assert [row["epoch"] for row in state.saved["history"]] == [1, 2]
    tracker = MemoryTracker()
    resumed, resumed_result = train_classifier(tracker, state)
    assert [step for step, _ in tracker.metrics] == [3, 4, 5]  # it continued; it did not start over
    assert resumed_result.history == result.history and resumed_result.best_index == result.best_index
    for key, tensor in weights(model).items():
        assert torch.equal(resumed.state_dict()[key], tensor), key


def test_a_resumed_language_model_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    ids = torch.randint(0, 12, (3000,), generator=torch.Generator().manual_seed(1))
    cfg = lm_trainer_config(steps=12, eval_every=4)

    def run(tracker, state=None):
        torch.manual_seed(0)
        model = CharLM(lm_config(embedding_dim=8, hidden_size=16, num_layers=2, dropout=0.2), 12)
        batches = stream_epochs(ids[:2500], 4, 16, torch.Generator().manual_seed(0))
        return model, fit_language_model(model, batches, stream_batches(ids[2500:], 4, 16), cfg, tracker, state)

    model, result = run(MemoryTracker())
    with pytest.raises(KeyboardInterrupt):
        run(StopAt(8), StageState(tmp_path, "lm", "fp").run())
    resumed, resumed_result = run(MemoryTracker(), StageState(tmp_path, "lm", "fp").run())
    assert [r["step"] for r in resumed_result.history] == [4, 8, 12] and resumed_result.history == result.history
    for key, tensor in weights(model).items():
        assert torch.equal(resumed.state_dict()[key], tensor), key


@pytest.mark.parametrize("clip", [0.0, 1.0])
def test_a_non_finite_loss_stops_training_naming_the_epoch_step_and_cause(tmp_path, clip):
    state = StageState(tmp_path, "train@x", "fp").run()
    tracker = MemoryTracker()
    with pytest.raises(TrainingDiverged, match=r"non-finite (loss|gradient norm) .* at epoch \d+, step \d+") as err:
        # a ReLU RNN is unbounded: weights of 1e30 overflow its states (a GRU's would saturate, finite)
        train_classifier(tracker, state, model_config(cell="rnn", nonlinearity="relu", embedding_dim=8, hidden_size=8),
                         lr=1e30, clip_grad_norm=clip)
    assert "learning rate (1e+30)" in str(err.value)
    assert ("clipping is off" in str(err.value)) == (clip == 0)
    assert all(math.isfinite(v) for _, metrics in tracker.metrics for v in metrics.values())
    if state.path.exists():  # only rounds that finished with finite losses were saved
        saved = torch.load(state.path, weights_only=True)
        assert all(math.isfinite(row["train_loss"]) for row in saved["history"])


def test_an_infinite_gradient_is_caught_before_the_step():
    model = torch.nn.Linear(1, 1)

    class Blowup:
        position, unit, monitor, higher_is_better = "epoch", "sequences", "score", True

        def rounds(self):
            yield 1, [torch.ones(1, 1)]

        def loss(self, model, batch):
            out = model(batch).sum()
            return (out - out.detach()).pow(0.5), 1, 1.0  # a loss of 0 whose gradient is infinite

        def validate(self, model):
            return {"score": 0.0}

    before = weights(model)
    with pytest.raises(TrainingDiverged, match=r"non-finite gradient norm \(inf\) at epoch 1, step 1"):
        train(model, Blowup(), Optimization(1e-3, 0.0, 0.0), torch.device("cpu"), MemoryTracker())
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())  # no step was taken


def test_a_state_of_other_params_or_code_is_discarded_and_training_starts_fresh(tmp_path, capsys):
    stage = StageState(tmp_path, "train@x", "old")
    stage.run().save({"history": [{"epoch": 1}]})
    stage._lock.close()
    state = StageState(tmp_path, "train@x", "new").run()
    assert state.saved is None and not state.path.exists()
    assert "saved under other params, inputs or code" in capsys.readouterr().err


def test_a_damaged_state_is_discarded(tmp_path, capsys):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "run.pt").write_bytes(b"half a file")
    assert StageState(tmp_path, "s", "fp").run().saved is None
    assert "unreadable" in capsys.readouterr().err


def test_finished_runs_keep_their_results_until_the_stage_is_cleared(tmp_path):
    stage = StageState(tmp_path, "zoo@v", "fp")
    stage.run("seed1").finish("run-1", {"score": 0.5})
    stage._lock.close()
    again = StageState(tmp_path, "zoo@v", "fp")
    run = again.run("seed1")
    assert run.result == {"score": 0.5} and run.run_id == "run-1" and run.saved["format"] == FORMAT
    again.clear()
    assert not (tmp_path / "zoo@v").exists()


def test_a_stage_being_trained_cannot_be_trained_by_a_second_process(tmp_path):
    first = StageState(tmp_path, "train@x", "fp")
    with pytest.raises(StageBusy, match=r"train@x is being trained by another process \(pid \d+\)"):
        StageState(tmp_path, "train@x", "fp")
    first.clear()
    StageState(tmp_path, "train@x", "fp")  # free again
