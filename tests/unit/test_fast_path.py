"""The CUDA fast path of the training loop, in what the CPU can check: the precision chosen per device and
setting, the once-per-round accounting, and CPU training unchanged by any of it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnlab.models.classifier import build_model
from rnnlab.process import TrainingDiverged
from rnnlab.text.batching import encode_split
from rnnlab.text.vocab import build_vocab
from rnnlab.training import loop
from rnnlab.training.classification import ClassificationObjective, fit
from rnnlab.training.loop import (
    Optimization,
    RoundLedger,
    StepLedger,
    precision_for,
    set_seed,
    to_device,
)
from rnnlab.training.tracking import MemoryTracker
from tests.configs import model_config, trainer_config
from tests.integration.test_training import synthetic_docs

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
OPTIMIZATION = Optimization(lr=0.01, weight_decay=0.0, clip_grad_norm=1.0)


@pytest.mark.parametrize(("device", "setting", "dtype", "scaled"), [
    (CPU, "bf16", None, False), (CPU, "fp16", None, False), (CPU, "off", None, False),  # CPU: float32, always
    (CUDA, "bf16", torch.bfloat16, False), (CUDA, "fp16", torch.float16, True), (CUDA, "off", None, False),
])
@pytest.mark.filterwarnings("ignore:.*CUDA is not available:UserWarning")  # what is chosen, not run, on a CPU
def test_autocast_only_on_cuda_and_fp16_with_a_gradient_scaler(device, setting, dtype, scaled):
    precision = precision_for(device, setting)
    assert precision.dtype == dtype and (precision.scaler is not None) == scaled
    context = precision.autocast()
    assert isinstance(context, torch.autocast) == (dtype is not None)
    if dtype is not None:
        assert context.fast_dtype == dtype and context.device == "cuda"


def test_an_unknown_autocast_setting_is_refused():
    with pytest.raises(ValueError, match="'fp8'"):
        precision_for(CUDA, "fp8")


def where(step: int) -> str:
    return f"epoch 2, step {step}"


@pytest.mark.parametrize(("losses", "norms", "message"), [
    ([1.0, 2.0, math.nan, 1.0], [1.0] * 4, r"non-finite loss \(nan\) at epoch 2, step 3 \(on CUDA the check runs once"),
    ([1.0, 2.0, 3.0], [1.0, math.inf, math.nan], r"non-finite gradient norm \(inf\) at epoch 2, step 2 \(on CUDA"),
])
def test_the_round_ledger_finds_the_first_non_finite_value_at_the_rounds_end(losses, norms, message):
    ledger = RoundLedger(Optimization(1e-3, 0.0, 0.0), "epoch")
    for step, (loss, norm) in enumerate(zip(losses, norms, strict=True), 1):
        ledger.add_loss(torch.tensor(loss), 2, step, where)  # nothing raises before the round ends
        ledger.add_norm(torch.tensor(norm), step, where)
    with pytest.raises(TrainingDiverged, match=message) as err:
        ledger.close(where)
    assert "clipping is off" in str(err.value)


def test_the_round_ledger_sums_like_the_step_ledger():
    values = [0.1, 0.7, 1e-3, 2.5]
    step_ledger, round_ledger = StepLedger(OPTIMIZATION), RoundLedger(OPTIMIZATION, "epoch")
    for step, value in enumerate(values, 1):
        for ledger in (step_ledger, round_ledger):
            ledger.add_loss(torch.tensor(value), 3, step, where)
            ledger.add_norm(torch.tensor(1.0), step, where)
    (total, count), (expected, expected_count) = round_ledger.close(where), step_ledger.close(where)
    assert count == expected_count == 12 and total == pytest.approx(expected, rel=1e-6)
    assert RoundLedger(OPTIMIZATION, "step").close(where) == (0.0, 0)  # an empty round


def test_to_device_leaves_a_cpu_tensor_as_it_is():
    tensor = torch.arange(4)
    assert to_device(tensor, CPU) is tensor and not tensor.is_pinned()


@pytest.fixture(scope="module")
def splits():
    train_docs, train_y = synthetic_docs(200, 0)
    val_docs, val_y = synthetic_docs(60, 1)
    vocab = build_vocab(train_docs, max_size=100, min_freq=1)
    return len(vocab), encode_split(train_docs, train_y, vocab, 20), encode_split(val_docs, val_y, vocab, 20)


def old_loop(model: nn.Module, objective: ClassificationObjective) -> tuple[list[float], list[dict]]:
    """The loop as it was before the CUDA path (per-step .item() and float() checks), without the bookkeeping;
    the train loss and the weights after each epoch."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=OPTIMIZATION.lr, weight_decay=OPTIMIZATION.weight_decay)
    losses, weights = [], []
    for _, batches in objective.rounds():
        model.train()
        total, count = 0.0, 0
        for batch in batches:
            loss, n, divisor = objective.loss(model, batch)
            total, count = total + loss.item(), count + n
            optimizer.zero_grad(set_to_none=True)
            (loss / divisor).backward()
            assert math.isfinite(float(nn.utils.clip_grad_norm_(params, OPTIMIZATION.clip_grad_norm)))
            optimizer.step()
        losses.append(total / count)
        weights.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        objective.validate(model)
    return losses, weights


@pytest.mark.parametrize("autocast", ["bf16", "fp16", "off"])
def test_cpu_training_is_bit_for_bit_the_old_loops_whatever_the_autocast_setting(splits, autocast):
    vocab_size, train_split, val = splits
    cfg = model_config(cell="lstm", embedding_dim=8, hidden_size=8, pooling="max", embedding_dropout=0.1, dropout=0.2)
    trainer = trainer_config(epochs=2, batch_size=16, lr=OPTIMIZATION.lr, patience=5, autocast=autocast)
    set_seed(0)
    reference = build_model(cfg, vocab_size, 2)
    expected, weights = old_loop(reference, ClassificationObjective(train_split, val, trainer, 2, 0, CPU))
    set_seed(0)
    model = build_model(cfg, vocab_size, 2)
    result = fit(model, train_split, val, trainer, MemoryTracker(), seed=0)
    assert [r["train_loss"] for r in result.history] == expected  # exact: the same floats in the same order
    for key, tensor in weights[result.best_index].items():  # the best epoch's weights, kept
        assert torch.equal(model.state_dict()[key], tensor), key


def test_a_round_with_the_once_per_round_ledger_raises_before_anything_is_kept():
    """The CUDA accounting run on the CPU: the NaN of step 2 is reported at the round's end, naming step 2."""
    model = nn.Linear(1, 1)

    class NaNAtStep2:
        position, unit, monitor, higher_is_better = "epoch", "sequences", "score", True
        calls = 0

        def loss(self, model, batch):
            self.calls += 1
            out = model(batch).sum()
            return (out * math.nan if self.calls == 2 else out), 1, 1.0

    params = list(model.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3)
    ledger = RoundLedger(OPTIMIZATION, "epoch")
    objective = NaNAtStep2()
    loop._run_round(model, objective, [torch.ones(1, 1)] * 3, optimizer, params, OPTIMIZATION,
                    precision_for(CPU, "bf16"), ledger, lambda step: f"epoch 1, step {step}")
    assert objective.calls == 3  # no check stopped the round
    with pytest.raises(TrainingDiverged, match=r"non-finite loss \(nan\) at epoch 1, step 2 \(on CUDA"):
        ledger.close(lambda step: f"epoch 1, step {step}")
