"""The language model's text: its sources read, deduplicated across sources, and no held-out text let in."""

import io
import os
import tarfile
from pathlib import Path

import pytest

from rnnlab.data.datasets import CorpusError
from rnnlab.data.unlabelled import (
    SOURCES,
    build_lm_corpus,
    read_dialogues,
    read_messages,
    read_split_texts,
    text_key,
)

DIALOGUES = "- Как водичка ?\n- А я здесь сижу.\n\n\n\n- Доктор, это алкоголизм?\n— Хорошо, доктор.\n\n\n"


def write_archive(path: Path, text: str, members: int = 1) -> Path:
    with tarfile.open(path, "w:xz") as tar:
        for i in range(members):
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"dialogues{i}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_dialogues_are_the_blocks_between_blank_lines_with_their_turns_on_lines_and_no_dashes(tmp_path):
    archive = write_archive(tmp_path / "d.tar.xz", DIALOGUES)
    assert read_dialogues(archive) == ["Как водичка ?\nА я здесь сижу.", "Доктор, это алкоголизм?\nХорошо, доктор."]


def test_an_archive_that_is_not_one_text_file_is_an_error_naming_it(tmp_path):
    archive = write_archive(tmp_path / "two.tar.xz", DIALOGUES, members=2)
    with pytest.raises(CorpusError, match="two.tar.xz: expected one text file inside, found 2"):
        read_dialogues(archive)
    (tmp_path / "bad.tar.xz").write_bytes(b"not xz")
    with pytest.raises(CorpusError, match="bad.tar.xz: cannot read the dialogues"):
        read_dialogues(tmp_path / "bad.tar.xz")


def test_messages_come_from_the_text_column_of_every_file(tmp_path):
    (tmp_path / "a.csv").write_text('text,toxic\n"строка\nвторая",1\nпривет,0\n', encoding="utf-8")
    (tmp_path / "b.csv").write_text("text,other\nпривет,1\n", encoding="utf-8")
    assert read_messages([tmp_path / "a.csv", tmp_path / "b.csv"]) == ["строка\nвторая", "привет", "привет"]
    (tmp_path / "c.csv").write_text("body\nпривет\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="c.csv: no column 'text'"):
        read_messages([tmp_path / "c.csv"])


def test_keys_ignore_case_whitespace_runs_and_yo():
    assert text_key("  Ёлка\n\nЗЕЛЁНАЯ  ") == text_key("елка зеленая") == "елка зеленая"


def test_no_held_out_text_reaches_the_lm_even_recased_rewrapped_or_as_a_dialogue_line():
    held_out = ["Ужасный фильм, не смотрите", "Спасибо за подарок!!!"]
    corpus = build_lm_corpus({
        "target_train": ["хороший день", "УЖАСНЫЙ   фильм,\nне смотрите"],
        "dialogues": ["Привет\nспасибо за подарок!!!", "Как дела?\nНормально", "хороший  день"],
        "messages": ["Ужасный фильм, не смотрите", "", "новое сообщение"],
    }, held_out, val_share=0.0, seed=0)
    keys = {text_key(t) for t in corpus.documents["text"]}
    lines = {text_key(line) for t in corpus.documents["text"] for line in t.splitlines()}
    assert not ({text_key(t) for t in held_out} & (keys | lines))
    assert corpus.documents["text"].tolist() == ["хороший день", "Как дела?\nНормально", "новое сообщение"]
    stats = {name: (s.read, s.empty, s.duplicates, s.held_out, s.kept) for name, s in corpus.stats.items()}
    assert stats == {"target_train": (2, 0, 0, 1, 1), "dialogues": (3, 0, 1, 1, 1), "messages": (3, 1, 0, 1, 1)}
    assert corpus.stats["dialogues"].words == 3


def test_the_validation_share_is_seeded_and_disjoint_from_training():
    texts = [f"текст номер {i}" for i in range(200)]
    first, again = (build_lm_corpus({"s": texts}, [], 0.1, seed=7).documents for _ in range(2))
    other = build_lm_corpus({"s": texts}, [], 0.1, seed=8).documents
    assert (first["split"] == "val").sum() == 20 and first.equals(again)
    assert not first["split"].equals(other["split"])
    with pytest.raises(ValueError, match="val_share"):
        build_lm_corpus({"s": texts}, [], 1.0, seed=0)


def test_the_target_corpus_gives_the_texts_of_the_named_splits(tmp_path):
    (tmp_path / "corpus.csv").write_text("text,label,split\nа,positive,train\nб,negative,val\nв,neutral,test\n",
                                         encoding="utf-8")
    assert read_split_texts(tmp_path / "corpus.csv", ["val", "test"]) == ["б", "в"]


@pytest.mark.skipif(not os.environ.get("RNNLAB_MIRROR"), reason="needs RNNLAB_MIRROR")
def test_the_mirrored_sources_hold_the_documents_their_readme_describes():
    mirror = Path(os.environ["RNNLAB_MIRROR"])
    documents = {name: read(mirror / name) for name, read in SOURCES.items()}
    dialogues, messages = documents["anekdot_dialogues"], documents["inappropriate_messages"]
    assert 85_000 <= len(dialogues) <= 90_000  # "about 88,000 short dialogues"
    assert all(text and not text.startswith("-") for text in dialogues)
    assert 25_000 <= len({text_key(m) for m in messages}) <= 27_000  # "about 26,000 distinct texts"
    corpus = build_lm_corpus(documents, [], val_share=0.0, seed=0)
    assert 1_500_000 <= sum(s.words for s in corpus.stats.values()) <= 2_500_000
