"""Reading corpora into (text, label, split) and cleaning them, on tiny CSVs written here."""

import csv
import gzip
from pathlib import Path

import pandas as pd
import pytest

from rnnlab.config import PrepareConfig
from rnnlab.data.datasets import CorpusError, class_names, prepare, split_stats
from tests.configs import local_csv_config, prepare_config

LINE_BREAK_TEXT = "Ужасно\nплохо"


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def generated(label: str, n: int, stem: str) -> list[tuple[str, str]]:
    return [(label, f"{stem} {i}") for i in range(n)]


@pytest.fixture
def rusentiment(tmp_path) -> Path:
    """A raw folder in RuSentiment's layout. After cleaning, the train pool holds
    20 positive, 20 negative and 10 neutral texts; test holds 3 of each class."""
    folder = tmp_path / "raw" / "rusentiment"
    random_posts = [
        ("positive", "Отличный день!"),
        ("positive", "  Отличный день!  "),  # same text once stripped, same label: kept once
        ("negative", LINE_BREAK_TEXT),  # a line break inside a quoted field
        ("neutral", "Конфликт"),
        ("positive", "Конфликт"),  # conflicting labels: both dropped
        ("speech", "Спасибо всем"),  # not a sentiment: dropped by the default label_map
        ("skip", "Непонятно что"),
        ("positive", "   "),  # empty once stripped
        ("negative", "Текст из теста"),  # also in test: dropped from train
        *generated("positive", 10, "хорошо"),
        *generated("negative", 9, "плохо"),
        *generated("neutral", 5, "обычно"),
    ]
    preselected = [
        *generated("positive", 9, "радость"),
        *generated("negative", 10, "грусть"),
        *generated("neutral", 5, "ровно"),
        ("positive", "хорошо 0"),  # duplicate across the two train files
    ]
    test = [
        ("neutral", "Текст из теста"),
        *generated("positive", 3, "тест хороший"),
        *generated("negative", 3, "тест плохой"),
        *generated("neutral", 2, "тест ровный"),
        ("positive", "Спорный"),
        ("negative", "Спорный"),  # conflicting inside test: dropped
        ("speech", "С праздником"),
    ]
    write_csv(folder / "rusentiment_random_posts.csv", ["label", "text"], random_posts)
    write_csv(folder / "rusentiment_preselected_posts.csv", ["label", "text"], preselected)
    write_csv(folder / "rusentiment_test.csv", ["label", "text"], test)
    return tmp_path / "raw"


def test_csv_keeps_line_break_inside_quotes(rusentiment):
    raw = (rusentiment / "rusentiment" / "rusentiment_random_posts.csv").read_text(encoding="utf-8")
    assert f'"{LINE_BREAK_TEXT}"' in raw  # the fixture really has a quoted line break


def test_prepare_rusentiment_counts(rusentiment):
    frame = prepare(rusentiment, prepare_config(val_size=0.2), seed=0)
    assert list(frame.columns) == ["text", "label", "split"]
    assert split_stats(frame) == {
        "train": {"negative": 16, "neutral": 8, "positive": 16},
        "val": {"negative": 4, "neutral": 2, "positive": 4},  # stratified 20% of the train pool
        "test": {"negative": 3, "neutral": 3, "positive": 3},
    }


def test_prepare_rusentiment_cleaning(rusentiment):
    frame = prepare(rusentiment, prepare_config(val_size=0.2), seed=0)
    texts = list(frame["text"])
    assert texts.count("Отличный день!") == 1
    assert frame.loc[frame["text"] == LINE_BREAK_TEXT, "label"].tolist() == ["negative"]
    for dropped in ["Конфликт", "Спасибо всем", "Непонятно что", "Спорный", "С праздником", ""]:
        assert dropped not in texts
    assert all(t == t.strip() and t for t in texts)
    overlap = frame[frame["text"] == "Текст из теста"]
    assert overlap[["label", "split"]].values.tolist() == [["neutral", "test"]]
    test_texts = set(frame.loc[frame["split"] == "test", "text"])
    assert not test_texts & set(frame.loc[frame["split"] != "test", "text"])
    assert not frame["text"].duplicated().any()
    assert class_names(frame) == ["negative", "neutral", "positive"]


