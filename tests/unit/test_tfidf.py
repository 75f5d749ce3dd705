"""The TF-IDF baseline: C chosen on validation, and a pickle that is the same on every fit."""

from __future__ import annotations

import pickle

from rnnlab.classifiers.tfidf import TfidfBaseline
from rnnlab.config import TfidfConfig

DOCS = ["прекрасный день )))", "ужасный день (((", "обычный вторник", "прекрасный вечер", "ужасный вечер",
        "обычный четверг"] * 4
LABELS = [2, 0, 1, 2, 0, 1] * 4


def fitted(char_ngrams: bool) -> TfidfBaseline:
    cfg = TfidfConfig(word_ngram_max=2, char_ngrams=char_ngrams, char_ngram_range=(2, 4), min_df=1,
                      max_features=1000, C=(0.1, 10.0), class_weight="balanced")
    baseline = TfidfBaseline(cfg, seed=0)
    scores = baseline.fit(DOCS, LABELS, DOCS, LABELS)
    assert set(scores) == {0.1, 10.0} and baseline.C == max(scores, key=scores.get)
    return baseline


def test_the_baseline_learns_its_cue_words():
    assert fitted(True).predict_proba(["прекрасный четверг"]).argmax(1).tolist() == [2]


def test_two_fits_pickle_to_the_same_bytes():
    """DVC records the pickle's md5: sklearn's cached id(stop_words) must not end up in it."""
    for char_ngrams in (False, True):
        assert pickle.dumps(fitted(char_ngrams)) == pickle.dumps(fitted(char_ngrams))
