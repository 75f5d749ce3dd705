"""Part-of-speech tagging (UPOS) with a bidirectional LSTM, trained in the one loop, beside two baselines: the most
frequent tag of each word, and slovnet's morphology model (in the natasha wheel, run offline).

Words are looked up lowercased (navec's words are); the character encoder reads them as written. A share of the
training words (`word_dropout`) is read as <unk>, so that the model learns to tag from the spelling the words it
will meet outside its vocabulary.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from torch import Tensor, nn

from rnnlab.config import TrainerConfig
from rnnlab.data.conllu import UPOS, Sentence
from rnnlab.models.embeddings import EMBEDDINGS, NAVEC_DIM, load_navec
from rnnlab.models.tagger import BiLSTMTagger
from rnnlab.params import Choice, Dropout, PositiveInt, Range, flatten
from rnnlab.text.batching import bucketed_batches, ordered_batches, shuffled_batches
from rnnlab.text.vocab import Vocab, build_vocab
from rnnlab.training.checkpoint import Checkpoint, ModelKind
from rnnlab.training.classification import class_weights
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

IGNORE = -100  # the tag of a padding position: no loss, no score
SUFFIX = 3  # the most-frequent-tag baseline falls back on a word's last characters


@dataclass(frozen=True)
class TaggerModelConfig:
    embeddings: Annotated[str, Choice("rnnlab.models.embeddings:EMBEDDINGS")]  # navec: the word vectors start from navec's
    embedding_dim: PositiveInt
    char_embedding_dim: PositiveInt
    char_hidden_size: PositiveInt
    hidden_size: PositiveInt
    num_layers: PositiveInt
    dropout: Dropout
    max_chars: Annotated[int, Range(low=3)]  # the alphabet: <pad>, <unk> and the most frequent training characters
    max_word_len: PositiveInt  # characters read per word (its first ones)
    # every word's own navec vector (zeros where navec lacks it), fixed, beside the trained one: a word outside
    # the training vocabulary keeps its meaning
    navec_features: bool


@dataclass(frozen=True)
class TaggerConfig:
    min_freq: PositiveInt  # training words seen this often get a vector of their own
    word_dropout: Dropout  # share of training words read as <unk>
    model: TaggerModelConfig
    trainer: TrainerConfig


def build_tagger(cfg: TaggerModelConfig, vocab_size: int, n_tags: int,
                 pretrained: Tensor | None = None) -> BiLSTMTagger:
    return BiLSTMTagger(vocab_size, cfg.max_chars, n_tags, cfg.embedding_dim, cfg.char_embedding_dim,
                        cfg.char_hidden_size, cfg.hidden_size, cfg.num_layers, cfg.dropout, pretrained,
                        NAVEC_DIM if cfg.navec_features else 0)


MODEL_KIND = ModelKind(TaggerModelConfig, lambda cfg, v, c: build_tagger(cfg, v, c))


@dataclass(frozen=True)
class TaggedBatch:
    words: Tensor  # (B, T) word ids, 0 on padding
    chars: Tensor  # (B, T, L) character ids, 0 on padding
    lengths: Tensor  # (B,)
    tags: Tensor  # (B, T) tag ids, IGNORE on padding
    features: Tensor | None  # (B, T, F) fixed word vectors, zeros on padding; None without them


class TaggedSplit:
    """Sentences as id lists; `batch` pads a group of them to its longest sentence and word. With `lexicon`
    (one fixed vector per distinct word), `entries` give each token's row of it."""

    def __init__(self, words: list[list[int]], chars: list[list[list[int]]], tags: list[list[int]],
                 lexicon: Tensor | None = None, entries: list[list[int]] | None = None) -> None:
        self.words, self.chars, self.tags, self.lexicon, self.entries = words, chars, tags, lexicon, entries
        self.lengths = torch.tensor([len(s) for s in words])

    def __len__(self) -> int:
        return len(self.words)

    def batch(self, index: Tensor, pad_to_max_len: bool = False) -> TaggedBatch:
        """The sentences `index` names, padded to the longest of them (or of the whole split)."""
        rows = index.tolist()
        width = int(self.lengths.max()) if pad_to_max_len else max(len(self.words[i]) for i in rows)
        spell = max(len(w) for i in rows for w in self.chars[i])
        words = torch.zeros(len(rows), width, dtype=torch.long)
        chars = torch.zeros(len(rows), width, spell, dtype=torch.long)
        tags = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for b, i in enumerate(rows):
            n = len(self.words[i])
            words[b, :n] = torch.tensor(self.words[i])
            tags[b, :n] = torch.tensor(self.tags[i])
            for t, word in enumerate(self.chars[i]):
                chars[b, t, : len(word)] = torch.tensor(word)
        features = None
        if self.lexicon is not None and self.entries is not None:
            features = torch.zeros(len(rows), width, self.lexicon.size(1))
            for b, i in enumerate(rows):
                features[b, : len(self.entries[i])] = self.lexicon[self.entries[i]]
        return TaggedBatch(words, chars, self.lengths[index], tags, features)


