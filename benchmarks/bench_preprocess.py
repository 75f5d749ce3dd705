"""Preprocessing: the preprocess stage's way against tokenise-then-lemmatise-every-token in one process."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import common  # first: it sets the environment before rnnlab imports tqdm
import pandas as pd
import torch

from rnnlab.config import PreprocessConfig, load_section
from rnnlab.text import lemma, load_stopwords, preprocess_texts, tokenize

TARGET = 30.0


def naive_preprocess(texts: Sequence[str], cfg: PreprocessConfig, stopwords: frozenset[str]) -> list[list[str]]:
    """The baseline: tokenize, then morph.parse(word)[0].normal_form for every token occurrence, one process.

    `lemma` applies the project's rule (Cyrillic words only, other tokens unchanged), so both ways
    must give the same lemmas; it has no cache, so every occurrence is parsed again.
    """
    drop = stopwords if cfg.remove_stopwords else frozenset()
    return [[lemma(t) for t in tokenize(text, cfg) if t not in drop] for text in texts]


def naive_child(args: argparse.Namespace) -> None:
    """Run the baseline in this (child) process and write its seconds and documents as JSON.

    With --pure-python-dawg, pymorphy3 is imported as `pip install pymorphy3` leaves it: without the
    DAWG C extension of its `fast` extra, reading its dictionaries in pure Python.
    """
    if args.pure_python_dawg:
        sys.modules["dawg"] = None  # pymorphy3 falls back to dawg_python, its default dependency
    import pymorphy3.dawg

    cfg = load_section(args.params, "preprocess")
    texts = _texts(args.prepared, args.limit)
    stopwords = load_stopwords(args.nltk_data, cfg.keep_negations)
    with common.stopwatch() as timer:
        docs = naive_preprocess(texts, cfg, stopwords)
    Path(args.naive_out).write_text(json.dumps({"seconds": timer["seconds"], "docs": docs,
                                                "dawg_extension": pymorphy3.dawg.EXTENSION_AVAILABLE}))


def run_naive(args: argparse.Namespace, pure_python_dawg: bool, tmp: Path) -> dict:
    """The baseline in a fresh process, so it loads pymorphy3 as it chooses; its own timing."""
    out = tmp / f"naive-{pure_python_dawg}.json"
    cmd = [sys.executable, __file__, "--naive-out", str(out), "--prepared", str(args.prepared), "--nltk-data",
           str(args.nltk_data), "--params", str(args.params), "--limit", str(args.limit)]
    common.run_checked(cmd + (["--pure-python-dawg"] if pure_python_dawg else []), common.ROOT)
    return json.loads(out.read_text())


def differing(ours: list[list[str]], naive: list[list[str]]) -> list[int]:
    """Indices of the texts whose token lists differ."""
    return [i for i, (a, b) in enumerate(zip(ours, naive, strict=True)) if a != b]


def library_rows(args: argparse.Namespace, texts: list[str], cfg: PreprocessConfig, stopwords: frozenset[str],
                 device: str, corpus: str) -> list[dict]:
    """Time ours without and with a lemma cache, the two baselines, and tokenising alone, on the same texts."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        naive = run_naive(args, True, tmp_dir)
        naive_fast = run_naive(args, False, tmp_dir)
        cache = tmp_dir / "lemmas.json"
        with common.stopwatch() as cold_t:
            cold = preprocess_texts(texts, cfg, stopwords, cache)
        with common.stopwatch() as warm_t:
            warm = preprocess_texts(texts, cfg, stopwords, cache)
        cached = len(json.loads(cache.read_text())) if cache.exists() else 0
    with common.stopwatch() as tok_t:
        tokens = [tokenize(text, cfg) for text in texts]
    if naive["dawg_extension"] or not naive_fast["dawg_extension"]:
        raise RuntimeError("the naive baselines need pymorphy3 without, then with, its DAWG C extension (pip install pymorphy3[fast])")
    n_tokens, n_texts = sum(map(len, cold)), len(cold)
    bad = {name: differing(docs, naive["docs"]) for name, docs in
           (("no cache", cold), ("with cache", warm), ("naive, pymorphy3[fast]", naive_fast["docs"]))}
    speed = {name: n_tokens / seconds for name, seconds in
             (("cold", cold_t["seconds"]), ("warm", warm_t["seconds"]), ("naive", naive["seconds"]),
              ("naive_fast", naive_fast["seconds"]))}
    details = dict(texts=n_texts, tokens=n_tokens, distinct_tokens=len({t for doc in tokens for t in doc}),
                   workers=cfg.workers, normalize=cfg.normalize, naive_seconds=naive["seconds"])
    how = "one timed run each, same texts, dictionary loading included; tokens = tokens out"
    return [
        common.row(f"preprocess_texts vs naive, {corpus}, first run (empty lemma cache)",
                   how + "; naive in a child process with pymorphy3 as installed by default (pure-Python DAWG)",
                   speed["cold"], "tokens/s", device, baseline=speed["naive"], ratio=naive["seconds"] / cold_t["seconds"],
                   target=TARGET, seconds=cold_t["seconds"], **details),
        common.row("preprocess_texts vs naive, rerun (lemmas cached by the first run)",
                   how + "; the same naive run", speed["warm"], "tokens/s", device, baseline=speed["naive"],
                   ratio=naive["seconds"] / warm_t["seconds"], target=TARGET, seconds=warm_t["seconds"],
                   cached_lemmas=cached, naive_seconds=naive["seconds"]),
        common.row("first run vs naive with pymorphy3[fast] (the DAWG C extension, as this project installs it)",
                   "the same first run against the naive loop in a child process that has the extension",
                   speed["cold"], "tokens/s", device, baseline=speed["naive_fast"],
                   ratio=naive_fast["seconds"] / cold_t["seconds"], naive_seconds=naive_fast["seconds"],
                   extension_speedup_of_naive=naive["seconds"] / naive_fast["seconds"]),
        common.row("identical lemmas", "token lists compared text by text against the default naive run",
                   100.0 * (n_texts - len(set().union(*bad.values()))) / max(n_texts, 1), "% of texts", device,
                   texts_compared=n_texts, **{f"differing ({name})": len(v) for name, v in bad.items()},
                   identical=not any(bad.values())),
        common.row("part: tokenize only (normalise + regex), one process", "one timed run", n_tokens / tok_t["seconds"],
                   "tokens/s", "cpu (1 process)", seconds=tok_t["seconds"], share_of_first_run=tok_t["seconds"] / cold_t["seconds"]),
    ]


