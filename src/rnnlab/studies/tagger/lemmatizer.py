"""Lemmatisation as character-level sequence to sequence: (word form, UPOS) -> lemma, on a treebank's gold lemmas,
trained in the one loop with teacher forcing, scheduled sampling or free running; pymorphy3 as the reference.

Training pairs are the distinct (form, UPOS, lemma) triples of the training sentences; scores count every test
token (running text), and apart the tokens whose form training never had. Lemmas are compared lowercased: the
treebank capitalises proper nouns' lemmas, pymorphy3 never does.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from rnnlab.config import TrainerConfig
from rnnlab.data.conllu import UPOS, Sentence
from rnnlab.models.seq2seq import EOS, CharSeq2Seq
from rnnlab.params import Dropout, PositiveFloat, PositiveInt, flatten
from rnnlab.text.batching import bucketed_batches, ordered_batches, shuffled_batches
from rnnlab.text.vocab import PAD, UNK, Vocab
from rnnlab.training.checkpoint import Checkpoint, ModelKind
from rnnlab.training.loop import (
    Optimization,
    TrainResult,
    resolve_device,
    set_seed,
    to_device,
    train,
)
from rnnlab.training.resume import RunState
from rnnlab.training.tracking import Tracker

IGNORE = -100
Schedule = Literal["teacher_forcing", "linear", "inverse_sigmoid", "free_running"]


@dataclass(frozen=True)
class Seq2SeqModelConfig:
    char_embedding_dim: PositiveInt
    tag_embedding_dim: PositiveInt
    hidden_size: PositiveInt
    dropout: Dropout
    max_len: PositiveInt  # characters read from a form, and written at most for a lemma


@dataclass(frozen=True)
class LemmatizerConfig:
    schedules: tuple[Schedule, ...]  # one model per schedule, compared in one report
    inverse_sigmoid_k: PositiveFloat  # truth is fed with probability k / (k + exp(step / k))
    beam_width: PositiveInt
    model: Seq2SeqModelConfig
    trainer: TrainerConfig


MODEL_KIND = ModelKind(
    Seq2SeqModelConfig, lambda cfg, v, c: CharSeq2Seq(v, c, cfg.char_embedding_dim, cfg.tag_embedding_dim,
                                                      cfg.hidden_size, cfg.dropout))


def feed_back(schedule: str, step: int, total: int, k: float) -> float:
    """The probability of feeding the decoder its own prediction at optimizer step `step` (0-based) of `total`."""
    if schedule == "teacher_forcing":
        return 0.0
    if schedule == "free_running":
        return 1.0
    if schedule == "linear":
        return min(1.0, step / max(1, total - 1))
    if schedule == "inverse_sigmoid":
        return 1.0 - k / (k + math.exp(min(step / k, 700.0)))
    raise ValueError(f"unknown schedule {schedule!r}")


def alphabet_of(pairs: Iterable[tuple[str, str, str]]) -> Vocab:
    """<pad>, <unk>, BOS, EOS, then the characters of the forms and lemmas by frequency."""
    counts = Counter(ch for form, _, lemma in pairs for ch in form + lemma)
    return Vocab((PAD, UNK, "<s>", "</s>", *sorted(counts, key=lambda ch: (-counts[ch], ch))))


def triples(sentences: Iterable[Sentence]) -> list[tuple[str, str, str]]:
    """The distinct (form, UPOS, lemma) of the sentences, in the order they first occur."""
    return list(dict.fromkeys(t for s in sentences for t in zip(s.forms, s.upos, s.lemmas)))


@dataclass(frozen=True)
class PairSplit:
    source: Tensor  # (N, S) form characters, 0-padded
    lengths: Tensor  # (N,)
    tags: Tensor  # (N,) UPOS ids
    target: Tensor  # (N, T) lemma characters then EOS, IGNORE-padded

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, index: Tensor, pad_to_max_len: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The pairs `index` names, as wide as their longest form and lemma (or the whole split's)."""
        lengths, target = self.lengths[index], self.target[index]
        if pad_to_max_len:
            return self.source[index], lengths, self.tags[index], target
        width = int((target != IGNORE).sum(1).max())
        return self.source[index, : int(lengths.max())], lengths, self.tags[index], target[:, :width]


