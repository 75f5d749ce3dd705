"""Character language models: corpus text, stream batches, the LSTM, TBPTT training, sampling, checkpoints."""

from __future__ import annotations

import argparse
import copy
import math
import pickle
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.config import ConfigError, from_dict
from rnnlab.corpora import get_corpus
from rnnlab.files import atomic_path
from rnnlab.tracking import Tracker
from rnnlab.training import resolve_device
from rnnlab.vocab import Vocab, build_vocab

PAD_ID, UNK_ID = 0, 1
IGNORE = -100  # target id that the loss skips (padding after a name's end)
State = tuple[Tensor, Tensor] | None

# Each corpus's text runs from the end of its start marker's line to the start of its end marker's line.
GUTENBERG = (r"^\*\*\* ?START OF (?:THE|THIS) PROJECT GUTENBERG.*$",
             r"^\*\*\* ?END OF (?:THE|THIS) PROJECT GUTENBERG.*$")
MARKERS: dict[str, tuple[str, str]] = {
    "alice": (r"^ CHAPTER XII\.\s+Alice.s Evidence$", r"^THE END$"),  # last line of the contents; the end
    "war_and_peace": (r"^ВОЙНА И МИР\s*$", r"^Печатные варианты\s*$"),  # after the blurb; before the notes
}


@dataclass(frozen=True)
class LMConfig:
    embedding_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.2


@dataclass(frozen=True)
class LMTrainerConfig:
    device: str = "auto"
    steps: int = 1800
    lr: float = 0.003
    clip_grad_norm: float = 1.0  # 0 = no clipping
    eval_every: int = 200
    num_threads: int = 1

    def __post_init__(self) -> None:
        if self.steps < 1 or self.eval_every < 1 or self.lr <= 0:
            raise ConfigError(f"trainer: steps and eval_every must be >= 1 and lr > 0, got {self}")


@dataclass(frozen=True)
class SampleConfig:
    prime: str = "\n"
    length: int = 500
    temperature: float = 0.8
    top_k: int = 5  # 0 = the whole alphabet

    def __post_init__(self) -> None:
        if not self.prime or self.length < 1 or self.temperature < 0 or self.top_k < 0:
            raise ConfigError(f"sample: needs a prime, length >= 1, temperature >= 0 and top_k >= 0, got {self}")


@dataclass(frozen=True)
class CharLMConfig:
    corpus: Literal["tinyshakespeare", "alice", "war_and_peace", "onegin"] = "tinyshakespeare"
    val_fraction: float = 0.1  # the last part of the text, held out
    batch_size: int = 32  # rows of the stream
    seq_len: int = 100  # steps of truncated backpropagation through time
    model: LMConfig = LMConfig()
    trainer: LMTrainerConfig = LMTrainerConfig()
    sample: SampleConfig = SampleConfig()


def cut_between(text: str, start: str, end: str, required: bool, name: str) -> str:
    """The text between the line matching `start` and the first later line matching `end`."""
    first = re.search(start, text, re.MULTILINE)
    last = re.compile(end, re.MULTILINE).search(text, first.end()) if first else None
    if first is None or last is None:
        if required:
            raise ValueError(f"{name}: marker {start if first is None else end!r} not found")
        return text
    return text[first.end() : last.start()]


