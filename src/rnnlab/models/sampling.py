"""Sampling from a language model: each drawn character is fed back as the next input."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from rnnlab.models.language import PAD_ID, UNK_ID, CharLM


def next_char(logits: Tensor, temperature: float, top_k: int, generator: torch.Generator | None,
              banned: Sequence[int] = (PAD_ID, UNK_ID)) -> int:
    """Sample an id from (V,) logits: banned ids never, only the top k when k > 0, argmax at temperature 0."""
    logits = logits.detach().float().clone()
    logits[list(banned)] = -math.inf
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
        logits[logits < kth] = -math.inf
    if temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=-1)  # (V,)
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.no_grad()
def generate(model: CharLM, prime: Sequence[int], length: int, temperature: float, top_k: int,
             generator: torch.Generator | None, condition: int | None = None, stop: int | None = None,
             banned: Sequence[int] = (PAD_ID, UNK_ID)) -> list[int]:
    """Up to `length` ids after `prime`, each fed back as the next input; ends early at `stop`."""
    if not prime:
        raise ValueError("the prime must hold at least one character")
    model.eval()
    cond = None if condition is None else torch.tensor([condition])
    logits, state = model(torch.tensor([list(prime)]), None, cond)  # (1, P, V)
    out: list[int] = []
    for _ in range(length):
        token = next_char(logits[0, -1], temperature, top_k, generator, banned)
        if token == stop:
            break
        out.append(token)
        logits, state = model(torch.tensor([[token]]), state, cond)  # (1, 1, V)
    return out