def encode_pairs(pairs: Sequence[tuple[str, str, str]], alphabet: Vocab, max_len: int) -> PairSplit:
    """(form, UPOS, lemma) triples (lemma "" to predict) -> tensors; forms and lemmas cut to `max_len`."""
    tag_index = {tag: i for i, tag in enumerate(UPOS)}
    sources = [alphabet.encode(form[:max_len]) or [1] for form, _, _ in pairs]
    targets = [alphabet.encode(lemma[:max_len]) + [EOS] for _, _, lemma in pairs]
    source = torch.zeros(len(pairs), max(map(len, sources)), dtype=torch.long)
    target = torch.full((len(pairs), max(map(len, targets))), IGNORE, dtype=torch.long)
    for i, (s, t) in enumerate(zip(sources, targets)):
        source[i, : len(s)], target[i, : len(t)] = torch.tensor(s), torch.tensor(t)
    tags = torch.tensor([tag_index[tag] for _, tag, _ in pairs])
    return PairSplit(source, torch.tensor(list(map(len, sources))), tags, target)


class Seq2SeqObjective:
    """Epochs of (form, tag) -> lemma batches; the loss is the mean cross-entropy per lemma character; the best
    epoch has the highest greedy exact-match accuracy on validation pairs."""

    position, unit, monitor, higher_is_better = "epoch", "characters", "val_accuracy", True

    def __init__(self, train: PairSplit, val: PairSplit, cfg: LemmatizerConfig, schedule: str, seed: int,
                 device: torch.device) -> None:
        self.train, self.val, self.cfg, self.schedule, self.device = train, val, cfg, schedule, device
        self.loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE, reduction="sum")
        self.generator = torch.Generator().manual_seed(seed)
        self.epochs_done = self.steps_done = 0
        per_epoch = math.ceil(len(train) / cfg.trainer.batch_size)
        self.total_steps = per_epoch * cfg.trainer.epochs  # the schedule's horizon (bucketing changes it little)

    def rounds(self) -> Iterator[tuple[int, Iterable[Any]]]:
        trainer = self.cfg.trainer
        for epoch in range(self.epochs_done + 1, trainer.epochs + 1):
            self.epochs_done = epoch
            batches = (bucketed_batches(self.train.lengths, trainer.batch_size, self.generator)
                       if trainer.bucket_by_length else
                       shuffled_batches(len(self.train), trainer.batch_size, self.generator))
            yield epoch, (self.train.batch(index, trainer.pad_to_max_len) for index in batches)

    def state_dict(self) -> dict[str, Any]:
        return {"epochs_done": self.epochs_done, "steps_done": self.steps_done, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epochs_done, self.steps_done = state["epochs_done"], state["steps_done"]
        self.generator.set_state(state["generator"])

    def loss(self, model: nn.Module, batch: tuple[Tensor, ...]) -> tuple[Tensor, int, float]:
        source, lengths, tags, target = batch
        p = feed_back(self.schedule, self.steps_done, self.total_steps, self.cfg.inverse_sigmoid_k)
        self.steps_done += 1
        teacher = target.clamp(min=0)  # padding positions read as <pad>; their loss is ignored
        logits = model(to_device(source, self.device), lengths, to_device(tags, self.device),
                       to_device(teacher, self.device), p, self.generator)
        n = int((target != IGNORE).sum())
        return self.loss_fn(logits.flatten(0, 1).float(), to_device(target, self.device).flatten()), n, n

    def validate(self, model: nn.Module) -> dict[str, float]:
        predicted = decode(model, self.val, self.device, beam_width=1, max_len=self.cfg.model.max_len)
        gold = [_strip(row) for row in self.val.target.tolist()]
        return {"val_accuracy": sum(p == g for p, g in zip(predicted, gold)) / len(gold), "feed_back":
                feed_back(self.schedule, self.steps_done, self.total_steps, self.cfg.inverse_sigmoid_k)}


def _strip(row: list[int]) -> list[int]:
    return [i for i in row if i not in (IGNORE, EOS)]


@torch.no_grad()
def decode(model: CharSeq2Seq, split: PairSplit, device: torch.device, beam_width: int, max_len: int,
           batch_size: int = 256) -> list[list[int]]:
    """Each pair's predicted lemma characters: greedy (`beam_width` 1) or beam search."""
    model.eval()
    out: list[list[int]] = [[] for _ in range(len(split))]
    for index in ordered_batches(split.lengths, batch_size):
        source, lengths, tags, _ = split.batch(index)
        source, tags = to_device(source, device), to_device(tags, device)
        rows = (model.greedy(source, lengths, tags, max_len) if beam_width == 1 else
                model.beam(source, lengths, tags, beam_width, max_len))
        for i, row in zip(index.tolist(), rows):
            out[i] = row
    return out


def train_lemmatizer(train_pairs: Sequence[tuple[str, str, str]], val_pairs: Sequence[tuple[str, str, str]],
                     cfg: LemmatizerConfig, schedule: str, tracker: Tracker, seed: int,
                     state: RunState | None = None) -> tuple[Checkpoint, TrainResult]:
    """One model, trained with `schedule`; the alphabet is the training pairs'."""
    if cfg.trainer.class_weight != "none":
        raise ValueError(f"lemmatizer.trainer.class_weight: characters are not weighted, set 'none' "
                         f"(got {cfg.trainer.class_weight!r})")
    set_seed(seed)
    alphabet = alphabet_of(train_pairs)
    m = cfg.model
    model = CharSeq2Seq(len(alphabet), len(UPOS), m.char_embedding_dim, m.tag_embedding_dim, m.hidden_size, m.dropout)
    tracker.log_params({"seed": seed, "schedule": schedule, "alphabet_size": len(alphabet), "pairs": len(train_pairs),
                        **flatten(cfg)})
    device = resolve_device(cfg.trainer.device)
    objective = Seq2SeqObjective(encode_pairs(train_pairs, alphabet, m.max_len),
                                 encode_pairs(val_pairs, alphabet, m.max_len), cfg, schedule, seed, device)
    t = cfg.trainer
    result = train(model, objective, Optimization(t.lr, t.weight_decay, t.clip_grad_norm, t.autocast), device,
                   tracker, patience=t.patience, state=state)
    meta = {"schedule": schedule, "best_epoch": result.best_position, "val_accuracy": result.best["val_accuracy"]}
    return Checkpoint("lemmatizer", m, model.cpu(), alphabet, list(UPOS), meta), result


def lemmatize(ckpt: Checkpoint, words: Sequence[tuple[str, str]], beam_width: int = 1) -> list[str]:
    """Lemmas of (form, UPOS) pairs with a checkpoint of kind `lemmatizer`."""
    split = encode_pairs([(form, tag, "") for form, tag in words], ckpt.vocab, ckpt.config.max_len)
    rows = decode(ckpt.model, split, torch.device("cpu"), beam_width, ckpt.config.max_len)
    return [spell(ckpt.vocab, row) for row in rows]


def spell(alphabet: Vocab, ids: Sequence[int]) -> str:
    """The characters of decoded ids (the special ids, which the decoder may emit early in training, dropped)."""
    return "".join(alphabet.itos[i] for i in ids if i > EOS)


# pymorphy3's parts of speech (OpenCorpora) each UPOS may be; the first parse among them gives the lemma
_PYMORPHY_POS = {
    "NOUN": {"NOUN"}, "PROPN": {"NOUN"}, "VERB": {"VERB", "INFN", "PRTF", "PRTS", "GRND"}, "AUX": {"VERB", "INFN"},
    "ADJ": {"ADJF", "ADJS", "COMP", "PRTF", "PRTS"}, "ADV": {"ADVB", "COMP", "PRED"}, "NUM": {"NUMR"},
    "PRON": {"NPRO"}, "DET": {"ADJF", "NPRO"}, "ADP": {"PREP"}, "CCONJ": {"CONJ"}, "SCONJ": {"CONJ"},
    "PART": {"PRCL"}, "INTJ": {"INTJ"},
}


def pymorphy3_lemmas(words: Sequence[tuple[str, str]]) -> list[str]:
    """pymorphy3's lemma of each (form, UPOS): its first parse whose part of speech fits the UPOS, else its
    first parse."""
    import pymorphy3

    morph = pymorphy3.MorphAnalyzer()
    out = []
    for form, tag in words:
        parses = morph.parse(form)
        fitting = [p for p in parses if p.tag.POS in _PYMORPHY_POS.get(tag, set())]
        out.append((fitting or parses)[0].normal_form)
    return out


def exact_match(gold: Sequence[tuple[str, str, str]], predicted: Sequence[str], known: set[str]) -> dict[str, float]:
    """Share of tokens whose lemma is right (lowercased), over all tokens and over those with a form `known`
    (training's forms) lacks."""
    right = [p.lower() == lemma.lower() for (_, _, lemma), p in zip(gold, predicted, strict=True)]
    unseen = [r for (form, _, _), r in zip(gold, right) if form not in known]
    return {"accuracy": sum(right) / len(right), "unseen_accuracy": sum(unseen) / max(len(unseen), 1),
            "tokens": len(right), "unseen_tokens": len(unseen)}
