"""The seq2seq lemmatiser on tiny data: it learns a rule from the spelling and applies it to stems it never saw,
its checkpoint decodes the same after loading, and `rnnlab lemmatize` tags then lemmatises."""

import random

import pytest

from rnnlab.cli import main
from rnnlab.studies.tagger.lemmatizer import (
    LemmatizerConfig,
    Seq2SeqModelConfig,
    lemmatize,
    train_lemmatizer,
)
from rnnlab.studies.tagger.tagger import train_tagger
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.tracking import MemoryTracker
from tests.configs import tagger_config, trainer_config
from tests.integration.test_tagger import WORDS, sentences

ENDINGS = {"и": "NOUN", "ой": "NOUN", "у": "NOUN", "ами": "NOUN"}  # -> the stem + "а"


def stems(n: int, seed: int) -> list[str]:
    """Made-up stems ending in к: the model can only lemmatise new ones by copying their characters."""
    rng = random.Random(seed)
    return ["".join(rng.choice("бвдлмнпрст") + rng.choice("аоуе") for _ in range(2)) + "к" for _ in range(n)]


STEMS, NEW = stems(120, 0), stems(10, 1)


def pairs(stems: list[str]) -> list[tuple[str, str, str]]:
    return [(stem + ending, tag, stem + "а") for stem in stems for ending, tag in ENDINGS.items()]


def config(schedule_epochs: int = 8) -> LemmatizerConfig:
    return LemmatizerConfig(schedules=("teacher_forcing",), inverse_sigmoid_k=20.0, beam_width=3,
                            model=Seq2SeqModelConfig(char_embedding_dim=16, tag_embedding_dim=4, hidden_size=32,
                                                     dropout=0.0, max_len=12),
                            trainer=trainer_config(epochs=schedule_epochs, batch_size=16, lr=0.01,
                                                   patience=schedule_epochs, class_weight="none"))


@pytest.fixture(scope="module")
def trained():
    return train_lemmatizer(pairs(STEMS), pairs(STEMS[:10]), config(), "inverse_sigmoid", MemoryTracker(), seed=0)


def test_the_lemmatiser_learns_the_rule_and_applies_it_to_new_stems(trained):
    ckpt, result = trained
    assert result.best["val_accuracy"] == 1.0 and ckpt.meta["schedule"] == "inverse_sigmoid"
    assert [row["feed_back"] for row in result.history] == sorted(row["feed_back"] for row in result.history)
    new = pairs(NEW)
    lemmas = lemmatize(ckpt, [(form, tag) for form, tag, _ in new], beam_width=3)
    assert sum(p == lemma for p, (_, _, lemma) in zip(lemmas, new)) >= 0.75 * len(new)


def test_a_class_weight_is_refused_naming_the_key():
    cfg = config()
    cfg = LemmatizerConfig(**{**cfg.__dict__, "trainer": trainer_config(class_weight="balanced")})
    with pytest.raises(ValueError, match="lemmatizer.trainer.class_weight"):
        train_lemmatizer(pairs(STEMS), pairs(STEMS), cfg, "linear", MemoryTracker(), seed=0)


def test_the_checkpoint_decodes_the_same_and_the_command_tags_then_lemmatises(trained, tmp_path, capsys):
    ckpt = trained[0]
    save_checkpoint(tmp_path / "lemmatizer.pt", ckpt)
    loaded = load_checkpoint(tmp_path / "lemmatizer.pt", kind="lemmatizer")
    words = [(form, tag) for form, tag, _ in pairs(NEW)]
    assert lemmatize(loaded, words, 1) == lemmatize(ckpt, words, 1)

    tagger, _ = train_tagger(sentences(60, WORDS, 0), sentences(10, WORDS, 1), tagger_config(), MemoryTracker(), 0)
    save_checkpoint(tmp_path / "tagger.pt", tagger)
    assert main(["lemmatize", "--checkpoint", str(tmp_path / "lemmatizer.pt"), "--tagger-checkpoint",
                 str(tmp_path / "tagger.pt"), "--beam", "2", "он", "читает", NEW[0] + "и"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().split("\n")]
    assert [r[0] for r in rows] == ["он", "читает", NEW[0] + "и"] and rows[0][1] == "PRON"
    assert [r[2] for r in rows] == lemmatize(loaded, [(r[0], r[1]) for r in rows], 2)
