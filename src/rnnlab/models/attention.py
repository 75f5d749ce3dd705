"""Attention pooling: the classifier's encoder outputs weighed by additive attention over the real tokens.

`pooling: attention` is a choice of any classifier config once this module is imported; such a
classifier is built with `build_attention_classifier` (the model of `build_model` with a learned pooling
in place of the parameter-free ones). It lives beside `rnnlab.models.classifier` rather than in it so
that adding it changed no module the trained pipelines depend on.
"""

from __future__ import annotations

import dataclasses

from torch import Tensor, nn

from rnnlab.config import ModelConfig
from rnnlab.models.cells import length_mask
from rnnlab.models.classifier import POOLINGS, TextClassifier, build_model

ATTENTION = "attention"

POOLING_CHOICES = (*POOLINGS, ATTENTION)  # what `ModelConfig.pooling` accepts: attention is built here


class AttentionPooling(nn.Module):
    """Additive attention (Bahdanau et al., 2015): a_t = softmax_t(v . tanh(W h_t + b)) over real tokens.

    The softmax sees -inf at padded steps, so their weights are exactly 0 and the rest sum to 1.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.project = nn.Linear(size, size)
        self.score = nn.Linear(size, 1, bias=False)

    def attend(self, outputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, D), (B,) -> pooled (B, D) and weights (B, T)."""
        scores = self.score(self.project(outputs).tanh()).squeeze(-1)  # (B, T)
        mask = length_mask(lengths.to(outputs.device), outputs.size(1))  # (B, T)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(1)  # (B, T)
        return (weights.unsqueeze(-1) * outputs).sum(1), weights

    def forward(self, outputs: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, D), (B,) -> (B, D): what `TextClassifier.forward` feeds its head."""
        return self.attend(outputs, lengths)[0]


def build_attention_classifier(cfg: ModelConfig, vocab_size: int, num_classes: int,
                               pretrained: Tensor | None = None) -> TextClassifier:
    """`build_model`'s classifier for a `pooling: attention` config, its pooling the learned attention."""
    if cfg.pooling != ATTENTION:
        raise ValueError(f"build_attention_classifier builds pooling {ATTENTION!r}, not {cfg.pooling!r}")
    model = build_model(dataclasses.replace(cfg, pooling="max"), vocab_size, num_classes, pretrained)  # then swapped
    model.pooling = AttentionPooling(cfg.hidden_size * (2 if cfg.bidirectional else 1))
    return model


def encode(model: TextClassifier, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """The encoder outputs (B, T, H*D) of a classifier, as its forward computes them, and the lengths it read."""
    lengths = lengths.clamp(min=1)
    x = model.embedding_dropout(model.embedding(tokens))  # (B, T, E)
    return model.encoder(x, lengths, model.initial_state(tokens.size(0))), lengths


def attend(model: TextClassifier, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """An attention classifier's logits (B, C) and its attention weights (B, T) over the tokens."""
    if not isinstance(model.pooling, AttentionPooling):
        raise TypeError("this classifier pools without attention: it has no attention weights")
    outputs, lengths = encode(model, tokens, lengths)
    pooled, weights = model.pooling.attend(outputs, lengths)
    return model.head(pooled), weights
