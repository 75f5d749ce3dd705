"""The one checkpoint format: every kind round-trips, the same checkpoint gives the same bytes, and a
missing, damaged, foreign, too-new or other-kind file is a clear error naming it."""

from __future__ import annotations

import hashlib

import pytest
import torch

from rnnlab.models.classifier import build_model
from rnnlab.models.language import CharLM
from rnnlab.text.vocab import Vocab
from rnnlab.training import checkpoint as checkpoints
from rnnlab.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    read_payload,
    save_checkpoint,
)
from tests.configs import lm_config, model_config

VOCAB = Vocab(("<pad>", "<unk>", "a", "b", "c"))


def classifier() -> Checkpoint:
    torch.manual_seed(0)
    cfg = model_config(embedding_dim=4, hidden_size=3)
    return Checkpoint("classifier", cfg, build_model(cfg, len(VOCAB), 2), VOCAB, ["neg", "pos"], {"max_len": 9})


def language_model() -> Checkpoint:
    torch.manual_seed(0)
    cfg = lm_config(embedding_dim=4, hidden_size=5, num_layers=1, dropout=0.0)
    return Checkpoint("char_lm", cfg, CharLM(cfg, len(VOCAB), 2), VOCAB, ["en", "ru"], {"max_length": 5})


@pytest.mark.parametrize("make", [classifier, language_model])
def test_every_kind_round_trips_with_config_vocab_classes_meta_and_weights(tmp_path, make):
    ckpt = make()
    save_checkpoint(tmp_path / "m.pt", ckpt)
    loaded = load_checkpoint(tmp_path / "m.pt", kind=ckpt.kind)
    assert (loaded.kind, loaded.config, loaded.vocab, loaded.classes, loaded.meta) == (
        ckpt.kind, ckpt.config, ckpt.vocab, ckpt.classes, ckpt.meta)
    for (name, a), (_, b) in zip(ckpt.model.state_dict().items(), loaded.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert not loaded.model.training


@pytest.mark.parametrize("make", [classifier, language_model])
def test_the_same_checkpoint_gives_the_same_bytes_whatever_the_file_name(tmp_path, make):
    """DVC records the checkpoint's md5: a rerun with the same params must not change it."""
    save_checkpoint(tmp_path / "a.pt", make())
    save_checkpoint(tmp_path / "sub" / "other name.pt", make())
    digests = {hashlib.md5(p.read_bytes()).hexdigest() for p in (tmp_path / "a.pt", tmp_path / "sub" / "other name.pt")}
    assert len(digests) == 1


def test_a_model_file_holds_no_training_state(tmp_path):
    """Resuming reads rnnlab.training.resume's files: a model file holds the model, and only it."""
    save_checkpoint(tmp_path / "m.pt", classifier())
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    assert set(payload) == {"format", "version", "kind", "config", "vocab", "classes", "meta", "weights"}


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"checkpoint not found: {tmp_path / 'none.pt'}"):
        load_checkpoint(tmp_path / "none.pt")


def test_a_damaged_file_is_named(tmp_path):
    save_checkpoint(tmp_path / "m.pt", classifier())
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "m.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'm.pt'}: not a readable checkpoint"):
        load_checkpoint(tmp_path / "m.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_a_foreign_file_is_named(tmp_path):
    torch.save({"state_dict": {"w": torch.zeros(2)}, "itos": ["a"]}, tmp_path / "old.pt")  # not our format
    with pytest.raises(CheckpointError, match="old.pt: not an rnnlab checkpoint"):
        load_checkpoint(tmp_path / "old.pt")


def test_a_newer_format_asks_for_a_newer_rnnlab(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "VERSION", checkpoints.VERSION + 1)
    save_checkpoint(tmp_path / "new.pt", classifier())
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match=r"new.pt: checkpoint format version 2 is newer .* update rnnlab"):
        load_checkpoint(tmp_path / "new.pt")


def test_another_kind_is_refused_where_one_kind_is_expected(tmp_path):
    save_checkpoint(tmp_path / "lm.pt", language_model())
    with pytest.raises(CheckpointError, match="lm.pt: a char_lm checkpoint, not a classifier"):
        load_checkpoint(tmp_path / "lm.pt", kind="classifier")
    assert read_payload(tmp_path / "lm.pt")["kind"] == "char_lm"


def test_weights_that_do_not_fit_the_config_are_named(tmp_path):
    ckpt = classifier()
    save_checkpoint(tmp_path / "m.pt", ckpt)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["config"]["hidden_size"] = 7
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="m.pt: weights do not fit"):
        load_checkpoint(tmp_path / "m.pt")
