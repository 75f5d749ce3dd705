"""What a recurrent classifier looks at: the class probabilities after every prefix of a text, the hidden
units over time and, for attention models, the attention weights; as text, an HTML page and figures.

The probability after prefix t is the model's own output on the text's first t tokens (all prefixes go
through the model as one batch), so the last one is exactly its prediction for the whole text, for any
cell, direction or pooling.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from rnnlab.data.files import atomic_path
from rnnlab.models.attention import AttentionPooling, attend, encode
from rnnlab.models.classifier import TextClassifier
from rnnlab.params import NonNegativeInt, PositiveInt
from rnnlab.training.reports import plt  # matplotlib without a display


@dataclass(frozen=True)
class Explanation:
    """One text read by one model."""

    tokens: list[str]
    classes: list[str]
    probabilities: Tensor  # (T, C): after each prefix; the last row is the prediction on the whole text
    hidden: Tensor  # (T, H*D): the encoder's outputs at each token
    attention: Tensor | None  # (T,): attention models only

    @property
    def predicted(self) -> int:
        return int(self.probabilities[-1].argmax())

    def predicted_probability(self) -> Tensor:
        """(T,) the probability of the predicted class after each prefix."""
        return self.probabilities[:, self.predicted]


@torch.no_grad()
def explain(model: TextClassifier, ids: Sequence[int], tokens: Sequence[str], classes: Sequence[str]) -> Explanation:
    """Read one text of token ids (at least one; `tokens` name them) token by token."""
    if not ids or len(ids) != len(tokens):
        raise ValueError(f"explain needs one or more token ids, each with its token ({len(ids)} ids, {len(tokens)} tokens)")
    model.eval()
    device = next(model.parameters()).device
    n = len(ids)
    row = torch.tensor(list(ids), dtype=torch.long)
    prefixes = torch.tril(row.expand(n, n))  # (T, T): prefix t is row t-1, zero padding after it
    lengths = torch.arange(1, n + 1)
    probabilities = model(prefixes.to(device), lengths).float().softmax(-1).cpu()  # (T, C)
    whole = row.unsqueeze(0).to(device)
    hidden = encode(model, whole, torch.tensor([n]))[0][0].float().cpu()  # (T, H*D)
    attention = None
    if isinstance(model.pooling, AttentionPooling):
        attention = attend(model, whole, torch.tensor([n]))[1][0].float().cpu()  # (T,)
    return Explanation(list(tokens), list(classes), probabilities, hidden, attention)


def changes(explanation: Explanation) -> Tensor:
    """(T,) how much each token moved the predicted class's probability (the first: from a uniform guess)."""
    path = explanation.predicted_probability()
    before = torch.cat([torch.tensor([1.0 / len(explanation.classes)]), path[:-1]])
    return path - before


def format_explanation(explanation: Explanation) -> str:
    """A table: each token, its attention weight (attention models), the predicted class's probability
    after reading up to it, and the change that token made."""
    label = explanation.classes[explanation.predicted]
    final = explanation.probabilities[-1]
    header = "  ".join(f"{c}: {p:.3f}" for c, p in zip(explanation.classes, final.tolist(), strict=True))
    lines = [f"-> {label:<10} {header}",
             f"  {'token':<20}" + (f"{'attention':>10}" if explanation.attention is not None else "")
             + f"{'p(' + label + ')':>16}{'change':>9}"]
    weights = explanation.attention.tolist() if explanation.attention is not None else [None] * len(explanation.tokens)
    for token, weight, p, d in zip(explanation.tokens, weights, explanation.predicted_probability().tolist(),
                                   changes(explanation).tolist(), strict=True):
        lines.append(f"  {token:<20}" + (f"{weight:>10.3f}" if weight is not None else "") + f"{p:>16.3f}{d:>+9.3f}")
    return "\n".join(lines)


def _span(token: str, change: float, weight: float | None) -> str:
    # green where the token raised the predicted class's probability, red where it lowered it;
    # attention models underline each token as thickly as it is weighed
    alpha = min(1.0, abs(change) * 2)
    colour = f"rgba(46, 160, 67, {alpha:.3f})" if change >= 0 else f"rgba(215, 58, 73, {alpha:.3f})"
    style = f"background:{colour};padding:2px 3px;margin:1px;border-radius:3px"
    title = f"change {change:+.3f}"
    if weight is not None:
        style += f";border-bottom:{1 + round(weight * 12)}px solid rgba(31, 111, 235, {min(1.0, 0.2 + weight * 3):.3f})"
        title += f", attention {weight:.3f}"
    return f'<span style="{style}" title="{title}">{html.escape(token)}</span>'


