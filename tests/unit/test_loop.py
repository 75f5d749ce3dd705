"""The one training loop with scripted objectives: rounds, the best weights kept, stopping, logging."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from rnnlab.training.language import LanguageModelObjective
from rnnlab.training.loop import Optimization, train
from rnnlab.training.tracking import MemoryTracker

CPU = torch.device("cpu")


class Scripted:
    """Rounds of one batch each; validation returns the next scripted score."""

    position, unit, monitor = "epoch", "sequences", "score"

    def __init__(self, scores: list[float], higher_is_better: bool = True) -> None:
        self.scores, self.higher_is_better, self.seen = iter(scores), higher_is_better, []
        self.count = len(scores)

    def rounds(self):
        for epoch in range(1, self.count + 1):
            yield epoch, [torch.ones(4, 1)]

    def loss(self, model, batch):
        return model(batch).sum(), len(batch), float(len(batch))

    def validate(self, model):
        self.seen.append(model.weight.detach().clone())  # the weights this score belongs to
        return {"score": next(self.scores)}


def run(scores: list[float], patience: int | None, higher_is_better: bool = True):
    torch.manual_seed(0)
    model, objective, tracker = nn.Linear(1, 1), Scripted(scores, higher_is_better), MemoryTracker()
    result = train(model, objective, Optimization(lr=0.1, weight_decay=0.0, clip_grad_norm=1.0), CPU, tracker, patience)
    return model, objective, tracker, result


def test_the_best_round_weights_are_kept_and_it_stops_after_patience_rounds_without_gain():
    model, objective, tracker, result = run([0.1, 0.5, 0.3, 0.4, 0.9, 0.2], patience=2)
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]  # no gain in 3 and 4: stop before 5
    assert result.best_position == 2 and result.best["score"] == 0.5
    assert torch.equal(model.weight.detach(), objective.seen[1])  # round 2's weights, not the last ones
    assert [step for step, _ in tracker.metrics] == [1, 2, 3, 4]


def test_without_patience_every_round_runs_and_lower_can_be_better():
    _, _, _, result = run([0.9, 0.5, 0.7, 0.6], patience=None, higher_is_better=False)
    assert len(result.history) == 4 and result.best_position == 2


def test_history_holds_scores_and_timings_hold_the_clock():
    torch.manual_seed(0)
    first = nn.Linear(1, 1)
    expected = float(first(torch.ones(1, 1)).detach())  # the loss per item of the first batch, before any step
    _, _, tracker, result = run([0.1, 0.2], patience=None)
    assert result.history[0]["train_loss"] == pytest.approx(expected)
    assert set(result.history[0]) == {"epoch", "train_loss", "score"}
    assert set(result.timings[0]) == {"epoch", "seconds", "sequences_per_second"}
    assert {"train_loss", "score", "seconds", "sequences_per_second"} == set(tracker.metrics[0][1])


@pytest.mark.parametrize(("steps", "eval_every", "ends"), [(10, 4, [4, 8, 10]), (8, 4, [4, 8]), (3, 5, [3])])
def test_a_language_model_is_validated_every_eval_every_steps_and_at_the_end(steps, eval_every, ends):
    batches = itertools.count()
    objective = LanguageModelObjective(batches, [], steps, eval_every, CPU)
    rounds = [(end, len(list(batch))) for end, batch in objective.rounds()]
    assert [end for end, _ in rounds] == ends
    assert sum(n for _, n in rounds) == steps and next(batches) == steps  # no batch drawn twice or skipped