def navec_lexicon(sentences: Sequence[Sequence[str]]) -> tuple[Tensor, list[list[int]]]:
    """navec's vector of each distinct lowercased word (zeros where navec lacks it), and each token's row."""
    rows: dict[str, int] = {}
    entries = [[rows.setdefault(w.lower(), len(rows)) for w in s] for s in sentences]
    navec, lexicon = load_navec(), torch.zeros(len(rows), NAVEC_DIM)
    for word, row in rows.items():
        if (vector := navec.get(word)) is not None:
            lexicon[row] = torch.from_numpy(vector.copy())
    return lexicon, entries


def encode(sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]] | None, vocab: Vocab, alphabet: Vocab,
           tag_names: Sequence[str], model: TaggerModelConfig) -> TaggedSplit:
    """Token lists (and their tags, or None to predict) -> a split; every word keeps at least one character."""
    index = {name: i for i, name in enumerate(tag_names)}
    words = [vocab.encode(w.lower() for w in s) for s in sentences]
    chars = [[alphabet.encode(w[: model.max_word_len]) or [1] for w in s] for s in sentences]
    tag_ids = [[index[t] for t in s] for s in tags] if tags is not None else [[IGNORE] * len(s) for s in sentences]
    return TaggedSplit(words, chars, tag_ids, *(navec_lexicon(sentences) if model.navec_features else (None, None)))


