"""Hand-written recurrent layers against torch's, and their dropout behaviour."""

import copy
import io

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.models.cells import (
    LoopLSTM,
    ScratchRNN,
    SemeniutaLSTM,
    WeightDropLSTM,
    reverse_within_lengths,
)

IN, HIDDEN, STEPS = 5, 7, 6
LENGTHS = torch.tensor([6, 3, 1, 4])


def batch(seed: int = 0) -> torch.Tensor:
    """(B, T, In) with zeros on padding, as embedding row 0 gives."""
    x = torch.randn(len(LENGTHS), STEPS, IN, generator=torch.Generator().manual_seed(seed))
    mask = torch.arange(STEPS).unsqueeze(0) < LENGTHS.unsqueeze(1)  # (B, T)
    return x * mask.unsqueeze(-1)


def packed_outputs(rnn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Torch's reference: run on a packed batch, outputs (B, T, H*D), zeros on padding."""
    packed = pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False)
    return pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=STEPS)[0]


def seeded_lstm(layers: int, bidirectional: bool) -> nn.LSTM:
    torch.manual_seed(1)
    return nn.LSTM(IN, HIDDEN, layers, batch_first=True, bidirectional=bidirectional)


def test_reverse_within_lengths_keeps_padding_last_and_is_its_own_inverse():
    x = torch.arange(8.0).view(2, 4, 1)  # lengths 3 and 1
    lengths = torch.tensor([3, 1])
    rev = reverse_within_lengths(x, lengths)
    assert rev.squeeze(-1).tolist() == [[2, 1, 0, 3], [4, 5, 6, 7]]
    assert torch.equal(reverse_within_lengths(rev, lengths), x)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cls", [LoopLSTM, SemeniutaLSTM])
