"""The classifier built from a ModelConfig: encoders, pooling, init schemes, embeddings."""

import dataclasses

import pytest
import torch

from rnnlab.models.cells import recurrent_weights
from rnnlab.models.classifier import ENCODERS, Encoder, build_model, count_parameters
from tests.configs import model_config

VOCAB, CLASSES, STEPS = 20, 3, 7
LENGTHS = torch.tensor([7, 3, 1, 5])
CELLS = list(ENCODERS)
FUSED = ["rnn", "lstm", "gru", "weight_drop_lstm"]
LSTMS = ["lstm", "lstm_loop", "weight_drop_lstm", "semeniuta_lstm"]


def config(**changes):
    return dataclasses.replace(model_config(embedding_dim=8, hidden_size=6), **changes)


def tokens(extra_padding: int = 0) -> torch.Tensor:
    """(B, T + extra_padding) ids in 1..VOCAB-1 on real steps, 0 on padding."""
    ids = torch.randint(1, VOCAB, (len(LENGTHS), STEPS), generator=torch.Generator().manual_seed(0))
    mask = torch.arange(STEPS).unsqueeze(0) < LENGTHS.unsqueeze(1)  # (B, T)
    return torch.cat([ids * mask, torch.zeros(len(LENGTHS), extra_padding, dtype=ids.dtype)], dim=1)


def pooled(model, ids: torch.Tensor) -> torch.Tensor:
    """The vector the head sees, (B, H*D)."""
    outputs = model.encoder(model.embedding(ids), LENGTHS, model.initial_state(ids.size(0)))
    return model.pooling(outputs, LENGTHS)


def test_forward_returns_logits_per_sequence():
    model = build_model(config(), VOCAB, CLASSES)
    assert model(tokens(), LENGTHS).shape == (len(LENGTHS), CLASSES)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("cell", FUSED)
def test_packed_and_padded_pool_the_same_states(cell, pooling):
    torch.manual_seed(0)
    packed = build_model(config(cell=cell, pooling=pooling, num_layers=2), VOCAB, CLASSES).eval()
    padded = build_model(config(cell=cell, pooling=pooling, num_layers=2, packed=False), VOCAB, CLASSES).eval()
    padded.load_state_dict(packed.state_dict())
    assert packed.encoder.packed and not padded.encoder.packed
    torch.testing.assert_close(pooled(padded, tokens()), pooled(packed, tokens()), atol=1e-5, rtol=0)


def test_padded_bidirectional_fused_encoder_runs_packed():
    # On the padded batch the backward direction would start on padding.
    assert Encoder(config(cell="lstm", bidirectional=True, packed=False)).packed


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("cell", CELLS)
def test_extra_padding_does_not_change_logits(cell, pooling, bidirectional):
    torch.manual_seed(0)
    for packed in [True, False] if cell in FUSED else [True]:
        cfg = config(cell=cell, pooling=pooling, bidirectional=bidirectional, packed=packed, num_layers=2)
        model = build_model(cfg, VOCAB, CLASSES).eval()
        torch.testing.assert_close(model(tokens(extra_padding=4), LENGTHS), model(tokens(), LENGTHS), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["lstm_loop", "semeniuta_lstm", "weight_drop_lstm"])
def test_model_in_eval_ignores_all_dropout(cell):
    torch.manual_seed(0)
    dropped = build_model(config(cell=cell, embedding_dropout=0.3, dropout=0.3, recurrent_dropout=0.3), VOCAB, CLASSES)
    plain = build_model(config(cell=cell), VOCAB, CLASSES)
    plain.load_state_dict(dropped.state_dict())
    dropped.eval(), plain.eval()
    torch.testing.assert_close(dropped(tokens(), LENGTHS), plain(tokens(), LENGTHS))


def test_zero_length_is_read_as_one_step():
    model = build_model(config(), VOCAB, CLASSES).eval()
    ids = tokens()
    zero, one = torch.tensor([0, 3, 1, 5]), torch.tensor([1, 3, 1, 5])
    torch.testing.assert_close(model(ids, zero), model(ids, one))


def gate_blocks(cell: str, init: str):
    model = build_model(config(cell=cell, init=init, hidden_size=16, num_layers=2), VOCAB, CLASSES)
    return model, recurrent_weights(model.encoder.rnn)


