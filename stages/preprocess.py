"""Stage preprocess: normalise, tokenize, drop stopwords, lemmatize; tokens joined by spaces."""

import argparse
import time
from pathlib import Path

import pandas as pd

from rnnlab.config import PreprocessConfig
from rnnlab.data.files import atomic_path
from rnnlab.params import load_section
from rnnlab.process import run_stage
from rnnlab.text.lemmas import default_lemma_cache
from rnnlab.text.preprocessing import preprocess_texts
from rnnlab.text.tokenizer import load_stopwords


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--nltk-data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    cfg = load_section(args.params, "preprocess", PreprocessConfig)
    frame = pd.read_csv(args.prepared, dtype=str, keep_default_na=False)
    start = time.perf_counter()
    # The lemma cache only saves work: a lemma is a function of the token and pymorphy3's version.
    cache = default_lemma_cache()
    stopwords = load_stopwords(args.nltk_data, cfg.text.keep_negations)
    docs = preprocess_texts(frame["text"], cfg.text, stopwords, cache, cfg.workers)
    seconds = time.perf_counter() - start
    n_tokens = sum(doc.count(" ") + 1 for doc in docs if doc)  # tokens are joined by single spaces
    print(f"{len(frame)} texts, {n_tokens} tokens in {seconds:.1f} s: {n_tokens / seconds:,.0f} tokens/s")
    print(f"lemma cache: {cache or 'off (RNNLAB_CACHE_DIR=off)'}")
    frame["tokens"] = docs
    with atomic_path(args.out) as tmp:
        frame[["tokens", "label", "split"]].to_csv(tmp, index=False)


if __name__ == "__main__":
    run_stage(main)
