"""params.yaml loads into typed configs with no default in code: a missing, unknown, mistyped or
out-of-range key fails at load time naming the file and the dotted key; choices come from registries."""

from __future__ import annotations

import copy
import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

import rnnlab.config as config
import rnnlab.data.corpora  # noqa: F401  (fills the registries the configs check choices against)
import rnnlab.data.datasets  # noqa: F401
import rnnlab.data.imdb  # noqa: F401
import rnnlab.data.texts  # noqa: F401
import rnnlab.data.unlabelled  # noqa: F401
import rnnlab.models.classifier  # noqa: F401
import rnnlab.tasks.ablation  # noqa: F401
import rnnlab.tasks.attention  # noqa: F401
import rnnlab.training.attention  # noqa: F401
import rnnlab.tasks.explain  # noqa: F401
import rnnlab.tasks.five_class  # noqa: F401
import rnnlab.tasks.lemmatizer  # noqa: F401  (the studies' sections register themselves)
import rnnlab.tasks.length  # noqa: F401
import rnnlab.tasks.pretraining  # noqa: F401
import rnnlab.tasks.probe  # noqa: F401
import rnnlab.tasks.tagger  # noqa: F401
import rnnlab.tasks.ulmfit  # noqa: F401
import rnnlab.tasks.ulmfit_rates  # noqa: F401
import rnnlab.text.lemmas  # noqa: F401
from rnnlab.config import SECTIONS, ConfigError, ModelConfig, Variant, flatten, load_section, read_params
from tests.configs import registered_section

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
REPO = read_params(REPO_PARAMS)


