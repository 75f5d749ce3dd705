"""Params files load into typed configs with no default in code: a missing, unknown, mistyped or out-of-range key
fails at load time naming the file and the dotted key; a choice is checked against the table implementing it.

The sections tested are the ones the stages load, each from its file with its type, as their scripts say
(`tests.configs.stage_sections`): a new stage's sections are tested without a line here.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

import rnnlab.config as config
import rnnlab.data.datasets
import rnnlab.models.attention
import rnnlab.models.classifier
import rnnlab.models.embeddings
import rnnlab.studies.chars.probe
import rnnlab.text.lemmas
from rnnlab.config import ModelConfig, TrainerConfig, Variant
from rnnlab.params import Choice, ConfigError, Seeds, flatten, load_section, read_params
from tests.configs import registered_section, stage_sections

ROOT = Path(__file__).resolve().parents[2]
REPO_PARAMS = ROOT / "params.yaml"
PARAMS_FILES = ["params.yaml", *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("studies/*/params.yaml"))]
FILES = {name: read_params(ROOT / name) for name in PARAMS_FILES}
REPO = {key: value for data in FILES.values() for key, value in data.items()}  # every file's sections, for a test's one


def write_params(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "params.yaml"
    with path.open("w", encoding="utf-8") as f:
        YAML(typ="safe").dump(data, f)
    return path


def get(data: dict, key: str) -> Any:
    for part in key.split("."):
        data = data[part]
    return data


def required_keys(tp: Any, prefix: str) -> list[str]:
    """Dotted keys a value of type `tp` must hold: every dataclass field, recursively."""
    tp = typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp
    if not dataclasses.is_dataclass(tp):
        return []
    hints = typing.get_type_hints(tp, include_extras=True)
    keys = []
    for f in dataclasses.fields(tp):
        if f.default is f.default_factory is dataclasses.MISSING:
            keys += [f"{prefix}.{f.name}", *required_keys(hints[f.name], f"{prefix}.{f.name}")]
    return keys


SECTIONS = sorted(stage_sections().items(), key=lambda item: item[0])


def deletions() -> list[tuple[str, str, Any, str]]:
    """(file, section loaded, its type, key deleted) for every key a params file must hold, sections included."""
    return [(path, section, tp, key) for (path, section), tp in SECTIONS
            for key in [section, *required_keys(tp, section)]]


def test_every_params_file_is_read_by_some_stage():
    assert {path for (path, _), _ in SECTIONS} == set(PARAMS_FILES)


@pytest.mark.parametrize(("path", "section", "tp"), [(p, s, t) for (p, s), t in SECTIONS],
                         ids=[f"{p}:{s}" for (p, s), _ in SECTIONS])
def test_repository_params_load(path, section, tp):
    loaded = load_section(ROOT / path, section, tp)
    raw = get(FILES[path], section)
    if dataclasses.is_dataclass(loaded):
        flat = flatten(loaded)
        for key, value in flatten(raw).items():
            assert flat[key] == (tuple(value) if isinstance(value, list) else value), key


def test_every_section_has_a_deletion_case():
    sections = {section for _, section, _, _ in deletions()}
    assert {"trainer", "train.lstm", "zoo.base", "charlm.train", "probe", "seed", "lm.surface_forms"} <= sections
    assert len(deletions()) > 200


@pytest.mark.parametrize(("path", "section", "tp", "key"), deletions(),
                         ids=[f"{p}:{s}:{k}" for p, s, _, k in deletions()])
def test_deleting_any_key_fails_naming_it(tmp_path, path, section, tp, key):
    data = copy.deepcopy(FILES[path])
    *parents, last = key.split(".")
    del (get(data, ".".join(parents)) if parents else data)[last]
    written = write_params(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_section(written, section, tp)
    message = str(err.value)
    assert str(written) in message
    assert f"{key}: missing key '{last}'" in message


def load_changed(tmp_path: Path, key: str, value: Any, section_of: str | None = None) -> Any:
    """Load the section holding `key` (or `section_of`'s) from its file with `key` set to `value`."""
    path, section, tp = registered_section(section_of or key)
    data = copy.deepcopy(FILES[path])
    *parents, last = key.split(".")
    (get(data, ".".join(parents)) if parents else data)[last] = value
    written = write_params(tmp_path, data)
    return written, lambda: load_section(written, section, tp)


def config_classes(tp: Any) -> set[type]:
    """Every config dataclass a value of type `tp` holds, `tp` included."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) is typing.Annotated:
        return config_classes(args[0])
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        return {tp} | {cls for hint in hints.values() for cls in config_classes(hint)}
    return {cls for arg in args if arg is not Ellipsis for cls in config_classes(arg)}


def test_no_config_field_has_a_default_but_variant_overrides(tmp_path):
    """A params file is the only place a value lives; a zoo variant's overrides are empty when absent."""
    classes = {cls for _, tp in SECTIONS for cls in config_classes(tp)}
    assert {config.ModelConfig, config.TrainerConfig} <= classes and len(classes) > 30
    with_default = {f"{cls.__name__}.{f.name}" for cls in classes
                    for f in dataclasses.fields(cls) if f.default is not f.default_factory}
    assert with_default == {"Variant.model", "Variant.trainer"}
    assert load_section(write_params(tmp_path, {"zoo": {"variants": {"v": {}}}}), "zoo.variants.v", Variant) == Variant()


OUT_OF_RANGE = [
    ("featurize.max_len", 0), ("featurize.min_freq", 0), ("featurize.max_vocab", 2),
    ("trainer.batch_size", 0), ("trainer.epochs", 0), ("trainer.lr", -0.01), ("trainer.lr", 0.0),
    ("trainer.patience", 0), ("trainer.num_threads", 0), ("trainer.weight_decay", -1.0),
    ("trainer.clip_grad_norm", -1.0), ("trainer.device", "gpu"),
    ("train.lstm.dropout", 1.0), ("train.lstm.embedding_dropout", -0.1), ("train.lstm.recurrent_dropout", 1.5),
    ("train.lstm.hidden_size", 0), ("train.lstm.num_layers", 0), ("train.lstm.embedding_dim", -3),
    ("prepare.val_size", 0.0), ("prepare.val_size", 1.0), ("prepare.local_csv.test_size", 1.2),
    ("prepare.max_rows_per_split", -1), ("preprocess.workers", 0), ("tfidf.C", [1.0, 0.0]),
    ("tfidf.char_ngram_range", [5, 2]), ("tfidf.min_df", 0), ("names.split.val_size", 0.95),
    ("names.generator.trainer.steps", 0), ("names.generator.temperature", -1.0),
    ("charlm.train.trainer.eval_every", 0), ("charlm.train.val_fraction", 1.0), ("charlm.sample.prime", ""),
    ("charlm.sample.top_k", -1), ("probe.lengths", [5, 0]), ("probe.fail_below", 1.5), ("probe.cells", []),
    ("zoo.seeds", [1, -2]), ("seed", -1),
]


@pytest.mark.parametrize(("key", "value"), OUT_OF_RANGE, ids=[f"{k}={v}" for k, v in OUT_OF_RANGE])
def test_out_of_range_value_fails_naming_its_key(tmp_path, key, value):
    path, load = load_changed(tmp_path, key, value)
    with pytest.raises(ConfigError) as err:
        load()
    message, last = str(err.value), key.rsplit(".", 1)[-1]
    assert str(path) in message
    assert key.rsplit(".", 1)[0] in message and (last in message or "[" in message), message


def test_a_field_of_a_section_loads_with_the_fields_type_and_checks(tmp_path):
    """`load_section(path, "tune.model", str)`: a stage that needs one field depends on that key alone."""
    assert load_section(ROOT / "studies/tune/params.yaml", "tune.model", str) == get(REPO, "tune.model")
    data = copy.deepcopy(REPO)
    data["zoo"]["seeds"] = [1, -2]
    with pytest.raises(ConfigError, match=r"zoo\.seeds"):
        load_section(write_params(tmp_path, data), "zoo.seeds", Seeds)


@pytest.mark.parametrize(("text", "expected"), [("1e-3", 0.001), ("2e-3", 0.002), ("0.002", 0.002), ("1", 1.0)])
def test_learning_rate_reads_as_yaml_1_2(tmp_path, text, expected):
    """`1e-3` is a float to DVC (YAML 1.2), so it is one here too, not a string as PyYAML reads it."""
    trainer = "\n".join(f"  {k}: {v}" for k, v in {**get(REPO, "trainer"), "lr": text}.items()
                        if k != "device") + "\n  device: auto\n"
    path = tmp_path / "params.yaml"
    path.write_text(f"trainer:\n{trainer}", encoding="utf-8")
    assert load_section(path, "trainer", TrainerConfig).lr == expected


@pytest.mark.parametrize(
    ("key", "value", "needles"),
    [
        ("trainer.colour", "red", ["trainer.colour", "unknown key"]),
        ("trainer.epochs", "ten", ["trainer.epochs", "'ten'"]),
        ("trainer.epochs", True, ["trainer.epochs", "True"]),  # bool is not int here
        ("trainer.lr", "fast", ["trainer.lr", "'fast'"]),
        ("preprocess.text.lowercase", "yes", ["preprocess.text.lowercase", "'yes'"]),
        ("prepare.label_map", ["positive"], ["prepare.label_map", "expected a mapping"]),
        ("tfidf.char_ngram_range", [2], ["tfidf.char_ngram_range", "expected 2 items, got 1"]),
        ("tfidf.C", [1.0, "a"], ["tfidf.C[1]", "'a'"]),
        ("download.corpora", "rusentiment", ["download.corpora", "expected a list"]),
        ("featurize.max_len", None, ["featurize.max_len", "None"]),
    ],
)
def test_mistyped_or_unknown_key_fails_naming_it(tmp_path, key, value, needles):
    _, load = load_changed(tmp_path, key, value, key.rsplit(".", 1)[0] if key.endswith("colour") else None)
    with pytest.raises(ConfigError) as err:
        load()
    for needle in needles:
        assert needle in str(err.value)


@pytest.mark.parametrize(
    ("key", "value", "registry"),
    [
        ("train.lstm.cell", "transformer", rnnlab.models.classifier.ENCODERS),
        ("train.lstm.pooling", "self_attention", rnnlab.models.attention.POOLING_CHOICES),
        ("train.lstm.init", "xavier", rnnlab.models.classifier.INIT_SCHEMES),
        ("train.lstm.embeddings", "fasttext", rnnlab.models.embeddings.EMBEDDINGS),
        ("preprocess.text.normalize", "lemmatize", rnnlab.text.lemmas.NORMALIZERS),
        ("prepare.corpus", "imdb", rnnlab.data.datasets.READERS),
        ("probe.cells", ["lstm", "transformer"], rnnlab.studies.chars.probe.CELLS),
    ],
)
def test_choices_are_checked_against_the_table_that_implements_them(tmp_path, key, value, registry):
    _, load = load_changed(tmp_path, key, value)
    with pytest.raises(ConfigError) as err:
        load()
    assert str(sorted(registry)) in str(err.value)


def test_a_new_table_entry_is_a_valid_choice(tmp_path, monkeypatch):
    """A choice reads its table when checked: an entry added to the implementing module is valid at once."""
    monkeypatch.setitem(rnnlab.models.classifier.ENCODERS, "my_cell", rnnlab.models.classifier.ENCODERS["lstm"])
    data = copy.deepcopy(FILES["params.yaml"])
    data["train"]["lstm"]["cell"] = "my_cell"
    assert load_section(write_params(tmp_path, data), "train.lstm", ModelConfig).cell == "my_cell"


def test_a_choice_naming_a_missing_table_is_a_bug_not_a_silent_pass():
    with pytest.raises(AttributeError, match="NO_SUCH_TABLE"):
        Choice("rnnlab.models.classifier:NO_SUCH_TABLE").check("lstm", "params.yaml: train.lstm.cell")


def test_every_choice_names_a_table_that_exists():
    """Every `Choice` of every section some stage loads resolves (a typo in a table's name fails here, not in a
    stage hours into `make all`)."""
    def choices(tp: Any) -> list[Choice]:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Annotated:
            return [m for m in tp.__metadata__ if isinstance(m, Choice)] + choices(args[0])
        if dataclasses.is_dataclass(tp):
            return [c for hint in typing.get_type_hints(tp, include_extras=True).values() for c in choices(hint)]
        return [c for arg in args if arg is not Ellipsis for c in choices(arg)]

    found = {c for _, tp in SECTIONS for c in choices(tp)}
    assert len(found) >= 9
    assert all(c.names() for c in found)


def test_zoo_variant_override_is_validated_when_merged():
    from rnnlab.studies.shared import variant_configs

    zoo = ROOT / "studies/zoo/params.yaml"
    base, trainer = load_section(zoo, "zoo.base", ModelConfig), load_section(zoo, "zoo.trainer", TrainerConfig)
    model, _ = variant_configs(base, trainer, Variant(model={"cell": "gru"}), "params.yaml: zoo.variants.v")
    assert model.cell == "gru" and model.hidden_size == base.hidden_size
    with pytest.raises(ConfigError, match=r"zoo\.variants\.v\.model\.hiden_size"):
        variant_configs(base, trainer, Variant(model={"hiden_size": 3}), "params.yaml: zoo.variants.v")
    with pytest.raises(ConfigError, match=r"zoo\.variants\.v\.trainer\.epochs"):
        variant_configs(base, trainer, Variant(trainer={"epochs": 0}), "params.yaml: zoo.variants.v")


def test_top_level_must_be_mapping(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        read_params(path)


def test_flatten_dict_with_prefix():
    data = {"a": {"b": {"c": 1}, "d": [1, 2]}, "e": "x"}
    assert flatten(data, "train.") == {"train.a.b.c": 1, "train.a.d": [1, 2], "train.e": "x"}