@pytest.mark.parametrize("init", ["orthogonal", "keras"])
@pytest.mark.parametrize("cell", CELLS)
def test_orthogonal_recurrent_blocks(cell, init):
    _, groups = gate_blocks(cell, init)
    for group in groups:
        for block in group.weight_hh.detach().chunk(group.gates, dim=0):  # (H, H)
            torch.testing.assert_close(block @ block.T, torch.eye(block.size(0)), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", LSTMS)
def test_forget_bias_is_one(cell):
    _, groups = gate_blocks(cell, "forget_bias")
    for group in groups:
        forget = slice(16, 32)
        assert torch.all(group.biases[0][forget] == 1)
        assert torch.all(sum(b[forget] for b in group.biases) == 1)


@pytest.mark.parametrize("cell", ["rnn", "gru", "scratch_rnn"])
def test_forget_bias_needs_an_lstm(cell):
    with pytest.raises(ValueError, match="forget_bias"):
        build_model(config(cell=cell, init="forget_bias"), VOCAB, CLASSES)


@pytest.mark.parametrize("cell", CELLS)
def test_keras_biases_zero_but_forget_and_xavier_inputs(cell):
    _, groups = gate_blocks(cell, "keras")
    for group in groups:
        total = sum(group.biases)
        if group.gates == 4:
            assert torch.all(total[16:32] == 1)
            total = torch.cat([total[:16], total[32:]])
        assert torch.all(total == 0)
        fan_out, fan_in = group.weight_ih.shape
        assert group.weight_ih.abs().max() <= (6 / (fan_in + fan_out)) ** 0.5


@pytest.mark.parametrize("cell", CELLS)
def test_normal_init_has_std_one_tenth(cell):
    _, groups = gate_blocks(cell, "normal")
    weights = torch.cat([w.detach().flatten() for g in groups for w in (g.weight_ih, g.weight_hh)])
    assert abs(weights.std().item() - 0.1) < 0.01 and abs(weights.mean().item()) < 0.01


def test_uniform_embedding_within_five_hundredths():
    weight = build_model(config(init="uniform_embedding"), VOCAB, CLASSES).embedding.weight.detach()
    assert weight.abs().max() <= 0.05 and weight[1:].std() > 0.02
    assert torch.all(weight[0] == 0)


@pytest.mark.parametrize("cell", CELLS)
def test_learned_initial_state_gets_gradients(cell):
    model = build_model(config(cell=cell, learned_init_state=True, bidirectional=True, num_layers=2), VOCAB, CLASSES)
    parts = list(model.initial_state.parts)
    assert len(parts) == (2 if cell in LSTMS else 1)
    assert all(p.shape == (4, 1, 6) for p in parts)
    model(tokens(), LENGTHS).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in parts)


def test_zero_initial_state_without_learning():
    model = build_model(config(), VOCAB, CLASSES)
    assert model.initial_state(4) is None and len(list(model.initial_state.parameters())) == 0


def test_unknown_cell_names_the_known_ones():
    with pytest.raises(ValueError, match="transformer.*lstm, gru, scratch_rnn, lstm_loop"):
        build_model(config(cell="transformer"), VOCAB, CLASSES)


def test_recurrent_dropout_on_a_cell_without_it_is_rejected():
    with pytest.raises(ValueError, match="recurrent_dropout"):
        build_model(config(cell="gru", recurrent_dropout=0.2), VOCAB, CLASSES)


@pytest.mark.parametrize("freeze", [False, True])
def test_pretrained_embedding_is_copied_and_frozen_on_request(freeze):
    cfg = config(embeddings="navec", freeze_embeddings=freeze)
    pretrained = torch.randn(VOCAB, 8)
    model = build_model(cfg, VOCAB, CLASSES, pretrained)
    assert torch.equal(model.embedding.weight.detach(), pretrained)
    trainable = sum(p.numel() for n, p in model.named_parameters() if n != "embedding.weight")
    assert count_parameters(model) == trainable + (0 if freeze else VOCAB * 8)


def test_pretrained_must_match_embeddings_setting():
    with pytest.raises(ValueError, match="navec"):
        build_model(config(embeddings="navec"), VOCAB, CLASSES)
    with pytest.raises(ValueError, match="shape"):
        build_model(config(embeddings="navec"), VOCAB, CLASSES, torch.zeros(VOCAB, 9))


def test_navec_matrix_covers_known_words():
    from rnnlab.models import embeddings

    try:
        navec = embeddings.load_navec()
    except FileNotFoundError as error:
        print(f"navec not found: {error}")
        pytest.skip(f"natasha's navec file is missing: {error}")
    matrix, coverage = embeddings.pretrained_matrix(["<pad>", "<unk>", "дом", "кот", "zzzqqq"], 300, seed=0)
    assert matrix.shape == (5, 300) and coverage == pytest.approx(2 / 3)
    assert torch.equal(matrix[2], torch.from_numpy(navec["дом"].copy()))
    assert torch.all(matrix[0] == 0) and matrix[4].abs().max() < 1.0
    with pytest.raises(ValueError, match="embedding_dim must be 300"):
        embeddings.pretrained_matrix(["<pad>", "<unk>"], 128, seed=0)