def test_loop_lstms_match_nn_lstm(cls, layers, bidirectional):
    lstm = seeded_lstm(layers, bidirectional)
    ours = cls(IN, HIDDEN, layers, bidirectional, recurrent_dropout=0.0).load_from_lstm(lstm)
    x = batch()
    torch.testing.assert_close(ours(x, LENGTHS), packed_outputs(lstm, x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_weight_drop_lstm_without_dropout_matches_nn_lstm(layers, bidirectional):
    lstm = seeded_lstm(layers, bidirectional)
    ours = WeightDropLSTM(IN, HIDDEN, layers, bidirectional, recurrent_dropout=0.0).load_from_lstm(lstm)
    x = batch()
    torch.testing.assert_close(packed_outputs(ours, x), packed_outputs(lstm, x), atol=1e-5, rtol=0)
    torch.testing.assert_close(ours(x)[0], lstm(x)[0], atol=1e-5, rtol=0)  # padded batch too


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_scratch_rnn_matches_nn_rnn(nonlinearity, layers, bidirectional):
    torch.manual_seed(2)
    rnn = nn.RNN(IN, HIDDEN, layers, nonlinearity=nonlinearity, batch_first=True, bidirectional=bidirectional)
    ours = ScratchRNN(IN, HIDDEN, layers, bidirectional, nonlinearity=nonlinearity).load_from_rnn(rnn)
    x = batch()
    torch.testing.assert_close(ours(x, LENGTHS), packed_outputs(rnn, x), atol=1e-5, rtol=0)


def test_scratch_rnn_rejects_unknown_nonlinearity():
    with pytest.raises(ValueError, match="tanh, relu"):
        ScratchRNN(IN, HIDDEN, nonlinearity="gelu")


@pytest.mark.parametrize("cls", [ScratchRNN, LoopLSTM, SemeniutaLSTM])
def test_loop_state_is_frozen_on_padding(cls):
    torch.manual_seed(3)
    model = cls(IN, HIDDEN, 2, True)
    x = batch()
    longer = torch.cat([x, torch.randn(len(LENGTHS), 3, IN)], dim=1)  # junk, not zeros, after the end
    out, out_longer = model(x, LENGTHS), model(longer, LENGTHS)
    torch.testing.assert_close(out_longer[:, :STEPS], out)
    assert torch.all(out_longer[:, STEPS:] == 0)


def test_variational_masks_are_constant_over_time_and_differ_between_sequences():
    torch.manual_seed(4)
    model = LoopLSTM(IN, HIDDEN, recurrent_dropout=0.5).train()
    seen = []
    model.cells[0].register_forward_pre_hook(lambda cell, args: seen.append((args[0], args[1][0])))
    lengths = torch.full((4,), STEPS)
    out = model(torch.ones(4, STEPS, IN), lengths)
    input_masks = torch.stack([x_t for x_t, _ in seen])  # (T, B, In): ones times the mask
    assert torch.all(input_masks == input_masks[0])
    assert set(input_masks.unique().tolist()) == {0.0, 2.0}
    assert len({tuple(row.tolist()) for row in input_masks[0]}) > 1
    hidden_masks = torch.stack([h_in / out[:, t - 1] for t, (_, h_in) in enumerate(seen) if t > 0])  # (T-1, B, H)
    torch.testing.assert_close(hidden_masks, hidden_masks[0].expand_as(hidden_masks))
    assert len({tuple(row.round().tolist()) for row in hidden_masks[0]}) > 1


@pytest.mark.parametrize("cls", [LoopLSTM, SemeniutaLSTM, WeightDropLSTM])
def test_recurrent_dropout_acts_in_training_only(cls):
    lstm = seeded_lstm(1, False)
    dropped = cls(IN, HIDDEN, recurrent_dropout=0.5).load_from_lstm(lstm)
    plain = cls(IN, HIDDEN, recurrent_dropout=0.0).load_from_lstm(lstm)
    run = (lambda m, x: m(x)[0]) if cls is WeightDropLSTM else (lambda m, x: m(x, LENGTHS))
    x = batch()
    torch.manual_seed(5)
    train_out = run(dropped.train(), x)
    dropped.eval()
    eval_out = run(dropped, x)
    assert not torch.allclose(train_out, eval_out)
    assert torch.equal(eval_out, run(dropped, x))
    torch.testing.assert_close(eval_out, run(plain.eval(), x), atol=1e-6, rtol=0)


def test_weight_drop_drops_whole_rows_in_training_and_none_in_eval():
    model = WeightDropLSTM(IN, HIDDEN, recurrent_dropout=0.5).train()
    raw = model.weight_hh_l0_raw
    model(batch())
    effective = model.effective_weights()["weight_hh_l0"]  # (4H, H)
    dropped = (effective == 0).all(dim=1)
    assert 0 < dropped.sum() < raw.size(0)
    torch.testing.assert_close(effective[~dropped], raw[~dropped] * 2)
    model.eval()
    model(batch())
    assert torch.equal(model.effective_weights()["weight_hh_l0"], raw)
    assert "lstm.weight_hh_l0" not in model.state_dict()


def test_weight_drop_raw_weights_are_the_trained_parameters():
    torch.manual_seed(6)
    model = WeightDropLSTM(IN, HIDDEN, 2, True, recurrent_dropout=0.3).train()
    names = dict(model.named_parameters())
    assert "weight_hh_l1_reverse_raw" in names and "lstm.weight_hh_l0" not in names
    raw = model.weight_hh_l0_raw
    before = raw.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model(batch())[0].pow(2).sum().backward()
    assert raw.grad is not None and raw.grad.abs().sum() > 0
    optimizer.step()
    assert model.weight_hh_l0_raw is raw
    assert not torch.equal(raw.detach(), before)


def test_weight_drop_state_dict_round_trip():
    model = WeightDropLSTM(IN, HIDDEN, 2, recurrent_dropout=0.3).eval()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    other = WeightDropLSTM(IN, HIDDEN, 2, recurrent_dropout=0.3).eval()
    other.load_state_dict(torch.load(buffer))
    torch.testing.assert_close(other(batch())[0], model(batch())[0])


def test_weight_drop_lstm_deep_copies_after_a_training_step():
    model = WeightDropLSTM(IN, HIDDEN, recurrent_dropout=0.3).train()
    model(batch())[0].sum().backward()
    copied = copy.deepcopy(model).eval()
    torch.testing.assert_close(copied(batch())[0], model.eval()(batch())[0])
