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

from rnnlab.config import PreprocessConfig, TextConfig
from rnnlab.params import load_section
from rnnlab.text.lemmas import WORD_RE, pymorphy3_lemma, read_lemma_cache
from rnnlab.text.preprocessing import preprocess_texts
from rnnlab.text.tokenizer import END_OF_TEXT, load_stopwords, tokenize, tokenize_texts

TARGET = 30.0


def naive_preprocess(texts: Sequence[str], cfg: TextConfig, stopwords: frozenset[str]) -> list[str]:
    """The baseline: tokenize, then morph.parse(word)[0].normal_form for every token occurrence, one process.

    As the project does, only Cyrillic words (WORD_RE) are parsed and other tokens kept, so both ways
    must give the same lemmas; nothing is cached, so every occurrence is parsed again. Each text's
    lemmas are joined by spaces, as ours are.
    """
    import pymorphy3  # loaded here, so that the timing includes reading the dictionaries, as ours does

    morph = pymorphy3.MorphAnalyzer()
    drop = stopwords if cfg.remove_stopwords else frozenset()
    return [" ".join(pymorphy3_lemma(morph, t) if WORD_RE.fullmatch(t) else t for t in tokenize(text, cfg) if t not in drop)
            for text in texts]


def child(args: argparse.Namespace) -> None:
    """Time one way (`--child WAY`) in this fresh process and write its seconds and documents as JSON.

    naive: pymorphy3 as `pip install pymorphy3` leaves it, reading its dictionaries in pure Python;
    naive-fast: the same loop with the DAWG C extension of its `fast` extra, as this project installs it;
    ours: `preprocess_texts` with the lemma cache file --cache, empty (first run) or filled (rerun).
    """
    if args.child == "naive":
        sys.modules["dawg"] = None  # pymorphy3 falls back to dawg_python, its default dependency
    import pymorphy3.dawg

    cfg = load_section(args.params, "preprocess", PreprocessConfig)
    texts = _texts(args.prepared, args.limit)
    stopwords = load_stopwords(args.nltk_data, cfg.text.keep_negations)
    with common.stopwatch() as timer:
        if args.child == "ours":
            docs = preprocess_texts(texts, cfg.text, stopwords, args.cache, cfg.workers)
        else:
            docs = naive_preprocess(texts, cfg.text, stopwords)
    Path(args.child_out).write_text(json.dumps({"seconds": timer["seconds"], "docs": docs,
                                                "dawg_extension": pymorphy3.dawg.EXTENSION_AVAILABLE}))


def run_child(args: argparse.Namespace, way: str, tmp: Path, caches: list[Path | None]) -> dict:
    """`way` once per cache in `caches`, each in a fresh process: the best time, every time, the last documents.

    A fresh process each time, so that no way inherits another's loaded dictionaries or heap.
    """
    seconds = []
    for i, cache in enumerate(caches):
        out = tmp / f"{way}-{i}.json"
        cmd = [sys.executable, __file__, "--child", way, "--child-out", str(out), "--prepared", str(args.prepared),
               "--nltk-data", str(args.nltk_data), "--params", str(args.params), "--limit", str(args.limit)]
        common.run_checked(cmd + (["--cache", str(cache)] if cache else []), common.ROOT)
        result = json.loads(out.read_text())
        seconds.append(result["seconds"])
    return {**result, "seconds": min(seconds), "all_seconds": seconds}


def differing(ours: list[str], naive: list[str]) -> list[int]:
    """Indices of the texts whose lemmas differ."""
    return [i for i, (a, b) in enumerate(zip(ours, naive, strict=True)) if a != b]


