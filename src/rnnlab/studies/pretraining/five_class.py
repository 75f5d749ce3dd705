"""RuSentiment's 5-class task (positive, negative, neutral, speech, skip) for ULMFiT's classifier, scored with
weighted F1 as the corpus paper and DeepPavlov report it.

The language model was fine-tuned on the 3-class corpus's training texts, so the 5-class splits are built around
them: test is the official test file, validation is the 3-class validation texts plus a seeded, stratified share of
the other labels' training texts, and no validation or test text may occur in the language model's corpus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rnnlab import UserError
from rnnlab.data.datasets import carve, clean
from rnnlab.params import Share

# Weighted F1 on the 5-class test set, as published: Rogers et al. (COLING 2018) and DeepPavlov's model card.
PUBLISHED = {"logistic regression (corpus paper)": 0.688, "neural network (corpus paper)": 0.716,
             "DeepPavlov BiGRU + tweet fastText": 0.758}


@dataclass(frozen=True)
class FiveClassConfig:
    label_map: dict[str, str]  # raw label -> class: the five RuSentiment labels
    val_size: Share  # of the training texts whose label the 3-class corpus does not have


class LeakError(UserError, ValueError):
    """A validation or test text occurs in the language model's corpus."""


def five_class_corpus(raw: pd.DataFrame, three: pd.DataFrame, cfg: FiveClassConfig, seed: int) -> pd.DataFrame:
    """(text, label, split) rows of every label `cfg.label_map` keeps, split around the 3-class corpus `three`."""
    frame = clean(raw, cfg.label_map)
    train = frame["split"] == "train"
    frame.loc[train & frame["text"].isin(three.loc[three["split"] == "val", "text"]), "split"] = "val"
    others = frame[(frame["split"] == "train") & ~frame["label"].isin(set(three["label"]))]
    if len(others):
        frame.loc[others.index, "split"] = carve(others, "val", cfg.val_size, seed)["split"]
    return frame


def check_no_leak(frame: pd.DataFrame, lm_texts: pd.Series, where: str) -> None:
    """Refuse a corpus whose validation or test texts the language model (`lm_texts`, from `where`) has read."""
    held = frame[frame["split"] != "train"]
    leaked = held[held["text"].isin(set(lm_texts))]
    if len(leaked):
        raise LeakError(f"{where}: {len(leaked)} validation or test texts of the 5-class corpus are in the language "
                        f"model's corpus, e.g. {leaked['text'].iloc[0][:80]!r}")


def weighted_f1(scores: Mapping[str, Any]) -> float:
    """F1 per class weighted by its test support (from `training.metrics.score`)."""
    per_class = scores["per_class"].values()
    return sum(c["f1"] * c["support"] for c in per_class) / sum(c["support"] for c in per_class)
