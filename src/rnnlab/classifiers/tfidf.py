"""TF-IDF + logistic regression baseline, C chosen on the validation split."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from rnnlab.config import TfidfConfig
from rnnlab.training.metrics import macro_f1


class TfidfBaseline:
    """Word (and optional char) n-gram TF-IDF features and a linear classifier."""

    def __init__(self, cfg: TfidfConfig, seed: int) -> None:
        self.cfg, self.seed = cfg, seed
        self.word = TfidfVectorizer(
            tokenizer=str.split, token_pattern=None, lowercase=False, ngram_range=(1, cfg.word_ngram_max),
            min_df=cfg.min_df, max_features=cfg.max_features, sublinear_tf=True,
        )
        self.char = TfidfVectorizer(
            analyzer="char_wb", ngram_range=cfg.char_ngram_range, min_df=cfg.min_df,
            max_features=cfg.max_features, sublinear_tf=True,
        ) if cfg.char_ngrams else None
        self.model: LogisticRegression | None = None
        self.C: float | None = None

    def _features(self, docs: Sequence[str], fit: bool = False):
        parts = [self.word.fit_transform(docs) if fit else self.word.transform(docs)]
        if self.char is not None:
            parts.append(self.char.fit_transform(docs) if fit else self.char.transform(docs))
        return hstack(parts).tocsr()

    def fit(self, train_docs: Sequence[str], y_train: Sequence[int], val_docs: Sequence[str], y_val: Sequence[int]) -> dict[float, float]:
        """Fit one classifier per C, keep the best on validation macro-F1; returns F1 per C."""
        x_train, x_val = self._features(train_docs, fit=True), self._features(val_docs)
        n_classes = int(max(max(y_train), max(y_val))) + 1
        scores, best = {}, None
        for c in self.cfg.C:
            model = LogisticRegression(
                C=c, max_iter=2000, random_state=self.seed,
                class_weight="balanced" if self.cfg.class_weight == "balanced" else None,
            ).fit(x_train, y_train)
            scores[c] = macro_f1(y_val, model.predict(x_val), n_classes)
            if best is None or scores[c] > scores[best]:
                best, self.model = c, model
        self.C = best
        for vectorizer in (self.word, self.char):
            # sklearn caches id(stop_words), a memory address, so a pickled baseline would differ on every run
            if vectorizer is not None:
                vars(vectorizer).pop("_stop_words_id", None)
        return scores

    def predict_proba(self, docs: Sequence[str]) -> np.ndarray:
        """Class probabilities, (N, C)."""
        assert self.model is not None, "fit first"
        return self.model.predict_proba(self._features(docs))
