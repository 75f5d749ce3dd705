"""The IMDB sequence-length study's pieces: reading the reviews, truncation against full length, the full setting's
bucketed and packed batches, the config's errors, and peak memory measured in a fresh process."""

from __future__ import annotations

import copy
import os

import pytest
import torch

from rnnlab.config import DownloadConfig
from rnnlab.data.imdb import read_imdb, sample_imdb, strip_breaks
from rnnlab.models.classifier import build_model
from rnnlab.params import ConfigError, from_dict, load_section, read_params
from rnnlab.studies.imdb.length import (
    LengthStudyConfig,
    MeteredObjective,
    encode_reviews,
    setting_name,
    tokenize_reviews,
    truncate,
)
from rnnlab.training.classification import predict_logits
from rnnlab.training.memory import MIB, PeakMemory, in_fresh_process
from tests.configs import MODEL, TRAINER, model_config, trainer_config
from tests.imdb_fixture import write_imdb
from tests.unit.test_config import REPO, ROOT, write_params

STUDY = dict(max_lens=[5, 10, 20, 0], train_reviews=0, test_reviews=0, val_size=0.2, max_vocab=100, min_freq=1,
             model={**MODEL, "pooling": "max", "embedding_dim": 8, "hidden_size": 8},
             trainer={**TRAINER, "epochs": 2, "batch_size": 8})


def study_config(**overrides) -> LengthStudyConfig:
    return from_dict(LengthStudyConfig, {**copy.deepcopy(STUDY), **overrides}, "params.yaml: imdb_length")


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    raw = write_imdb(tmp_path_factory.mktemp("raw"), 60, 20)
    return sample_imdb(read_imdb(raw), 0, 0, 0.2, seed=42)


@pytest.mark.parametrize(("text", "expected"), [("a<br />b", "a b"), ("a<br/>b<BR>c", "a b c"), ("no tag", "no tag")])
def test_line_break_tags_become_spaces(text, expected):
    assert strip_breaks(text) == expected


def test_the_reviews_are_read_without_tags_and_validation_is_carved_from_training(frame, tmp_path):
    assert not frame["text"].str.contains("<br", regex=False).any()
    assert frame["split"].value_counts().to_dict() == {"train": 48, "test": 20, "val": 12}
    assert set(frame["label"]) == {"pos", "neg"}
    drawn = sample_imdb(read_imdb(write_imdb(tmp_path, 60, 20)), 30, 10, 0.2, seed=42)
    assert drawn["split"].value_counts().to_dict() == {"train": 24, "test": 10, "val": 6}
    assert drawn.equals(sample_imdb(read_imdb(tmp_path), 30, 10, 0.2, seed=42))  # the seed draws the same reviews


def test_english_tokens_are_lowercased_words_one_list_per_review():
    docs = tokenize_reviews(["It's GREAT, isn't it?!", "", "Seen 3 times at www.imdb.com"])
    assert docs == [["it", "s", "great", "isn", "t", "it", "?!"], [], ["seen", "xxnum", "times", "at", "xxurl"]]


def test_truncation_keeps_the_first_max_len_tokens_and_full_keeps_every_token(frame):
    payload = encode_reviews(frame, study_config())
    train = payload["train"]
    whole = train["lengths"]
    assert int(whole.max()) > 20 and int(whole.min()) < 5  # the fixture has reviews on both sides of every cut
    starts = (torch.cumsum(whole, 0) - whole).tolist()
    for max_len in (5, 20, 0):
        split = truncate(**train, max_len=max_len)
        kept = whole.clamp(max=max_len) if max_len else whole
        assert torch.equal(split.lengths, kept)
        assert split.tokens.shape[1] == int(kept.max())
        for row, (start, n) in enumerate(zip(starts, kept.tolist())):
            assert split.tokens[row, :n].tolist() == train["ids"][start : start + n].tolist()
            assert not split.tokens[row, n:].any()  # padding after the kept tokens
    assert int(truncate(**train, max_len=0).lengths.sum()) == len(train["ids"])  # full: every token of every review


def test_the_vocabulary_comes_from_the_training_reviews_alone(frame):
    payload = encode_reviews(frame.assign(text=frame["text"].where(frame["split"] != "test", "zebra")),
                             study_config())
    assert "zebra" not in payload["itos"] and payload["itos"][:2] == ["<pad>", "<unk>"]
    assert set(payload["test"]["ids"].tolist()) == {1}  # every test token unknown
    assert payload["classes"] == ["neg", "pos"]