def clean_text(text: str, corpus: str) -> str:
    """Drop Project Gutenberg's header and footer when present, then the corpus's own front and back matter."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    text = cut_between(text, *GUTENBERG, required=False, name=corpus)
    if corpus in MARKERS:
        text = cut_between(text, *MARKERS[corpus], required=True, name=corpus)
    return text.strip() + "\n"


def read_corpus_text(raw_dir: Path, corpus: str) -> str:
    """The cleaned text of a one-file corpus downloaded under `raw_dir/<corpus>/`."""
    files = list(get_corpus(corpus).files)
    if len(files) != 1:
        raise ValueError(f"corpus {corpus!r} has {len(files)} files; a character LM reads one long text")
    return clean_text((raw_dir / corpus / files[0]).read_text(encoding="utf-8"), corpus)


@dataclass
class LMBatch:
    inputs: Tensor  # (B, T) ids
    targets: Tensor  # (B, T) ids, IGNORE where nothing is predicted
    carry: bool  # rows continue the previous batch's rows: keep (detached) state
    condition: Tensor | None = None  # (B,) condition ids, e.g. languages


def stream_batches(ids: Tensor, batch_size: int, seq_len: int) -> list[LMBatch]:
    """Cut a 1-D stream into `batch_size` contiguous rows, then into windows of `seq_len` steps.

    Row b of batch k+1 continues where row b of batch k stopped; targets are inputs shifted by one.
    """
    rows = (len(ids) - 1) // batch_size
    if rows < 1:
        raise ValueError(f"a stream of {len(ids)} characters is too short for {batch_size} rows")
    inputs = ids[: rows * batch_size].view(batch_size, rows)  # (B, R): row b starts at b * R
    targets = ids[1 : rows * batch_size + 1].view(batch_size, rows)  # (B, R)
    return [LMBatch(inputs[:, s : s + seq_len], targets[:, s : s + seq_len], carry=s > 0)
            for s in range(0, rows, seq_len)]


def stream_epochs(ids: Tensor, batch_size: int, seq_len: int, generator: torch.Generator) -> Iterator[LMBatch]:
    """Endless passes over the stream, each from a random offset so window edges move between passes."""
    while True:
        offset = int(torch.randint(seq_len, (1,), generator=generator))
        yield from stream_batches(ids[offset:], batch_size, seq_len)


class CharLM(nn.Module):
    """Characters (and an optional condition per row) -> next-character logits, carrying LSTM state."""

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


def _step(model: CharLM, batch: LMBatch, state: State, device: torch.device) -> tuple[Tensor, Tensor, State]:
    """Summed loss, number of predicted characters, next state."""
    state = tuple(s.detach() for s in state) if batch.carry and state is not None else None  # truncated BPTT
    condition = None if batch.condition is None else batch.condition.to(device)
    logits, state = model(batch.inputs.to(device), state, condition)  # (B, T, V)
    targets = batch.targets.to(device).flatten()  # (B*T,)
    loss = F.cross_entropy(logits.flatten(0, 1), targets, ignore_index=IGNORE, reduction="sum")
    return loss, (targets != IGNORE).sum(), state


@torch.no_grad()
def evaluate_lm(model: CharLM, batches: Sequence[LMBatch], device: torch.device) -> float:
    """Mean loss per predicted character, in nats; state carried as in training."""
    model.eval()
    total, count, state = 0.0, 0, None
    for batch in batches:
        loss, n, state = _step(model, batch, state, device)
        total, count = total + float(loss), count + int(n)
    model.train()
    return total / max(count, 1)


@dataclass
class LMResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_step: int = 0
    best_val_loss: float = math.inf
    best_state: dict[str, Tensor] = field(default_factory=dict)


def train_lm(model: CharLM, batches: Iterator[LMBatch], val: Sequence[LMBatch], cfg: LMTrainerConfig,
             tracker: Tracker) -> LMResult:
    """Adam with gradient clipping for `cfg.steps` batches; the weights with the best validation loss win."""
    device = resolve_device(cfg.device)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    result, state, total, count, start = LMResult(), None, 0.0, 0, time.perf_counter()
    for step in range(1, cfg.steps + 1):
        loss, n, state = _step(model, next(batches), state, device)
        optimizer.zero_grad(set_to_none=True)
        (loss / n.clamp(min=1)).backward()
        if cfg.clip_grad_norm > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
        optimizer.step()
        total, count = total + loss.item(), count + int(n)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            val_loss = evaluate_lm(model, val, device)
            record = {"train_loss": total / max(count, 1), "val_loss": val_loss, "val_bpc": val_loss / math.log(2),
                      "seconds": time.perf_counter() - start}
            result.history.append({"step": step, **record})
            tracker.log_metrics(record, step=step)
            print(f"step {step}: train {record['train_loss']:.3f}, val {val_loss:.3f} nats "
                  f"({record['val_bpc']:.3f} bpc), {record['seconds']:.0f} s", file=sys.stderr)
            total, count = 0.0, 0
            if val_loss < result.best_val_loss:
                result.best_step, result.best_val_loss = step, val_loss
                result.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
    model.load_state_dict(result.best_state)
    return result


def train_charlm(text: str, cfg: CharLMConfig, tracker: Tracker, seed: int) -> tuple[CharLM, Vocab, LMResult]:
    """Character vocabulary from the training text, an LSTM trained on it, validated on the held-out tail."""
    cut = int(len(text) * (1 - cfg.val_fraction))
    vocab = build_vocab([text[:cut]], max_size=10**6, min_freq=1)
    train_ids = torch.tensor(vocab.encode(text[:cut]), dtype=torch.long)
    val_ids = torch.tensor(vocab.encode(text[cut:]), dtype=torch.long)
    model = CharLM(cfg.model, len(vocab))
    batches = stream_epochs(train_ids, cfg.batch_size, cfg.seq_len, torch.Generator().manual_seed(seed))
    val = stream_batches(val_ids, cfg.batch_size, cfg.seq_len)
    return model, vocab, train_lm(model, batches, val, cfg.trainer, tracker)


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


@dataclass
class Checkpoint:
    model: CharLM
    config: LMConfig
    vocab: Vocab
    conditions: list[str]
    meta: dict


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    """Weights, hyperparameters, alphabet and condition names: all that sampling needs."""
    payload = {"config": asdict(ckpt.config), "itos": list(ckpt.vocab.itos), "conditions": list(ckpt.conditions),
               "meta": ckpt.meta, "state_dict": {k: v.detach().cpu() for k, v in ckpt.model.state_dict().items()}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_payload(path: str | Path, keys: set[str], kind: str) -> dict:
    """A checkpoint's dict, with clear errors for a missing, unreadable or foreign file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, TypeError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path}: not a readable checkpoint ({err})") from err
    missing = keys - set(payload) if isinstance(payload, dict) else keys
    if missing:
        raise ValueError(f"{path}: not a {kind} checkpoint (missing {', '.join(sorted(missing))})")
    return payload


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Rebuild the model of a checkpoint written by `save_checkpoint`, on the CPU, in eval mode."""
    payload = read_payload(path, {"config", "itos", "conditions", "meta", "state_dict"}, "character LM")
    cfg = from_dict(LMConfig, payload["config"], where=f"{path}: config")
    vocab = Vocab(tuple(payload["itos"]))
    model = CharLM(cfg, len(vocab), len(payload["conditions"]))
    model.load_state_dict(payload["state_dict"])
    return Checkpoint(model.eval(), cfg, vocab, list(payload["conditions"]), payload["meta"])


def sample_text(ckpt: Checkpoint, prime: str, length: int, temperature: float, top_k: int, seed: int) -> str:
    """The prime followed by `length` sampled characters; characters outside the alphabet are an error."""
    unknown = sorted({c for c in prime if c not in ckpt.vocab.stoi})
    if not prime or unknown:
        raise ValueError(f"prime characters not in the model's alphabet: {unknown}" if prime else "the prime is empty")
    generator = torch.Generator().manual_seed(seed)
    ids = generate(ckpt.model, ckpt.vocab.encode(prime), length, temperature, top_k, generator)
    return prime + "".join(ckpt.vocab.decode(ids))


def _sample_command(args: argparse.Namespace) -> int:
    from rnnlab.cli import CommandError

    if args.length < 1 or args.temperature < 0 or args.top_k < 0:
        raise CommandError("--length must be >= 1, --temperature >= 0 and --top-k >= 0")
    try:
        ckpt = load_checkpoint(args.checkpoint)
        print(sample_text(ckpt, args.prime, args.length, args.temperature, args.top_k, args.seed))
    except (FileNotFoundError, ValueError) as err:
        raise CommandError(str(err)) from err
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """`rnnlab charlm sample`."""
    charlm = subparsers.add_parser("charlm", help="character language model").add_subparsers(required=True)
    sample = charlm.add_parser("sample", help="write text with a trained character LM")
    sample.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint from the charlm_train stage")
    sample.add_argument("--prime", required=True, help="text to start from (at least one character)")
    sample.add_argument("--length", type=int, default=500, help="characters to add")
    sample.add_argument("--temperature", type=float, default=0.8, help="0 = always the likeliest character")
    sample.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest characters; 0 = all")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(func=_sample_command)