def test_prepare_is_deterministic_per_seed(rusentiment):
    cfg = prepare_config(val_size=0.2)
    first, again = prepare(rusentiment, cfg, seed=3), prepare(rusentiment, cfg, seed=3)
    pd.testing.assert_frame_equal(first, again)
    other = prepare(rusentiment, cfg, seed=4)
    val = lambda f: set(f.loc[f["split"] == "val", "text"])  # noqa: E731
    assert val(first) != val(other)


def test_label_map_can_keep_and_merge_labels(rusentiment):
    label_map = {"positive": "positive", "negative": "negative", "neutral": "neutral", "speech": "neutral"}
    frame = prepare(rusentiment, prepare_config(label_map=label_map, val_size=0.2), seed=0)
    assert frame.loc[frame["text"] == "Спасибо всем", "label"].tolist() == ["neutral"]
    assert "Непонятно что" not in set(frame["text"])  # skip is still not in the map


def test_missing_text_column_names_file_and_column(rusentiment):
    path = rusentiment / "rusentiment" / "rusentiment_preselected_posts.csv"
    write_csv(path, ["label", "body"], [("positive", "да")])
    with pytest.raises(CorpusError) as err:
        prepare(rusentiment, prepare_config(), seed=0)
    assert str(path) in str(err.value)
    assert "'text'" in str(err.value)


def test_unreadable_csv_raises_corpus_error(rusentiment):
    path = rusentiment / "rusentiment" / "rusentiment_test.csv"
    path.write_bytes(b"label,text\npositive,\xff\xfe\xfa broken\n")
    with pytest.raises(CorpusError, match="cannot parse CSV") as err:
        prepare(rusentiment, prepare_config(), seed=0)
    assert str(path) in str(err.value)


def test_nothing_left_after_filtering(rusentiment):
    with pytest.raises(CorpusError, match="no train rows left") as err:
        prepare(rusentiment, prepare_config(label_map={"joy": "joy"}), seed=0)
    assert "joy" in str(err.value)


def test_max_rows_per_split(rusentiment):
    full = prepare(rusentiment, prepare_config(val_size=0.2), seed=0)
    small = prepare(rusentiment, prepare_config(val_size=0.2, max_rows_per_split=3), seed=0)
    assert small["split"].value_counts().to_dict() == {"train": 3, "val": 3, "test": 3}
    full_rows = set(map(tuple, full.values.tolist()))
    assert set(map(tuple, small.values.tolist())) <= full_rows


def local_cfg(path: Path, **local) -> PrepareConfig:
    csv_cfg = local_csv_config(path=str(path), text_column="review", label_column="mood", **local)
    return prepare_config(
        corpus="local_csv", label_map={"good": "good", "bad": "bad"}, val_size=0.2, local_csv=csv_cfg
    )


def test_local_csv_without_split_column_carves_test(tmp_path):
    rows = [(f"отзыв {i}", "good" if i % 2 else "bad", "лишнее") for i in range(40)]
    path = write_csv(tmp_path / "mine.csv", ["review", "mood", "extra"], rows)
    frame = prepare(tmp_path, local_cfg(path, test_size=0.25), seed=0)
    assert split_stats(frame) == {
        "train": {"bad": 12, "good": 12},
        "val": {"bad": 3, "good": 3},
        "test": {"bad": 5, "good": 5},
    }


def test_local_csv_with_split_column_keeps_given_test(tmp_path):
    rows = [(f"отзыв {i}", "good" if i % 2 else "bad", "test" if i >= 30 else "train") for i in range(40)]
    path = write_csv(tmp_path / "mine.csv", ["review", "mood", "part"], rows)
    frame = prepare(tmp_path, local_cfg(path, split_column="part"), seed=0)
    assert set(frame.loc[frame["split"] == "test", "text"]) == {f"отзыв {i}" for i in range(30, 40)}
    assert split_stats(frame)["val"] == {"bad": 3, "good": 3}
    assert (frame["split"] == "train").sum() == 24


def test_local_csv_gzip(tmp_path):
    path = tmp_path / "mine.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([("review", "mood"), *[(f"отзыв {i}", ("good", "bad")[i % 2]) for i in range(20)]])
    frame = prepare(tmp_path, local_cfg(path, test_size=0.2), seed=0)
    assert len(frame) == 20
    assert set(frame["text"]) == {f"отзыв {i}" for i in range(20)}