class TaggingObjective:
    """Epochs of sentence batches; the loss is the mean cross-entropy over a batch's tokens; the best epoch has
    the highest validation accuracy."""

    position, unit, monitor, higher_is_better = "epoch", "tokens", "val_accuracy", True

    def __init__(self, train: TaggedSplit, val: TaggedSplit, cfg: TaggerConfig, n_tags: int, seed: int,
                 device: torch.device) -> None:
        self.train, self.val, self.cfg, self.device = train, val, cfg, device
        labels = torch.tensor([t for s in train.tags for t in s])
        self.weight = class_weights(labels, n_tags) if cfg.trainer.class_weight == "balanced" else None
        self.loss_fn = nn.CrossEntropyLoss(weight=None if self.weight is None else self.weight.to(device),
                                           ignore_index=IGNORE, reduction="sum")
        self.generator = torch.Generator().manual_seed(seed)
        self.epochs_done = 0

    def rounds(self) -> Iterator[tuple[int, Iterable[TaggedBatch]]]:
        trainer = self.cfg.trainer
        for epoch in range(self.epochs_done + 1, trainer.epochs + 1):
            self.epochs_done = epoch
            batches = (bucketed_batches(self.train.lengths, trainer.batch_size, self.generator)
                       if trainer.bucket_by_length else
                       shuffled_batches(len(self.train), trainer.batch_size, self.generator))
            yield epoch, (self._drop_words(self.train.batch(index, trainer.pad_to_max_len)) for index in batches)

    def _drop_words(self, batch: TaggedBatch) -> TaggedBatch:
        """The batch with `word_dropout` of its real words replaced by <unk> (their characters stay)."""
        p = self.cfg.word_dropout
        if p == 0:
            return batch
        drop = (torch.rand(batch.words.shape, generator=self.generator) < p) & (batch.words != 0)
        return TaggedBatch(batch.words.masked_fill(drop, 1), batch.chars, batch.lengths, batch.tags, batch.features)

    def state_dict(self) -> dict[str, Any]:
        return {"epochs_done": self.epochs_done, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epochs_done = state["epochs_done"]
        self.generator.set_state(state["generator"])

    def loss(self, model: nn.Module, batch: TaggedBatch) -> tuple[Tensor, int, float]:
        logits = forward(model, batch, self.device)
        tags = to_device(batch.tags, self.device)
        n = int((batch.tags != IGNORE).sum())
        return self.loss_fn(logits.flatten(0, 1).float(), tags.flatten()), n, n

    def validate(self, model: nn.Module) -> dict[str, float]:
        logits = predict_logits(model, self.val, self.cfg.trainer.batch_size * 4, self.device)  # (N tokens, C)
        gold = torch.tensor([t for s in self.val.tags for t in s])
        loss = nn.functional.cross_entropy(logits, gold, weight=self.weight)
        return {"val_loss": float(loss), "val_accuracy": float((logits.argmax(1) == gold).float().mean())}


def forward(model: nn.Module, batch: TaggedBatch, device: torch.device) -> Tensor:
    """The tagger's (B, T, n_tags) logits for a batch."""
    features = None if batch.features is None else to_device(batch.features, device)
    return model(to_device(batch.words, device), to_device(batch.chars, device), batch.lengths, features)


@torch.no_grad()
def predict_logits(model: nn.Module, split: TaggedSplit, batch_size: int, device: torch.device) -> Tensor:
    """(total tokens, n_tags) logits, sentence after sentence in the split's order."""
    model.eval()
    per_sentence: list[Tensor] = [torch.empty(0)] * len(split)
    for index in ordered_batches(split.lengths, batch_size):
        batch = split.batch(index)
        logits = forward(model, batch, device).float().cpu()
        for row, i in enumerate(index.tolist()):
            per_sentence[i] = logits[row, : len(split.words[i])]
    return torch.cat(per_sentence)


def train_tagger(train_set: Sequence[Sentence], val_set: Sequence[Sentence], cfg: TaggerConfig, tracker: Tracker,
                 seed: int, state: RunState | None = None) -> tuple[Checkpoint, TrainResult]:
    """The vocabulary and alphabet of the training sentences, and the tagger trained on them (over all UPOS tags)."""
    set_seed(seed)
    vocab = build_vocab([[w.lower() for w in s.forms] for s in train_set], 10**9, cfg.min_freq)
    alphabet = build_vocab([list(w) for s in train_set for w in s.forms], cfg.model.max_chars, 1)
    tag_names = list(UPOS)  # all 17, whichever the training split happens to hold
    pretrained, coverage = None, 0.0
    if (source := EMBEDDINGS[cfg.model.embeddings]) is not None:
        pretrained, coverage = source(vocab.itos, cfg.model.embedding_dim, seed)
    model = build_tagger(cfg.model, len(vocab), len(tag_names), pretrained)
    tracker.log_params({"seed": seed, "vocab_size": len(vocab), "alphabet_size": len(alphabet), **flatten(cfg)})

    def split(sentences: Sequence[Sentence]) -> TaggedSplit:
        return encode([s.forms for s in sentences], [s.upos for s in sentences], vocab, alphabet, tag_names, cfg.model)

    device = resolve_device(cfg.trainer.device)
    objective = TaggingObjective(split(train_set), split(val_set), cfg, len(tag_names), seed, device)
    t = cfg.trainer
    result = train(model, objective, Optimization(t.lr, t.weight_decay, t.clip_grad_norm, t.autocast), device,
                   tracker, patience=t.patience, state=state)
    meta = {"alphabet": list(alphabet.itos), "embedding_coverage": coverage, "best_epoch": result.best_position,
            "val_accuracy": result.best["val_accuracy"]}
    return Checkpoint("tagger", cfg.model, model.cpu(), vocab, tag_names, meta), result


def tag_sentences(ckpt: Checkpoint, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> list[list[str]]:
    """Each token's predicted tag, with a checkpoint of kind `tagger`."""
    alphabet = Vocab(tuple(ckpt.meta["alphabet"]))
    split = encode(sentences, None, ckpt.vocab, alphabet, ckpt.classes, ckpt.config)
    ids = predict_logits(ckpt.model, split, batch_size, torch.device("cpu")).argmax(1).tolist()
    out, start = [], 0
    for sentence in sentences:
        out.append([ckpt.classes[i] for i in ids[start : start + len(sentence)]])
        start += len(sentence)
    return out


class FrequentTags:
    """The baseline: a word's most frequent training tag; for a word never seen, its lowercased form's, then that
    of training words with the same last characters, then the most frequent tag overall (ties: alphabetical)."""

    def __init__(self, sentences: Iterable[Sentence]) -> None:
        tables: list[defaultdict[str, Counter]] = [defaultdict(Counter) for _ in range(3)]
        overall: Counter = Counter()
        for sentence in sentences:
            for form, tag in zip(sentence.forms, sentence.upos):
                for table, key in zip(tables, self._keys(form)):
                    table[key][tag] += 1
                overall[tag] += 1
        self.tables = [{key: self._top(counts) for key, counts in table.items()} for table in tables]
        self.default = self._top(overall)

    @staticmethod
    def _keys(form: str) -> tuple[str, str, str]:
        return form, form.lower(), form.lower()[-SUFFIX:]

    @staticmethod
    def _top(counts: Counter) -> str:
        return min(counts, key=lambda tag: (-counts[tag], tag))

    def tag(self, form: str) -> str:
        for table, key in zip(self.tables, self._keys(form)):
            if key in table:
                return table[key]
        return self.default


def slovnet_tags(sentences: Sequence[Sequence[str]]) -> list[list[str]]:
    """slovnet's UPOS tags (natasha's news morphology model, offline) for already tokenised sentences."""
    from natasha import (  # slow to import: only when the baseline runs
        NewsEmbedding,
        NewsMorphTagger,
    )

    tagger = NewsMorphTagger(NewsEmbedding())
    out = [[token.pos for token in markup.tokens] for markup in tagger.map([list(s) for s in sentences])]
    for sentence, tags in zip(sentences, out, strict=True):
        if len(tags) != len(sentence):
            raise RuntimeError(f"slovnet returned {len(tags)} tags for a sentence of {len(sentence)} tokens")
    return out


def accuracy(gold: Sequence[Sentence], predicted: Sequence[Sequence[str]], known: set[str]) -> dict[str, float]:
    """Token accuracy over all words and over the words whose lowercased form `known` (training) lacks."""
    right = total = unseen_right = unseen = 0
    for sentence, tags in zip(gold, predicted, strict=True):
        for form, truth, guess in zip(sentence.forms, sentence.upos, tags, strict=True):
            total, right = total + 1, right + (guess == truth)
            if form.lower() not in known:
                unseen, unseen_right = unseen + 1, unseen_right + (guess == truth)
    return {"accuracy": right / total, "unseen_accuracy": unseen_right / max(unseen, 1), "tokens": total,
            "unseen_tokens": unseen}
