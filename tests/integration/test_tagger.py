"""The part-of-speech tagger on tiny data: it learns the tags, tags words it never saw by their spelling, its
checkpoint tags the same after loading, `rnnlab tag` prints what it predicts; slovnet's baseline runs offline."""

import random

import pytest

from rnnlab.cli import main
from rnnlab.data.conllu import UPOS, Sentence
from rnnlab.studies.tagger.tagger import (
    accuracy,
    slovnet_tags,
    tag_sentences,
    train_tagger,
)
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.tracking import MemoryTracker
from tests.configs import tagger_config, trainer_config

WORDS = {
    "PRON": ["он", "она", "мы", "они"],
    "VERB": ["читает", "играет", "думает", "знает", "мечтает"],
    "ADJ": ["красивый", "новый", "добрый", "старый", "белый"],
    "NOUN": ["кошка", "собака", "книжка", "ручка", "радость", "гордость", "новость"],
    "PUNCT": [".", "!"],
}
TEMPLATES = [("PRON", "VERB", "ADJ", "NOUN", "PUNCT"), ("ADJ", "NOUN", "VERB", "PUNCT"), ("NOUN", "VERB", "PUNCT")]
UNSEEN = {"VERB": ["бегает", "прыгает"], "ADJ": ["смелый", "тихий"], "NOUN": ["бумажка", "глупость"]}


def sentences(n: int, words: dict[str, list[str]], seed: int) -> list[Sentence]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        tags = rng.choice(TEMPLATES)
        forms = [rng.choice(words.get(tag, WORDS[tag])) for tag in tags]
        out.append(Sentence(tuple(forms), tags, tuple(forms)))
    return out


@pytest.fixture(scope="module")
def trained():
    return train_tagger(sentences(120, WORDS, 0), sentences(20, WORDS, 1), tagger_config(), MemoryTracker(), seed=0)


def test_the_tagger_learns_its_words_and_tags_unseen_ones_by_their_spelling(trained):
    ckpt, result = trained
    assert result.best["val_accuracy"] == 1.0
    assert ckpt.classes == list(UPOS) and ckpt.meta["best_epoch"] == result.best_position
    test = sentences(30, UNSEEN, 2)
    known = {w for words in WORDS.values() for w in words}
    scores = accuracy(test, tag_sentences(ckpt, [s.forms for s in test]), known)
    assert scores["unseen_tokens"] > 30 and scores["unseen_accuracy"] >= 0.9


def test_the_checkpoint_tags_the_same_after_loading_and_the_command_prints_it(trained, tmp_path, capsys):
    ckpt = trained[0]
    save_checkpoint(tmp_path / "tagger.pt", ckpt)
    loaded = load_checkpoint(tmp_path / "tagger.pt", kind="tagger")
    forms = [s.forms for s in sentences(10, UNSEEN, 3)]
    assert tag_sentences(loaded, forms) == tag_sentences(ckpt, forms)

    assert main(["tag", "--checkpoint", str(tmp_path / "tagger.pt"), "Она бегает!", "смелый кот знает."]) == 0
    printed = capsys.readouterr().out.split("\n\n")
    expected = tag_sentences(loaded, [["Она", "бегает", "!"], ["смелый", "кот", "знает", "."]])
    assert [[line.split("\t") for line in block.strip().split("\n")] for block in printed] == [
        [list(pair) for pair in zip(tokens, tags)]
        for tokens, tags in zip([["Она", "бегает", "!"], ["смелый", "кот", "знает", "."]], expected)]


def test_a_tagger_with_navec_features_trains_and_tags_the_same_after_loading(tmp_path):
    cfg = tagger_config(model={"navec_features": True}, trainer=trainer_config(epochs=3, batch_size=4, lr=0.01))
    ckpt, result = train_tagger(sentences(40, WORDS, 0), sentences(10, WORDS, 1), cfg, MemoryTracker(), seed=0)
    assert ckpt.model.lstm.input_size == 16 + 2 * 16 + 300 and result.best["val_accuracy"] > 0.5
    save_checkpoint(tmp_path / "tagger.pt", ckpt)
    forms = [s.forms for s in sentences(10, UNSEEN, 3)]
    assert tag_sentences(load_checkpoint(tmp_path / "tagger.pt", kind="tagger"), forms) == tag_sentences(ckpt, forms)


def test_slovnet_tags_offline_one_tag_per_token():
    tags = slovnet_tags([["Мама", "мыла", "раму", "."], ["Кот", "спит"]])
    assert tags == [["NOUN", "VERB", "NOUN", "PUNCT"], ["NOUN", "VERB"]]