def write_params(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "params.yaml"
    with path.open("w", encoding="utf-8") as f:
        YAML(typ="safe").dump(data, f)
    return path


def concrete_keys() -> list[str]:
    """Every registered section key that params.yaml holds, wildcards spelt out (train.lstm, ...)."""
    keys = []
    for key in SECTIONS:
        if key.endswith(".*"):
            parent = key[:-2]
            keys += [f"{parent}.{name}" for name in get(REPO, parent)]
        else:
            keys.append(key)
    return keys


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


def deletions() -> list[tuple[str, str]]:
    """(section loaded, key deleted) for every key params.yaml must hold, the section itself included."""
    cases = []
    for section in concrete_keys():
        cases.append((section, section))
        cases += [(section, key) for key in required_keys(config.section_type(section), section)]
    return cases


@pytest.mark.parametrize("section", concrete_keys())
def test_repository_params_load(section):
    loaded = load_section(REPO_PARAMS, section)
    raw = get(REPO, section)
    if dataclasses.is_dataclass(loaded):
        flat = flatten(loaded)
        for key, value in flatten(raw).items():
            assert flat[key] == (tuple(value) if isinstance(value, list) else value), key


def test_every_section_has_a_deletion_case():
    sections = {section for section, _ in deletions()}
    assert {"trainer", "train.lstm", "zoo.base", "charlm.train", "probe", "seed"} <= sections
    assert len(deletions()) > 200


@pytest.mark.parametrize(("section", "key"), deletions(), ids=[f"{s}:{k}" for s, k in deletions()])
def test_deleting_any_key_fails_naming_it(tmp_path, section, key):
    data = copy.deepcopy(REPO)
    *parents, last = key.split(".")
    del (get(data, ".".join(parents)) if parents else data)[last]
    path = write_params(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_section(path, section)
    message = str(err.value)
    assert str(path) in message
    assert f"{key}: missing key '{last}'" in message


def test_no_config_field_has_a_default_but_variant_overrides(tmp_path):
    """params.yaml is the only place a value lives; a zoo variant's overrides are empty when absent."""
    classes = {cls for cls in vars(config).values() if dataclasses.is_dataclass(cls) and cls.__module__ == config.__name__}
    with_default = {f"{cls.__name__}.{f.name}" for cls in classes - {config.Range, config.Choice, config.Pattern}
                    for f in dataclasses.fields(cls) if f.default is not f.default_factory}
    assert with_default == {"Variant.model", "Variant.trainer"}
    assert load_section(write_params(tmp_path, {"zoo": {"variants": {"v": {}}}}), "zoo.variants.v") == Variant()


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
    data = copy.deepcopy(REPO)
    *parents, last = key.split(".")
    (get(data, ".".join(parents)) if parents else data)[last] = value
    path = write_params(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_section(path, registered_section(key))
    message = str(err.value)
    assert str(path) in message
    assert key.rsplit(".", 1)[0] in message and (last in message or "[" in message), message


def test_a_field_of_a_section_loads_with_the_fields_type_and_checks(tmp_path):
    """`load_section(path, "tune.model")`: a stage that needs one field depends on that key alone."""
    assert load_section(REPO_PARAMS, "tune.model") == get(REPO, "tune.model")
    data = copy.deepcopy(REPO)
    data["zoo"]["seeds"] = [1, -2]
    with pytest.raises(ConfigError, match=r"zoo\.seeds"):
        load_section(write_params(tmp_path, data), "zoo.seeds")
    with pytest.raises(KeyError, match="no config registered for params key 'tune.colour'"):
        config.section_type("tune.colour")


@pytest.mark.parametrize(("text", "expected"), [("1e-3", 0.001), ("2e-3", 0.002), ("0.002", 0.002), ("1", 1.0)])
def test_learning_rate_reads_as_yaml_1_2(tmp_path, text, expected):
    """`1e-3` is a float to DVC (YAML 1.2), so it is one here too, not a string as PyYAML reads it."""
    trainer = "\n".join(f"  {k}: {v}" for k, v in {**get(REPO, "trainer"), "lr": text}.items()
                        if k != "device") + "\n  device: auto\n"
    path = tmp_path / "params.yaml"
    path.write_text(f"trainer:\n{trainer}", encoding="utf-8")
    assert load_section(path, "trainer").lr == expected


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
    data = copy.deepcopy(REPO)
    *parents, last = key.split(".")
    get(data, ".".join(parents))[last] = value
    path = write_params(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_section(path, registered_section(".".join(parents)) if last == "colour" else registered_section(key))
    for needle in needles:
        assert needle in str(err.value)


@pytest.mark.parametrize(
    ("key", "value", "registry"),
    [
        ("train.lstm.cell", "transformer", rnnlab.models.classifier.ENCODERS),
        ("train.lstm.pooling", "self_attention", rnnlab.models.classifier.POOLINGS),
        ("train.lstm.init", "xavier", rnnlab.models.classifier.INIT_SCHEMES),
        ("train.lstm.embeddings", "fasttext", rnnlab.models.embeddings.EMBEDDINGS),
        ("preprocess.text.normalize", "lemmatize", rnnlab.text.lemmas.NORMALIZERS),
        ("prepare.corpus", "imdb", rnnlab.data.datasets.READERS),
        ("probe.cells", ["lstm", "transformer"], rnnlab.tasks.probe.CELLS),
    ],
)
def test_choices_are_checked_against_the_registry_that_implements_them(tmp_path, key, value, registry):
    data = copy.deepcopy(REPO)
    *parents, last = key.split(".")
    get(data, ".".join(parents))[last] = value
    with pytest.raises(ConfigError) as err:
        load_section(write_params(tmp_path, data), registered_section(key))
    assert str(sorted(registry)) in str(err.value)


def test_a_new_registry_entry_is_a_valid_choice(tmp_path, monkeypatch):
    monkeypatch.setitem(config._CHOICES, "cell", config._CHOICES["cell"] | {"my_cell"})
    data = copy.deepcopy(REPO)
    data["train"]["lstm"]["cell"] = "my_cell"
    assert load_section(write_params(tmp_path, data), "train.lstm").cell == "my_cell"


def test_a_choice_without_its_registry_is_a_bug_not_a_silent_pass(monkeypatch):
    monkeypatch.delitem(config._CHOICES, "cell")
    with pytest.raises(RuntimeError, match="no registry 'cell'"):
        config.from_dict(ModelConfig, get(REPO, "train.lstm"), "params.yaml: train.lstm")


def test_zoo_variant_override_is_validated_when_merged():
    from rnnlab.tasks.zoo import variant_configs

    base, trainer = load_section(REPO_PARAMS, "zoo.base"), load_section(REPO_PARAMS, "zoo.trainer")
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
