"""Attention pooling: weights over real tokens only, logits equal to the classifier's, the checkpoint kind."""

import pytest
import torch

from rnnlab.config import ModelConfig
from rnnlab.models.attention import AttentionPooling, attend, build_attention_classifier
from rnnlab.models.classifier import build_model
from rnnlab.params import ConfigError, from_dict
from rnnlab.text.vocab import Vocab
from rnnlab.training.attention import KIND
from rnnlab.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from tests.configs import MODEL, model_config

LENGTHS = torch.tensor([5, 1, 3])


def batch(vocab_size: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    tokens = torch.randint(2, vocab_size, (len(LENGTHS), int(LENGTHS.max())))
    return tokens.masked_fill(torch.arange(tokens.size(1)) >= LENGTHS.unsqueeze(1), 0), LENGTHS


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "lstm_loop"])
@pytest.mark.parametrize("bidirectional,packed", [(False, True), (False, False), (True, True)])
def test_weights_sum_to_one_over_real_tokens_and_are_zero_on_padding(cell, bidirectional, packed):
    cfg = model_config(cell=cell, pooling="attention", bidirectional=bidirectional, packed=packed,
                       embedding_dim=8, hidden_size=6)
    model = build_attention_classifier(cfg, 30, 3).eval()
    tokens, lengths = batch()
    logits, weights = attend(model, tokens, lengths)
    assert weights.shape == tokens.shape
    real = torch.arange(tokens.size(1)) < lengths.unsqueeze(1)
    assert torch.all(weights[~real] == 0)
    assert torch.all(weights[real] > 0)
    assert torch.allclose(weights.sum(1), torch.ones(len(lengths)))
    assert torch.allclose(logits, model(tokens, lengths), atol=1e-6)  # the weights come with the model's own logits


def test_the_pooled_vector_is_the_weighted_sum_of_the_outputs():
    pooling = AttentionPooling(4)
    outputs = torch.randn(2, 3, 4)
    pooled, weights = pooling.attend(outputs, torch.tensor([3, 2]))
    assert torch.allclose(pooled, torch.einsum("bt,btd->bd", weights, outputs))
    assert torch.allclose(pooled[1], weights[1, 0] * outputs[1, 0] + weights[1, 1] * outputs[1, 1])


def test_attention_is_a_pooling_choice_and_build_model_alone_refuses_it():
    assert from_dict(ModelConfig, {**MODEL, "pooling": "attention"}, "m").pooling == "attention"
    with pytest.raises(ConfigError, match="pooling"):
        from_dict(ModelConfig, {**MODEL, "pooling": "attentive"}, "m")
    with pytest.raises(ValueError, match="build_attention_classifier"):
        build_model(model_config(pooling="attention", embedding_dim=8, hidden_size=6), 30, 3)
    with pytest.raises(ValueError, match="not 'max'"):
        build_attention_classifier(model_config(pooling="max"), 30, 3)


def test_a_classifier_without_attention_has_no_weights():
    model = build_model(model_config(pooling="max", embedding_dim=8, hidden_size=6), 30, 3)
    with pytest.raises(TypeError, match="without attention"):
        attend(model, *batch())


def test_the_checkpoint_rebuilds_the_attention_classifier(tmp_path):
    cfg = model_config(pooling="attention", bidirectional=True, embedding_dim=8, hidden_size=6)
    model = build_attention_classifier(cfg, 30, 3).eval()
    vocab = Vocab(("<pad>", "<unk>", *[f"w{i}" for i in range(28)]))
    save_checkpoint(tmp_path / "a.pt", Checkpoint(KIND, cfg, model, vocab, ["a", "b", "c"], {}))
    loaded = load_checkpoint(tmp_path / "a.pt", kind=KIND)
    assert isinstance(loaded.model.pooling, AttentionPooling)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.model.state_dict()[name]), name
    assert torch.equal(attend(model, *batch())[1], attend(loaded.model, *batch())[1])
