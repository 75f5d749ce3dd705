"""The character language model: characters (and an optional condition per row) -> next-character logits."""

from __future__ import annotations

from torch import Tensor, nn

from rnnlab.config import LMConfig

PAD_ID, UNK_ID = 0, 1
State = tuple[Tensor, Tensor] | None


class CharLM(nn.Module):
    """An LSTM over character embeddings that returns its state, so a stream can carry it across batches."""

    def __init__(self, cfg: LMConfig, vocab_size: int, conditions: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, cfg.embedding_dim, padding_idx=PAD_ID)
        # The condition's vector is added to every step's input, so the LSTM sees it throughout.
        self.condition = nn.Embedding(conditions, cfg.embedding_dim) if conditions else None
        self.lstm = nn.LSTM(cfg.embedding_dim, cfg.hidden_size, cfg.num_layers, batch_first=True,
                            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, vocab_size)

    def forward(self, tokens: Tensor, state: State = None, condition: Tensor | None = None) -> tuple[Tensor, State]:
        """(B, T) ids, state, (B,) conditions -> (B, T, V) logits and the new state."""
        x = self.embedding(tokens)  # (B, T, E)
        if self.condition is not None:
            if condition is None:
                raise ValueError("this model is conditioned: pass a condition id per row")
            x = x + self.condition(condition).unsqueeze(1)  # (B, 1, E) broadcast over T
        out, state = self.lstm(x, state)  # (B, T, H)
        return self.head(self.dropout(out)), state