def explanation_html(texts: Sequence[str], explanations: Sequence[Explanation], model: str) -> str:
    """A page: every text with its tokens coloured by how they moved the predicted class's probability."""
    parts = []
    for text, exp in zip(texts, explanations, strict=True):
        weights = exp.attention.tolist() if exp.attention is not None else [None] * len(exp.tokens)
        spans = " ".join(_span(t, d, w) for t, d, w in zip(exp.tokens, changes(exp).tolist(), weights, strict=True))
        probs = ", ".join(f"{c} {p:.3f}" for c, p in zip(exp.classes, exp.probabilities[-1].tolist(), strict=True))
        parts.append(f"<div class=post><p class=text>{html.escape(text)}</p><p>{spans}</p>"
                     f"<p class=label>&rarr; <b>{html.escape(exp.classes[exp.predicted])}</b> ({probs})</p></div>")
    legend = ("Green: the token raised the predicted class's probability, red: it lowered it (hover for numbers)"
              + ("; the underline is the attention weight." if any(e.attention is not None for e in explanations)
                 else "."))
    return ("<!doctype html><html><head><meta charset=utf-8><title>rnnlab explain</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:2em auto}.post{margin-bottom:1.5em}"
            ".text{color:#555}.label{margin-top:0}</style></head><body>"
            f"<h1>{html.escape(model)}</h1><p>{legend}</p>{''.join(parts)}</body></html>\n")


def plot_explanation(explanation: Explanation, title: str, path: Path) -> None:
    """Class probability paths over the tokens, the hidden units over time and (attention models) the weights."""
    rows = 3 if explanation.attention is not None else 2
    n = len(explanation.tokens)
    fig, axes = plt.subplots(rows, 1, figsize=(max(6.0, 0.42 * n + 2), 2.3 * rows + 1.2), sharex=True,
                             gridspec_kw={"height_ratios": [1.0, 1.4, 0.8][:rows]})
    steps = range(n)
    for k, name in enumerate(explanation.classes):
        axes[0].plot(steps, explanation.probabilities[:, k].numpy(), marker="o", markersize=3, label=name)
    axes[0].set_ylim(0, 1)
    axes[0].set_ylabel("p(class | prefix)")
    axes[0].legend(loc="upper left", fontsize=8, ncol=len(explanation.classes))
    axes[0].set_title(title, fontsize=10)
    image = axes[1].imshow(explanation.hidden.T.numpy(), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                           interpolation="nearest")
    axes[1].set_ylabel("hidden unit")
    fig.colorbar(image, ax=axes[1], pad=0.01, fraction=0.03)
    if explanation.attention is not None:
        axes[2].bar(steps, explanation.attention.numpy(), color="tab:blue")
        axes[2].set_ylabel("attention")
    axes[-1].set_xticks(list(steps))
    axes[-1].set_xticklabels(explanation.tokens, rotation=60, ha="right", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


@dataclass(frozen=True)
class ExplainConfig:
    """Which test posts the explain stage draws: the first `right` the model classifies rightly and the first
    `wrong` it gets wrong, in test order, among those of `min_tokens` to `max_tokens` tokens (few unknown)."""

    right: NonNegativeInt
    wrong: NonNegativeInt
    min_tokens: PositiveInt
    max_tokens: PositiveInt


UNK = 1


def pick_posts(lengths: Tensor, tokens: Tensor, correct: Tensor, cfg: ExplainConfig) -> list[int]:
    """Row indices of the posts to explain: the right ones first, each group in test order."""
    if cfg.min_tokens > cfg.max_tokens:
        raise ValueError(f"explain.min_tokens ({cfg.min_tokens}) > explain.max_tokens ({cfg.max_tokens})")
    unknown = (tokens == UNK).sum(1)
    fits = (lengths >= cfg.min_tokens) & (lengths <= cfg.max_tokens) & (unknown * 5 <= lengths)  # <= 20% <unk>
    picked = []
    for want, count in ((True, cfg.right), (False, cfg.wrong)):
        found = torch.nonzero(fits & (correct == want)).flatten()[:count].tolist()
        if len(found) < count:
            raise ValueError(f"only {len(found)} {'right' if want else 'wrong'} test posts of {cfg.min_tokens}-"
                             f"{cfg.max_tokens} tokens; lower explain.{'right' if want else 'wrong'} or widen the range")
        picked += found
    return picked