def test_the_full_setting_trains_on_length_bucketed_packed_batches_at_real_lengths(frame):
    payload = encode_reviews(frame, study_config())
    train = truncate(**payload["train"], max_len=0)
    cfg = trainer_config(batch_size=4, bucket_by_length=True)
    meter = PeakMemory(torch.device("cpu"))
    objective = MeteredObjective(train, train, cfg, 2, 0, torch.device("cpu"), meter=meter)
    epoch, batches = next(objective.rounds())
    batches = list(batches)
    assert epoch == 1 and len(meter.peaks) == 1  # the epoch's training steps were measured
    assert sum(len(labels) for _, _, labels in batches) == len(train)
    spreads = []
    for tokens, lengths, _ in batches:
        assert tokens.shape[1] == int(lengths.max())  # trimmed to the batch's longest review
        assert torch.equal((tokens != 0).sum(1), lengths)  # every real token there, none beyond
        spreads.append(int(lengths.max() - lengths.min()))
    whole = train.lengths
    assert max(spreads) < int(whole.max() - whole.min()) / 2  # a batch holds reviews of similar lengths
    model = build_model(model_config(pooling="max", embedding_dim=8, hidden_size=8), len(payload["itos"]), 2)
    assert model.encoder.packed
    # packed: a review's logits are the same in a batch padded to a longer review and alone
    alone = torch.stack([model.eval()(train.tokens[i : i + 1, : int(n)], train.lengths[i : i + 1])[0]
                         for i, n in enumerate(train.lengths.tolist())])
    assert torch.allclose(predict_logits(model, train, 16, "cpu"), alone, atol=1e-5)


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("model.packed", False, "imdb_length: model.packed: must be true"),
    ("trainer.bucket_by_length", False, "imdb_length: trainer.bucket_by_length: must be true"),
    ("trainer.pad_to_max_len", True, "imdb_length: trainer.pad_to_max_len: must be false"),
    ("max_lens", [50, 50], "imdb_length: max_lens: needs distinct values, got [50, 50]"),
    ("max_lens", [], "imdb_length: max_lens: needs distinct values, got []"),
    ("max_lens", [50, -1], "imdb_length.max_lens[1]: -1 is out of range"),
    ("train_reviews", 30000, "imdb_length.train_reviews: 30000 is out of range, must be >= 0 and <= 25000"),
    ("val_size", 0.0, "imdb_length.val_size: 0.0 is out of range"),
    ("model.cell", "transformer", "imdb_length.model.cell: 'transformer' is not one of"),
    ("trainer.epoch", 3, "imdb_length.trainer.epoch: unknown key 'epoch'"),
])
def test_a_bad_value_fails_naming_its_key(tmp_path, key, value, needle):
    data = copy.deepcopy(REPO)
    *parents, last = key.split(".")
    node = data["imdb_length"]
    for part in parents:
        node = node[part]
    node[last] = value
    path = write_params(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_section(path, "imdb_length", LengthStudyConfig)
    assert str(path) in str(err.value) and needle in str(err.value), str(err.value)


def test_the_repository_params_define_the_four_settings():
    params = ROOT / "studies/imdb/params.yaml"
    cfg = load_section(params, "imdb_length", LengthStudyConfig)
    assert [setting_name(n) for n in cfg.max_lens] == ["len_50", "len_200", "len_400", "full"]
    assert load_section(params, "download_imdb", DownloadConfig).corpora == ("imdb",)
    assert read_params(params)["imdb_length"]["trainer"]["patience"] >= cfg.trainer.epochs  # no early stop


def _allocate(mib: int) -> tuple[int, float]:
    meter = PeakMemory(torch.device("cpu"))
    meter.start()
    block = torch.ones(mib * MIB // 4)  # touched, so resident
    del block
    meter.stop()
    return os.getpid(), meter.peaks[0] / MIB


def _fail(message: str) -> None:
    raise ValueError(message)


def test_peak_memory_is_measured_in_a_fresh_process():
    pid, big = in_fresh_process(_allocate, 200)
    _, small = in_fresh_process(_allocate, 1)
    assert pid != os.getpid()
    assert 190 <= big <= 260 and small < 20


def test_an_error_in_the_fresh_process_is_raised_here():
    with pytest.raises(ValueError, match="bad value 7"):
        in_fresh_process(_fail, "bad value 7")
