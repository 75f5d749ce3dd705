"""ULMFiT's ablation: from the navec baseline to the full recipe of `lm.classifier`, one change at a time.

The rows of reports/pretraining.md, in order: the zoo's navec LSTM on lemmas (`lm.ablation.baseline`); the
same model on the language model's surface tokens (stage surface_forms); the ULMFiT classifier whose encoder
starts from navec alone, from the pretrained and from the fine-tuned language model (`lm.ablation.steps`,
stage ulmfit_ablation); and the full recipe (stage ulmfit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rnnlab.config import ModelConfig, TrainerConfig
from rnnlab.params import Seeds
from rnnlab.studies.pretraining.lm import _init_embedding, build_lm
from rnnlab.studies.pretraining.ulmfit import AWDClassifierConfig
from rnnlab.training.checkpoint import Checkpoint
from rnnlab.training.loop import set_seed


@dataclass(frozen=True)
class AblationStep:
    label: str  # the report's row
    # navec: the language model's vocabulary and architecture with the weights its pretraining started from
    encoder: Literal["navec", "pretrained", "finetuned"]
    gradual_unfreezing: bool


@dataclass(frozen=True)
class SurfaceFormsConfig:
    """`lm.surface_forms`: the zoo's navec baseline, as this study retrains it on the language model's tokens."""

    seeds: Seeds
    model: ModelConfig
    trainer: TrainerConfig


@dataclass(frozen=True)
class AblationConfig:
    baseline: str  # the zoo variant (on lemmas) the chain starts from; stage surface_forms retrains it on surface forms
    steps: dict[str, AblationStep]  # name -> one ULMFiT classifier, at every lm.classifier seed


def untrained_lm(pretrained: Checkpoint, seed: int) -> Checkpoint:
    """`pretrained`'s vocabulary and architecture as pretraining started them: navec rows in the embedding (when
    `lm.model.embeddings` names them), every other weight freshly initialised under `seed`."""
    set_seed(seed)
    model = build_lm(pretrained.config, len(pretrained.vocab))
    _init_embedding(model, pretrained.vocab, pretrained.config, seed)
    return Checkpoint("awd_lm", pretrained.config, model, pretrained.vocab, [], {"text": pretrained.meta["text"]})


def step_encoder(step: AblationStep, lms: Mapping[str, Checkpoint], seed: int) -> Checkpoint:
    """The language model whose encoder the step's classifier starts from."""
    return untrained_lm(lms["pretrained"], seed) if step.encoder == "navec" else lms[step.encoder]


def step_config(cfg: AWDClassifierConfig, step: AblationStep) -> AWDClassifierConfig:
    """`lm.classifier` with the step's settings."""
    return dataclasses.replace(cfg, gradual_unfreezing=step.gradual_unfreezing)


def ablation_rows(zoo_baseline: Mapping[str, Any], surface: Mapping[str, Any], steps: Mapping[str, Any],
                  recipe: Mapping[str, Any], order: Sequence[str], tfidf: float) -> list[dict[str, Any]]:
    """The report's rows: label, test macro-F1 mean and std over seeds, the change from the row before, and the gap
    to TF-IDF. `zoo_baseline` is a zoo variant's summary; the others are `studies.shared.summary`s."""
    chain = [("navec baseline: zoo LSTM on lemmas, navec fine-tuned", zoo_baseline["test_macro_f1"]["mean"],
              zoo_baseline["test_macro_f1"]["std"], len(zoo_baseline["runs"])),
             ("surface forms instead of lemmas (same LSTM, the language model's tokens)",
              surface["test_macro_f1_mean"], surface["test_macro_f1_std"], len(surface["seeds"]))]
    chain += [(steps[name]["label"], steps[name]["test_macro_f1_mean"], steps[name]["test_macro_f1_std"],
               len(steps[name]["seeds"])) for name in order]
    chain.append(("+ gradual unfreezing: the full recipe (stage ulmfit)", recipe["test_macro_f1_mean"],
                  recipe["test_macro_f1_std"], len(recipe["seeds"])))
    rows, before = [], None
    for label, mean, std, seeds in chain:
        rows.append({"step": label, "test_macro_f1": f"{mean:.4f} ± {std:.4f}", "seeds": seeds,
                     "change": "" if before is None else f"{mean - before:+.4f}", "vs_tfidf": f"{mean - tfidf:+.4f}",
                     "_mean": mean, "_std": std})
        before = mean
    return rows