def library_rows(args: argparse.Namespace, texts: list[str], cfg: PreprocessConfig, device: str, corpus: str) -> list[dict]:
    """Time tokenising alone, the two baselines, and ours without and with a lemma cache, on the same texts."""
    tokenize_seconds = []
    for _ in range(args.repeat):
        with common.stopwatch() as timer:
            tokens = tokenize_texts(texts, cfg.text)
        tokenize_seconds.append(timer["seconds"])
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        once = [None] * args.repeat
        naive, naive_fast = run_child(args, "naive", tmp_dir, once), run_child(args, "naive-fast", tmp_dir, once)
        empty = [tmp_dir / f"lemmas-{i}.tsv" for i in range(args.repeat)]  # a new, empty cache for each first run
        cold = run_child(args, "ours", tmp_dir, empty)
        warm = run_child(args, "ours", tmp_dir, [empty[0]] * args.repeat)  # the cache that the first one filled
        cached = len(read_lemma_cache(empty[0]))
    if naive["dawg_extension"] or not naive_fast["dawg_extension"]:
        raise RuntimeError("the naive baselines need pymorphy3 without, then with, its DAWG C extension (pip install pymorphy3[fast])")
    n_tokens, n_texts = sum(len(doc.split()) for doc in cold["docs"]), len(cold["docs"])
    bad = {name: differing(way["docs"], naive["docs"]) for name, way in
           (("no cache", cold), ("with cache", warm), ("naive, pymorphy3[fast]", naive_fast))}
    details = {"texts": n_texts, "tokens": n_tokens, "distinct_tokens": len(set(tokens).difference((END_OF_TEXT,))),
               "workers": cfg.workers, "normalize": cfg.text.normalize}
    how = (f"best of {args.repeat} runs, each in a fresh process, same texts, dictionary loading included; "
           "tokens = tokens out")

    def versus(way: dict, baseline: dict, what: str, how: str, **extra) -> dict:
        return common.row(what, how, n_tokens / way["seconds"], "tokens/s", device, baseline=n_tokens / baseline["seconds"],
                          ratio=baseline["seconds"] / way["seconds"], seconds=way["seconds"], runs_seconds=way["all_seconds"],
                          naive_seconds=baseline["seconds"], naive_runs_seconds=baseline["all_seconds"], **extra)

    return [
        versus(cold, naive, f"preprocess_texts vs naive, {corpus}, first run (empty lemma cache)",
               how + "; naive with pymorphy3 as installed by default (pure-Python DAWG)", target=TARGET, **details),
        versus(warm, naive, "preprocess_texts vs naive, rerun (lemmas cached by the first run)", how + "; the same naive runs",
               target=TARGET, cached_lemmas=cached),
        versus(cold, naive_fast, "first run vs naive with pymorphy3[fast] (the DAWG C extension, as this project installs it)",
               "the same first runs against the naive loop with the extension",
               extension_speedup_of_naive=naive["seconds"] / naive_fast["seconds"]),
        common.row("identical lemmas", "token lists compared text by text against the default naive run",
                   100.0 * (n_texts - len(set().union(*bad.values()))) / max(n_texts, 1), "% of texts", device,
                   texts_compared=n_texts, **{f"differing ({name})": len(v) for name, v in bad.items()},
                   identical=not any(bad.values())),
        common.row("part: tokenize only (tokenize_texts: normalise + regex over the joined texts), one process",
                   f"best of {args.repeat} runs in this process",
                   n_tokens / min(tokenize_seconds), "tokens/s", "cpu (1 process)", seconds=min(tokenize_seconds),
                   share_of_first_run=min(tokenize_seconds) / cold["seconds"]),
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
    parser.add_argument("--prepared", type=Path, default=common.out("prepare", "corpus.csv"))
    parser.add_argument("--nltk-data", type=Path, default=common.out("download", "nltk_data"))
    parser.add_argument("--params", type=Path, default=common.PARAMS)
    parser.add_argument("--limit", type=int, default=0, help="first N texts only (0 = the whole corpus)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each way, the best counts (--quick: 1)")
    parser.add_argument("--child", choices=("naive", "naive-fast", "ours"), help=argparse.SUPPRESS)  # internal: time one way
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    common.add_common_args(parser, "first 300 texts, one run of each way")
    args = parser.parse_args()
    if args.child:
        return child(args)
    args.limit = 300 if args.quick and not args.limit else args.limit
    args.repeat = 1 if args.quick else args.repeat

    torch.set_num_threads(args.threads)
    cfg = load_section(args.params, "preprocess", PreprocessConfig)
    texts = _texts(args.prepared, args.limit)
    device = f"cpu ({cfg.workers} worker processes)"
    corpus = f"first {len(texts)} texts" if args.limit else f"whole corpus ({len(texts)} texts)"
    rows = library_rows(args, texts, cfg, device, corpus)
    rows.append(stage_row(args.prepared, args.params, args.nltk_data, args.limit, device))
    notes = [
        "ratio = naive seconds / our seconds on the same texts (higher is better); target >= 30x with identical lemmas.",
        "ours = `rnnlab.text.preprocessing.preprocess_texts` with the `preprocess` section of params.yaml: the texts split between "
        "worker processes, each tokenizing its share as one NUL-joined string; the distinct tokens of all texts split "
        "between the workers, each lemmatising its part once, in sorted order, with `rnnlab.text.lemmas.Lemmatizer` "
        "(pymorphy3's most probable normal form, without building every analysis) over pymorphy3 with its `fast` extra "
        "(the DAWG C extension); the forms passed to every worker, which joins its texts'. First run: an empty lemma "
        "cache. Rerun: the cache the first run wrote, as the preprocess stage keeps it under $RNNLAB_CACHE_DIR between runs.",
        "naive = tokenize, then `morph.parse(word)[0].normal_form` for every token occurrence (Cyrillic words only, "
        "as ours), one process, no cache, with pymorphy3 as `pip install pymorphy3` installs it "
        "(pure-Python DAWG). The third row gives the same loop the C extension, to show what the extension alone buys.",
    ]
    settings = {"prepared": str(args.prepared), "texts": len(texts), "params": str(args.params), "repeat": args.repeat,
                "preprocess": dataclasses.asdict(cfg)}
    machine = common.machine_info(torch.device("cpu"), args.threads)
    path = common.write_section(args.out, "preprocess", common.section(
        "Preprocessing: preprocess stage vs naive lemmatisation", machine, rows, notes, settings))
    print(f"preprocess: {rows[0]['ratio']:.1f}x naive (first run), {rows[1]['ratio']:.1f}x (rerun), "
          f"identical {rows[3]['details']['identical']}; wrote {path}")


if __name__ == "__main__":
    main()
