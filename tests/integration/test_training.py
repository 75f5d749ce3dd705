"""A few training steps on CPU, and a checkpoint round trip with identical metrics."""

import dataclasses

import pytest
import torch
from torch import nn

from rnnlab.models.classifier import build_model
from rnnlab.text.batching import encode_split
from rnnlab.text.vocab import build_vocab
from rnnlab.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnnlab.training.classification import ClassificationObjective, fit, predict_logits
from rnnlab.training.loop import Optimization, set_seed, train
from rnnlab.training.metrics import score
from rnnlab.training.tracking import MemoryTracker
from tests.configs import model_config, trainer_config

POSITIVE = ["хорошо", "отлично", "люблю", "супер", ")))"]
NEGATIVE = ["плохо", "ужасно", "ненавижу", "грустно", "((("]
FILLER = ["день", "сегодня", "кино", "вечер", "город", "работа"]


def synthetic_docs(n: int, seed: int) -> tuple[list[list[str]], list[int]]:
    """Class 0 texts contain a negative word, class 1 a positive one, among filler words."""
    gen = torch.Generator().manual_seed(seed)
    docs, labels = [], []
    for i in range(n):
        label = i % 2
        cue = (NEGATIVE, POSITIVE)[label]
        length = int(torch.randint(2, 12, (1,), generator=gen))
        doc = [FILLER[int(j)] for j in torch.randint(0, len(FILLER), (length,), generator=gen)]
        doc.insert(int(torch.randint(0, length, (1,), generator=gen)), cue[int(torch.randint(0, len(cue), (1,), generator=gen))])
        docs.append(doc)
        labels.append(label)
    return docs, labels


@pytest.fixture(scope="module")
def splits():
    train_docs, train_y = synthetic_docs(400, 0)
    val_docs, val_y = synthetic_docs(100, 1)
    vocab = build_vocab(train_docs, max_size=100, min_freq=1)
    return vocab, encode_split(train_docs, train_y, vocab, 20), encode_split(val_docs, val_y, vocab, 20)


TRAINER = trainer_config(device="cpu", epochs=4, batch_size=32, lr=0.01, patience=2, num_threads=1)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "lstm_loop", "weight_drop_lstm", "semeniuta_lstm", "scratch_rnn"])
def test_training_learns_and_logs_every_epoch(splits, cell):
    vocab, train, val = splits
    cfg = model_config(cell=cell, embedding_dim=16, hidden_size=16, pooling="max")
    set_seed(0)
    model = build_model(cfg, len(vocab), 2)
    tracker = MemoryTracker()
    result = fit(model, train, val, TRAINER, tracker, seed=0)
    losses = [r["train_loss"] for r in result.history]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]
    assert result.best["val_macro_f1"] > 0.8  # the cue word decides the class
    assert [step for step, _ in tracker.metrics] == [r["epoch"] for r in result.history]
    assert {"train_loss", "val_macro_f1", "seconds", "sequences_per_second"} <= set(tracker.metrics[0][1])
    # the history holds what a rerun reproduces; wall-clock time goes to the timings alone
    assert set(result.history[0]) == {"epoch", "train_loss", "val_loss", "val_accuracy", "val_macro_f1"}
    assert [t["epoch"] for t in result.timings] == [r["epoch"] for r in result.history]


def test_a_sequence_weighs_the_same_in_any_batch(splits, monkeypatch):
    """A bucketed batch of 16 moves the weights by its two halves' summed gradients over the nominal 8."""
    vocab, train_split, val = splits
    cfg = model_config(cell="gru", embedding_dim=8, hidden_size=8)
    index = torch.arange(16)
    objective = ClassificationObjective(train_split, val, trainer_config(batch_size=8, epochs=1), 2, 0,
                                        torch.device("cpu"))
    objective.loss_fn = nn.CrossEntropyLoss(weight=torch.tensor([0.5, 2.0]), reduction="sum")
    objective.rounds = lambda: iter([(1, [train_split.batch(index)])])
    # plain SGD instead of the loop's Adam, so that the update is the gradient itself
    monkeypatch.setattr(torch.optim, "Adam", lambda params, lr, weight_decay: torch.optim.SGD(params, lr=lr))

    def fresh() -> nn.Module:
        set_seed(0)
        return build_model(cfg, len(vocab), 2)

    model = fresh()
    before = [p.detach().clone() for p in model.parameters()]
    train(model, objective, Optimization(lr=0.1, weight_decay=0.0, clip_grad_norm=0.0), torch.device("cpu"),
          MemoryTracker())
    moved = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before, strict=True)])

    reference = fresh()
    reference.train()
    for half in index.split(8):
        tokens, lengths, labels = train_split.batch(half)
        objective.loss_fn(reference(tokens, lengths), labels).backward()  # gradients add up over the halves
    expected = torch.cat([-0.1 * p.grad.flatten() / 8 for p in reference.parameters()])
    assert set(train_split.labels[index].tolist()) == {0, 1}
    torch.testing.assert_close(moved, expected, rtol=1e-4, atol=1e-6)


def test_same_seed_gives_same_history(splits):
    vocab, train, val = splits
    cfg = model_config(cell="gru", embedding_dim=8, hidden_size=8, dropout=0.2)
    histories = []
    for _ in range(2):
        set_seed(3)
        result = fit(build_model(cfg, len(vocab), 2), train, val, dataclasses.replace(TRAINER, epochs=2), MemoryTracker(), seed=3)
        histories.append(result.history)
    assert histories[0] == histories[1]


def test_checkpoint_round_trip_gives_identical_metrics(splits, tmp_path):
    vocab, train, val = splits
    cfg = model_config(cell="lstm", embedding_dim=16, hidden_size=16, bidirectional=True, learned_init_state=True)
    set_seed(1)
    model = build_model(cfg, len(vocab), 2)
    result = fit(model, train, val, dataclasses.replace(TRAINER, epochs=2), MemoryTracker(), seed=1)
    before = predict_logits(model, val, 64, torch.device("cpu"))
    path = tmp_path / "model.pt"
    save_checkpoint(path, Checkpoint("classifier", cfg, model, vocab, ["neg", "pos"], {"best_epoch": result.best_position}))
    loaded = load_checkpoint(path, kind="classifier")
    after = predict_logits(loaded.model, val, 64, torch.device("cpu"))
    assert torch.equal(before, after)
    y = val.labels.tolist()
    assert score(y, before.argmax(1).tolist(), loaded.classes) == score(y, after.argmax(1).tolist(), loaded.classes)
    assert loaded.vocab == vocab and loaded.config == cfg and loaded.meta["best_epoch"] == result.best_position


def test_checkpoint_of_a_navec_model_loads_without_the_vectors(splits, tmp_path):
    vocab, _, val = splits
    cfg = model_config(cell="gru", embeddings="navec", embedding_dim=300, hidden_size=8, freeze_embeddings=True)
    model = build_model(cfg, len(vocab), 2, pretrained=torch.randn(len(vocab), 300))
    path = tmp_path / "navec.pt"
    save_checkpoint(path, Checkpoint("classifier", cfg, model, vocab, ["neg", "pos"], {}))
    loaded = load_checkpoint(path)
    assert loaded.config == cfg
    assert torch.equal(loaded.model.embedding.weight, model.embedding.weight)
    assert torch.equal(predict_logits(loaded.model, val, 64, torch.device("cpu")), predict_logits(model, val, 64, torch.device("cpu")))
