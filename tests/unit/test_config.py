"""params.yaml sections load into typed configs; bad keys, types and values fail with the key and the file."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from rnnlab.config import (
    SECTIONS,
    ConfigError,
    LocalCsvConfig,
    ModelConfig,
    PrepareConfig,
    TrainerConfig,
    flatten,
    load_section,
    load_seed,
    read_params,
)

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
REAL_MODELS = sorted(read_params(REPO_PARAMS).get("train", {}))

# One non-default value per key, so a key that is not read shows up as a default.
SAMPLE: dict[str, dict[str, Any]] = {
    "download": {"corpora": ["names", "alice"]},
    "prepare": {
        "corpus": "local_csv",
        "label_map": {"pos": "positive", "neg": "negative"},
        "val_size": 0.25,
        "max_rows_per_split": 7,
        "local_csv": {
            "path": "data/my.csv",
            "text_column": "body",
            "label_column": "mood",
            "split_column": "part",
            "test_size": 0.3,
        },
    },
    "preprocess": {
        "lowercase": False,
        "replace_urls": False,
        "replace_mentions": False,
        "replace_numbers": False,
        "remove_stopwords": False,
        "keep_negations": False,
        "normalize": "stem",
        "workers": 3,
    },
    "tfidf": {
        "word_ngram_max": 3,
        "char_ngrams": False,
        "char_ngram_range": [1, 4],
        "min_df": 5,
        "max_features": 1000,
        "C": [0.1, 10.0],
        "class_weight": "none",
    },
    "featurize": {"max_vocab": 500, "min_freq": 3, "max_len": 40},
    "trainer": {
        "device": "cpu",
        "epochs": 4,
        "batch_size": 16,
        "bucket_by_length": False,
        "lr": 0.01,
        "weight_decay": 0.001,
        "clip_grad_norm": 5.0,
        "patience": 1,
        "class_weight": "balanced",
        "num_threads": 1,
    },
}


def write_params(tmp_path: Path, data: Any, name: str = "params.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def as_loaded(value: Any) -> Any:
    """What a YAML value looks like after loading: lists become tuples."""
    return tuple(value) if isinstance(value, list) else value


def assert_carries(raw: dict[str, Any], loaded: Any) -> None:
    """Every key of the raw section arrives in the config with its value."""
    got = flatten(loaded)
    for key, value in flatten(raw).items():
        assert got[key] == as_loaded(value), key


def test_sample_covers_every_section():
    assert set(SAMPLE) == set(SECTIONS)


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_load_section_reads_every_key(tmp_path, section):
    path = write_params(tmp_path, {"seed": 1, section: SAMPLE[section]})
    loaded = load_section(path, section)
    cls = SECTIONS[section]
    assert type(loaded) is cls
    assert loaded != cls()
    assert_carries(SAMPLE[section], loaded)


@pytest.mark.parametrize("section", sorted(SECTIONS))
@pytest.mark.parametrize("body", [{}, None])
def test_empty_section_gives_defaults(tmp_path, section, body):
    path = write_params(tmp_path, {section: body})
    assert load_section(path, section) == SECTIONS[section]()


def test_partial_section_keeps_other_defaults(tmp_path):
    path = write_params(tmp_path, {"trainer": {"epochs": 3}})
    assert load_section(path, "trainer") == TrainerConfig(epochs=3)


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_repository_params_load(section):
    loaded = load_section(REPO_PARAMS, section)
    assert type(loaded) is SECTIONS[section]
    assert_carries(read_params(REPO_PARAMS)[section], loaded)


def test_repository_params_have_models():
    assert REAL_MODELS, "params.yaml has no train.<model> entries"


@pytest.mark.parametrize("name", REAL_MODELS)
def test_repository_models_load(name):
    loaded = load_section(REPO_PARAMS, f"train.{name}", ModelConfig)
    assert type(loaded) is ModelConfig
    assert_carries(read_params(REPO_PARAMS)["train"][name], loaded)


def test_repository_seed_is_int():
    assert isinstance(load_seed(REPO_PARAMS), int)


@pytest.mark.parametrize(
    ("section", "body", "needles"),
    [
        ("trainer", {"epochs": 3, "colour": "red"}, ["trainer", "unknown key", "colour"]),
        ("trainer", {"epochs": "ten"}, ["trainer.epochs", "'ten'"]),
        ("trainer", {"lr": "fast"}, ["trainer.lr", "'fast'"]),
        ("trainer", {"epochs": True}, ["trainer.epochs", "True"]),  # bool is not int here
        ("trainer", {"lr": True}, ["trainer.lr", "True"]),
        ("trainer", {"device": 0}, ["trainer.device", "expected str"]),
        ("trainer", 5, ["trainer", "expected a mapping"]),
        ("preprocess", {"workers": 2.0}, ["preprocess.workers", "expected int"]),
        ("preprocess", {"lowercase": "yes"}, ["preprocess.lowercase", "'yes'"]),
        ("preprocess", {"normalize": "lemmatize"}, ["preprocess.normalize", "'lemmatize'", "lemma"]),
        ("prepare", {"corpus": "imdb"}, ["prepare.corpus", "'imdb'"]),
        ("prepare", {"label_map": {"positive": 1}}, ["prepare.label_map.positive", "expected str"]),
        ("prepare", {"label_map": ["positive"]}, ["prepare.label_map", "expected a mapping"]),
        ("prepare", {"local_csv": "data.csv"}, ["prepare.local_csv", "expected a mapping"]),
        ("prepare", {"local_csv": {"test_size": "big"}}, ["prepare.local_csv.test_size", "'big'"]),
        ("tfidf", {"char_ngram_range": [2]}, ["tfidf.char_ngram_range", "expected 2 items, got 1"]),
        ("tfidf", {"char_ngram_range": [2, 3, 4]}, ["tfidf.char_ngram_range", "expected 2 items, got 3"]),
        ("tfidf", {"char_ngram_range": [2, 5.5]}, ["tfidf.char_ngram_range[1]", "5.5"]),
        ("tfidf", {"C": 1.0}, ["tfidf.C", "expected a list"]),
        ("tfidf", {"C": [1.0, "a"]}, ["tfidf.C[1]", "'a'"]),
        ("tfidf", {"class_weight": "auto"}, ["tfidf.class_weight", "'auto'"]),
        ("download", {"corpora": "rusentiment"}, ["download.corpora", "expected a list"]),
        ("featurize", {"max_len": None}, ["featurize.max_len", "None"]),
    ],
)
def test_bad_section_is_rejected(tmp_path, section, body, needles):
    path = write_params(tmp_path, {section: body})
    with pytest.raises(ConfigError) as err:
        load_section(path, section)
    message = str(err.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message


def test_unknown_key_in_nested_section_names_dotted_key(tmp_path):
    path = write_params(tmp_path, {"prepare": {"local_csv": {"path": "x.csv", "colour": "red"}}})
    with pytest.raises(ConfigError, match=r"prepare\.local_csv\.colour") as err:
        load_section(path, "prepare")
    assert str(path) in str(err.value)


def test_unknown_key_in_model_is_rejected(tmp_path):
    path = write_params(tmp_path, {"train": {"lstm": {"cell": "lstm", "hiden_size": 64}}})
    with pytest.raises(ConfigError, match="hiden_size") as err:
        load_section(path, "train.lstm", ModelConfig)
    assert "train.lstm" in str(err.value)


def test_model_cell_outside_literal_is_rejected(tmp_path):
    path = write_params(tmp_path, {"train": {"tf": {"cell": "transformer"}}})
    with pytest.raises(ConfigError, match=r"train\.tf\.cell.*'transformer'"):
        load_section(path, "train.tf", ModelConfig)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"seed": 1}, "trainer"),
        ({"train": {"lstm": {}}}, "train.gru"),
        ({"train": 3}, "train.lstm"),
        ({}, "prepare"),
    ],
)
def test_missing_section_names_key_and_file(tmp_path, data, key):
    path = write_params(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_section(path, key, ModelConfig if key.startswith("train.") else None)
    assert f"missing key '{key}'" in str(err.value)
    assert str(path) in str(err.value)


def test_top_level_must_be_mapping(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        read_params(path)


def test_empty_file_reads_as_empty_mapping(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("", encoding="utf-8")
    assert read_params(path) == {}


@pytest.mark.parametrize(
    ("section", "body", "field", "expected"),
    [
        ("trainer", {"lr": 1}, "lr", 1.0),
        ("trainer", {"weight_decay": 0}, "weight_decay", 0.0),
        ("tfidf", {"C": [1, 2.5, 4]}, "C", (1.0, 2.5, 4.0)),
        ("prepare", {"val_size": 0}, "val_size", 0.0),
    ],
)
def test_int_is_accepted_for_float(tmp_path, section, body, field, expected):
    loaded = load_section(write_params(tmp_path, {section: body}), section)
    value = getattr(loaded, field)
    assert value == expected
    items = value if isinstance(value, tuple) else (value,)
    assert all(type(v) is float for v in items)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"C": [3.0]}, (3.0,)),
        ({"C": []}, ()),
        ({"C": [0.5, 1.0, 2.0, 4.0, 8.0]}, (0.5, 1.0, 2.0, 4.0, 8.0)),
    ],
)
def test_variable_length_tuple_takes_any_length(tmp_path, body, expected):
    assert load_section(write_params(tmp_path, {"tfidf": body}), "tfidf").C == expected


def test_nested_section_becomes_dataclass(tmp_path):
    path = write_params(tmp_path, {"prepare": {"local_csv": {"path": "a.csv", "split_column": "part"}}})
    loaded = load_section(path, "prepare")
    assert loaded.local_csv == LocalCsvConfig(path="a.csv", split_column="part")


def test_flatten_config_gives_dotted_keys():
    flat = flatten(PrepareConfig())
    assert flat["local_csv.path"] == ""
    assert flat["local_csv.test_size"] == 0.2
    assert flat["label_map.negative"] == "negative"
    assert flat["val_size"] == 0.1
    assert "local_csv" not in flat
    assert "label_map" not in flat


def test_flatten_dict_with_prefix():
    data = {"a": {"b": {"c": 1}, "d": [1, 2]}, "e": "x"}
    assert flatten(data, "train.") == {"train.a.b.c": 1, "train.a.d": [1, 2], "train.e": "x"}


@pytest.mark.parametrize("seed", [0, 42, 123456789])
def test_load_seed_reads_int(tmp_path, seed):
    assert load_seed(write_params(tmp_path, {"seed": seed})) == seed


@pytest.mark.parametrize("data", [{"seed": "42"}, {"seed": 4.2}, {"seed": 42.0}, {"seed": True}, {}])
def test_load_seed_rejects_non_int(tmp_path, data):
    path = write_params(tmp_path, data)
    with pytest.raises(ConfigError, match="'seed' must be an int") as err:
        load_seed(path)
    assert str(path) in str(err.value)
