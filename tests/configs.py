"""Configs for tests: explicit values, overridden per test (the library itself has no defaults)."""

from __future__ import annotations

import functools
from typing import Any

from rnnlab.config import (
    LMConfig,
    LMTrainerConfig,
    LocalCsvConfig,
    ModelConfig,
    PrepareConfig,
    SplitConfig,
    TextConfig,
    TrainerConfig,
)
from rnnlab.studies.chars.names import ClassifierConfig, GeneratorConfig
from rnnlab.studies.chars.probe import ProbeConfig, ProbeModelConfig

MODEL = dict(cell="lstm", nonlinearity="tanh", embedding_dim=128, hidden_size=128, num_layers=1, bidirectional=False,
             pooling="last", packed=True, embedding_dropout=0.0, dropout=0.0, recurrent_dropout=0.0, init="default",
             learned_init_state=False, embeddings="scratch", freeze_embeddings=False)
TRAINER = dict(device="cpu", autocast="bf16", epochs=10, batch_size=64, bucket_by_length=True, pad_to_max_len=False,
               lr=2e-3, weight_decay=0.0, clip_grad_norm=1.0, patience=3, class_weight="none", num_threads=1)
TEXT = dict(lowercase=True, replace_urls=True, replace_mentions=True, replace_numbers=True, remove_stopwords=True,
            keep_negations=True, normalize="lemma")
LM = dict(embedding_dim=64, hidden_size=256, num_layers=2, dropout=0.2)
LM_TRAINER = dict(device="cpu", autocast="bf16", steps=1800, lr=0.003, clip_grad_norm=1.0, eval_every=200,
                  num_threads=1)


def model_config(**overrides: Any) -> ModelConfig:
    return ModelConfig(**{**MODEL, **overrides})


def trainer_config(**overrides: Any) -> TrainerConfig:
    return TrainerConfig(**{**TRAINER, **overrides})


def text_config(**overrides: Any) -> TextConfig:
    return TextConfig(**{**TEXT, **overrides})


def lm_config(**overrides: Any) -> LMConfig:
    return LMConfig(**{**LM, **overrides})


def lm_trainer_config(**overrides: Any) -> LMTrainerConfig:
    return LMTrainerConfig(**{**LM_TRAINER, **overrides})


def local_csv_config(**overrides: Any) -> LocalCsvConfig:
    return LocalCsvConfig(**{**dict(path="", text_column="text", label_column="label", split_column="",
                                    test_size=0.2, encoding="utf-8"), **overrides})


def prepare_config(**overrides: Any) -> PrepareConfig:
    values = dict(corpus="rusentiment", label_map={"positive": "positive", "negative": "negative", "neutral": "neutral"},
                  val_size=0.1, local_csv=local_csv_config(), max_rows_per_split=0)
    return PrepareConfig(**{**values, **overrides})


def split_config(**overrides: Any) -> SplitConfig:
    return SplitConfig(**{**dict(val_size=0.1, test_size=0.1), **overrides})


def classifier_config(**overrides: Any) -> ClassifierConfig:
    values = dict(max_len=20, min_char_freq=2, trainer=trainer_config(class_weight="balanced"),
                  model=model_config(embedding_dim=64, hidden_size=128, bidirectional=True))
    return ClassifierConfig(**{**values, **overrides})


def generator_config(**overrides: Any) -> GeneratorConfig:
    values = dict(batch_size=64, max_length=20, model=lm_config(embedding_dim=32, hidden_size=128, num_layers=1,
                                                                 dropout=0.1),
                  trainer=lm_trainer_config(steps=2500, eval_every=250), temperature=0.5, samples=100,
                  languages=("Russian", "German", "Japanese"))
    return GeneratorConfig(**{**values, **overrides})


def probe_model_config(**overrides: Any) -> ProbeModelConfig:
    values = {k: v for k, v in MODEL.items() if k not in ("cell", "nonlinearity", "bidirectional", "pooling")}
    return ProbeModelConfig(**{**values, **dict(embedding_dim=16, hidden_size=32, packed=False, init="keras"),
                               **overrides})


def probe_config(**overrides: Any) -> ProbeConfig:
    values = dict(cells=("rnn_tanh", "rnn_relu", "lstm", "gru"), lengths=(5, 10, 20, 40, 80), train_length=10,
                  train_size=4000, val_size=500, test_size=1000, fail_below=0.5, model=probe_model_config(),
                  trainer=trainer_config(epochs=15, batch_size=64, lr=0.005, patience=15, bucket_by_length=False))
    return ProbeConfig(**{**values, **overrides})


def tagger_config(model: dict[str, Any] | None = None, **overrides: Any):
    from rnnlab.studies.tagger.tagger import TaggerConfig, TaggerModelConfig

    model_values = dict(embeddings="scratch", embedding_dim=16, char_embedding_dim=8, char_hidden_size=16,
                        hidden_size=32, num_layers=1, dropout=0.0, max_chars=60, max_word_len=12,
                        navec_features=False)
    values = dict(min_freq=1, word_dropout=0.2, model=TaggerModelConfig(**{**model_values, **(model or {})}),
                  trainer=trainer_config(epochs=25, batch_size=4, lr=0.01, patience=25, class_weight="none"))
    return TaggerConfig(**{**values, **overrides})


@functools.cache
def stage_sections() -> dict[tuple[str, str], Any]:
    """(params file, section) -> type, for every section some stage loads, as its script loads it
    (tests/unit/test_pipeline_deps.stage_loads), a templated key (`train.${key}`) spelt out for every entry."""
    from tests.unit.test_pipeline_deps import definitions, resolve, stage_loads

    sections = {}
    for _, definition in definitions():
        script = stage_script_namespace(definition)
        for path, key, tp in stage_loads(definition):
            parent, dollar, _ = key.partition(".$")
            keys = [f"{parent}.{name}" for name in resolve(parent, path)] if dollar else [key]
            sections |= {(path, k): eval(tp, script) for k in keys}  # noqa: S307  (a type the script names)
    return sections


def stage_script_namespace(definition: dict) -> dict[str, Any]:
    """The names a stage script imports at its top level (its config types among them)."""
    import ast

    from tests.unit.test_pipeline_deps import stage_script

    namespace: dict[str, Any] = {}
    for node in ast.parse(stage_script(definition).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            exec(compile(ast.Module([node], []), "<imports>", "exec"), namespace)  # noqa: S102
    exec("from rnnlab.classifiers.ngram import SubwordEntry\nfrom rnnlab.config import ModelConfig", namespace)  # noqa: S102
    return namespace


def registered_section(key: str) -> tuple[str, str, Any]:
    """The params file, the longest section some stage loads above (or at) dotted `key`, and its type."""
    sections = stage_sections()
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        found = [(path, section, tp) for (path, section), tp in sections.items() if section == ".".join(parts[:n])]
        if found:
            return found[0]
    raise KeyError(key)