def test_local_csv_bad_split_values(tmp_path):
    rows = [("а", "good", "train"), ("б", "bad", "dev"), ("в", "bad", "test")]
    path = write_csv(tmp_path / "mine.csv", ["review", "mood", "part"], rows)
    with pytest.raises(CorpusError) as err:
        prepare(tmp_path, local_cfg(path, split_column="part"), seed=0)
    assert "'part'" in str(err.value)
    assert "dev" in str(err.value)


def test_local_csv_needs_a_path(tmp_path):
    cfg = prepare_config(corpus="local_csv")
    with pytest.raises(CorpusError, match=r"prepare\.local_csv\.path"):
        prepare(tmp_path, cfg, seed=0)


def test_local_csv_reads_the_encoding_its_param_names(tmp_path):
    path = tmp_path / "cp1251.csv"
    rows = "\n".join(f"отзыв номер {i},{('good', 'bad')[i % 2]}" for i in range(20))
    path.write_bytes(f"review,mood\n{rows}\n".encode("cp1251"))
    with pytest.raises(CorpusError, match=r"cp1251\.csv: cannot parse CSV as utf-8 text .*local_csv\.encoding"):
        prepare(tmp_path, local_cfg(path), seed=0)
    frame = prepare(tmp_path, local_cfg(path, encoding="cp1251"), seed=0)
    assert "отзыв номер 3" in set(frame["text"])


@pytest.mark.parametrize(("content", "message"), [
    (None, r"missing\.csv: no such file \(named by prepare\.local_csv\.path"),
    ("", r"mine\.csv: the file is empty"),
    ("review,mood\n", r"mine\.csv: no data rows \(only a header\)"),
    ("review,mood\nа,good\nб,good\nв,meh\n", r"mine\.csv: a single class \(good\) after prepare\.label_map"),
    ("review,mood\nа,pos\nб,neg\n", r"mine\.csv: none of the labels in column 'mood' \(neg, pos\) is a key of "
                                     r"prepare\.label_map \(good, bad\)"),
])
def test_a_bad_local_csv_fails_early_naming_the_file(tmp_path, content, message):
    path = tmp_path / ("missing.csv" if content is None else "mine.csv")
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=message):
        prepare(tmp_path, local_cfg(path), seed=0)


def test_an_unknown_encoding_names_the_param(tmp_path):
    path = write_csv(tmp_path / "mine.csv", ["review", "mood"], [("а", "good"), ("б", "bad")])
    with pytest.raises(CorpusError, match=r"prepare\.local_csv\.encoding: unknown encoding 'klingon'"):
        prepare(tmp_path, local_cfg(path, encoding="klingon"), seed=0)


def test_opensentimentcorpus_layout(tmp_path):
    rows = [
        *[(f"Хорошее предложение {i}.", "positive") for i in range(12)],
        *[(f"Плохое предложение {i}.", "negative") for i in range(12)],
        *[(f"Обычное предложение {i}.", "neutral") for i in range(12)],
        *[(f"Смешанное предложение {i}.", "mixed") for i in range(4)],
    ]
    folder = tmp_path / "raw" / "opensentimentcorpus"
    write_csv(folder / "opensentimentcorpus-final-by-majority.csv", ["Sentence", "Sentiment"], rows)
    cfg = prepare_config(corpus="opensentimentcorpus", val_size=0.2, local_csv=local_csv_config(test_size=0.25))
    frame = prepare(tmp_path / "raw", cfg, seed=0)
    # 10 of 40 carved as test (3/3/3/1), mixed dropped; 6 of the 27 left become val.
    assert split_stats(frame) == {
        "train": {"negative": 7, "neutral": 7, "positive": 7},
        "val": {"negative": 2, "neutral": 2, "positive": 2},
        "test": {"negative": 3, "neutral": 3, "positive": 3},
    }


def test_split_stats_and_class_names():
    frame = pd.DataFrame(
        {"text": list("abcd"), "label": ["x", "y", "x", "x"], "split": ["test", "train", "train", "train"]}
    )
    stats = split_stats(frame)
    assert stats == {"train": {"x": 2, "y": 1}, "test": {"x": 1}}
    assert list(stats) == ["train", "test"]
    assert class_names(frame) == ["x", "y"]