def stage_row(prepared: Path, params: Path, nltk_data: Path, limit: int, device: str) -> dict:
    """The stage as `dvc repro` runs it, in a child process: wall time and peak RSS of its process tree."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        if limit:
            pd.read_csv(prepared, dtype=str, keep_default_na=False).head(limit).to_csv(tmp_dir / "in.csv", index=False)
            prepared = tmp_dir / "in.csv"
        cmd = [sys.executable, "stages/preprocess.py", "--params", str(params.resolve()), "--prepared", str(prepared.resolve()),
               "--nltk-data", str(nltk_data.resolve()), "--out", str(tmp_dir / "out.csv")]
        run = common.run_checked(cmd, common.ROOT, dict(os.environ, RNNLAB_CACHE_DIR=str(tmp_dir / "cache")))
        n_tokens = int(pd.read_csv(tmp_dir / "out.csv", dtype=str, keep_default_na=False)["tokens"].str.split().str.len().sum())
    return common.row("preprocess stage end to end (python stages/preprocess.py)",
                      "one run in a child process, empty lemma cache: interpreter start, CSV read, preprocess, CSV write; "
                      "peak RSS = summed RSS of the process and its workers, sampled every 50 ms",
                      run.seconds, "s", device, tokens_per_s=n_tokens / run.seconds, peak_rss_mib=run.peak_rss_mib)


def _texts(prepared: Path, limit: int) -> list[str]:
    return pd.read_csv(prepared, dtype=str, keep_default_na=False)["text"].tolist()[: limit or None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepared", type=Path, default=common.ROOT / "data/prepared/corpus.csv")
    parser.add_argument("--nltk-data", type=Path, default=common.ROOT / "data/nltk_data")
    parser.add_argument("--params", type=Path, default=common.ROOT / "params.yaml")
    parser.add_argument("--limit", type=int, default=0, help="first N texts only (0 = the whole corpus)")
    parser.add_argument("--naive-out", help=argparse.SUPPRESS)  # internal: run the baseline, write its result here
    parser.add_argument("--pure-python-dawg", action="store_true", help=argparse.SUPPRESS)
    common.add_common_args(parser, "first 300 texts only")
    args = parser.parse_args()
    if args.naive_out:
        return naive_child(args)
    args.limit = 300 if args.quick and not args.limit else args.limit

    torch.set_num_threads(args.threads)
    cfg = load_section(args.params, "preprocess")
    texts = _texts(args.prepared, args.limit)
    device = f"cpu ({cfg.workers} worker processes)"
    corpus = f"first {len(texts)} texts" if args.limit else f"whole corpus ({len(texts)} texts)"
    rows = library_rows(args, texts, cfg, load_stopwords(args.nltk_data, cfg.keep_negations), device, corpus)
    rows.append(stage_row(args.prepared, args.params, args.nltk_data, args.limit, device))
    notes = [
        "ratio = naive seconds / our seconds on the same texts (higher is better); target >= 30x with identical lemmas.",
        "ours = `rnnlab.text.preprocess_texts` with the `preprocess` section of params.yaml: the texts split between "
        "worker processes, each tokenizing its share and parsing each distinct token once; pymorphy3 with its `fast` "
        "extra (the DAWG C extension). First run: an empty lemma cache. Rerun: the cache the first run wrote, as the "
        "preprocess stage keeps it under $RNNLAB_CACHE_DIR between runs.",
        "naive = tokenize, then `morph.parse(word)[0].normal_form` for every token occurrence (via `rnnlab.text.lemma`, "
        "so Cyrillic words only, as ours), one process, no cache, with pymorphy3 as `pip install pymorphy3` installs it "
        "(pure-Python DAWG). The third row gives the same loop the C extension, to show what the extension alone buys.",
    ]
    settings = {"prepared": str(args.prepared), "texts": len(texts), "params": str(args.params),
                "preprocess": dataclasses.asdict(cfg)}
    machine = common.machine_info(torch.device("cpu"), args.threads)
    path = common.write_section(args.out, "preprocess", common.section(
        "Preprocessing: preprocess stage vs naive lemmatisation", machine, rows, notes, settings))
    print(f"preprocess: {rows[0]['ratio']:.1f}x naive (first run), {rows[1]['ratio']:.1f}x (rerun), "
          f"identical {rows[3]['details']['identical']}; wrote {path}")


if __name__ == "__main__":
    main()
