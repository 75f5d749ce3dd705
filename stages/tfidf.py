"""Stage tfidf: fit the TF-IDF + logistic regression baseline, C chosen on validation.

The pickle also holds what serving it on raw text needs: the preprocessing and stopwords, the classes.
"""

import argparse
import dataclasses
import os
import pickle
import time
from pathlib import Path

import pandas as pd

from rnnlab.classifiers.tfidf import TfidfBaseline
from rnnlab.config import TextConfig, TfidfConfig
from rnnlab.data.datasets import class_names
from rnnlab.data.files import atomic_path, sha256_file, write_json
from rnnlab.params import NonNegativeInt, flatten, load_section
from rnnlab.process import run_stage
from rnnlab.text.tokenizer import load_stopwords
from rnnlab.training.tracking import mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--preprocessed", type=Path, required=True)
    parser.add_argument("--nltk-data", type=Path, required=True, help="the stopwords travel in the model file")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and fit time")
    args = parser.parse_args()

    cfg, seed = load_section(args.params, "tfidf", TfidfConfig), load_section(args.params, "seed", NonNegativeInt)
    text = load_section(args.params, "preprocess.text", TextConfig)
    frame = pd.read_csv(args.preprocessed, dtype=str, keep_default_na=False)
    classes = class_names(frame)
    frame["y"] = frame["label"].map({c: i for i, c in enumerate(classes)})
    train, val = (frame[frame["split"] == s] for s in ("train", "val"))
    start = time.perf_counter()
    with mlflow_run("tfidf", os.environ, stage="tfidf") as tracker:
        tracker.log_params({"model": "tfidf", "seed": seed, **flatten(cfg, "tfidf.")})
        tracker.set_tags({"data.preprocessed.sha256": sha256_file(args.preprocessed)})
        baseline = TfidfBaseline(cfg, seed)
        scores = baseline.fit(train["tokens"].tolist(), train["y"].tolist(), val["tokens"].tolist(), val["y"].tolist())
        for step, (c, f1) in enumerate(scores.items()):
            tracker.log_metrics({"C": c, "val_macro_f1": f1}, step=step)
        tracker.log_params({"best_C": baseline.C})
        with atomic_path(args.out) as tmp, tmp.open("wb") as f:
            pickle.dump({"name": "tfidf", "baseline": baseline, "classes": classes, "val_macro_f1": scores[baseline.C],
                         "preprocess": dataclasses.asdict(text),
                         "stopwords": sorted(load_stopwords(args.nltk_data, text.keep_negations))}, f)
        write_json(args.run_record, {"stage": "tfidf", "run_id": tracker.run_id, "seconds": time.perf_counter() - start})
    print(f"tfidf: best C {baseline.C}, val macro-F1 {scores[baseline.C]:.4f}")


if __name__ == "__main__":
    run_stage(main)
