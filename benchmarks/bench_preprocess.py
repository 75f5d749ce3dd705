"""Preprocessing: the preprocess stage's way against tokenise-then-lemmatise-every-token in one process."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import common  # first: it sets the environment before rnnlab imports tqdm
import pandas as pd
import torch

from rnnlab.config import PreprocessConfig, load_section
from rnnlab.text import lemma, load_stopwords, normal_forms, preprocess_texts, tokenize

TARGET = 30.0


def naive_preprocess(texts: Sequence[str], cfg: PreprocessConfig, stopwords: frozenset[str]) -> list[list[str]]:
    """The baseline: tokenize, then morph.parse(word)[0].normal_form for every token occurrence, one process.

    `lemma` applies the project's rule (Cyrillic words only, other tokens unchanged), so both ways
    must give the same lemmas; it has no cache, so every occurrence is parsed again.
    """
    drop = stopwords if cfg.remove_stopwords else frozenset()
    return [[lemma(t) for t in tokenize(text, cfg) if t not in drop] for text in texts]


def compare(ours: list[list[str]], naive: list[list[str]]) -> tuple[int, list[int]]:
    """Texts compared, and the indices whose token lists differ."""
    return len(ours), [i for i, (a, b) in enumerate(zip(ours, naive, strict=True)) if a != b]


def library_rows(texts: list[str], cfg: PreprocessConfig, stopwords: frozenset[str], device: str,
                 corpus: str) -> list[dict]:
    """Time the library function, its two parts, and the naive baseline on the same texts."""
    with common.stopwatch() as ours_t:
        ours = preprocess_texts(texts, cfg, stopwords)
    with common.stopwatch() as naive_t:
        naive = naive_preprocess(texts, cfg, stopwords)
    with common.stopwatch() as tok_t:
        tokens = [tokenize(text, cfg) for text in texts]
    distinct = sorted({t for doc in tokens for t in doc})
    with common.stopwatch() as forms_t:
        normal_forms(distinct, cfg.normalize, cfg.workers)
    n_tokens = sum(map(len, ours))
    n_texts, differing = compare(ours, naive)
    speed, naive_speed = n_tokens / ours_t["seconds"], n_tokens / naive_t["seconds"]
    ceiling = sum(map(len, tokens)) / max(len(distinct), 1) * cfg.workers
    return [
        common.row(f"preprocess_texts vs naive, {corpus}", "one timed run each, same texts in memory, "
                   "dictionary loading included in both; tokens = tokens out", speed, "tokens/s", device,
                   baseline=naive_speed, ratio=naive_t["seconds"] / ours_t["seconds"], target=TARGET,
                   seconds=ours_t["seconds"], naive_seconds=naive_t["seconds"], texts=n_texts, tokens=n_tokens,
                   distinct_tokens=len(distinct), workers=cfg.workers, normalize=cfg.normalize),
        common.row("identical lemmas", "token lists compared text by text, ours against naive",
                   100.0 * (n_texts - len(differing)) / max(n_texts, 1), "% of texts", device,
                   texts_compared=n_texts, texts_differing=len(differing), identical=not differing),
        common.row("part: tokenize only (normalise + regex), one process", "one timed run", n_tokens / tok_t["seconds"],
                   "tokens/s", "cpu (1 process)", seconds=tok_t["seconds"],
                   share_of_ours=tok_t["seconds"] / ours_t["seconds"]),
        common.row("part: lemmatise each distinct token once (normal_forms)", "one timed run, worker processes as configured",
                   len(distinct) / forms_t["seconds"], "distinct tokens/s", device, seconds=forms_t["seconds"],
                   ceiling_ratio_if_tokenising_were_free=ceiling),
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
        run = common.run_checked(cmd, common.ROOT)
        n_tokens = int(pd.read_csv(tmp_dir / "out.csv", dtype=str, keep_default_na=False)["tokens"].str.split().str.len().sum())
    return common.row("preprocess stage end to end (python stages/preprocess.py)",
                      "one run in a child process: interpreter start, CSV read, preprocess, CSV write; "
                      "peak RSS = summed RSS of the process and its workers, sampled every 50 ms",
                      run.seconds, "s", device, tokens_per_s=n_tokens / run.seconds, peak_rss_mib=run.peak_rss_mib)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepared", type=Path, default=common.ROOT / "data/prepared/corpus.csv")
    parser.add_argument("--nltk-data", type=Path, default=common.ROOT / "data/nltk_data")
    parser.add_argument("--params", type=Path, default=common.ROOT / "params.yaml")
    parser.add_argument("--limit", type=int, default=0, help="first N texts only (0 = the whole corpus)")
    common.add_common_args(parser, "first 300 texts only")
    args = parser.parse_args()
    limit = 300 if args.quick and not args.limit else args.limit

    torch.set_num_threads(args.threads)
    cfg = load_section(args.params, "preprocess")
    frame = pd.read_csv(args.prepared, dtype=str, keep_default_na=False)
    texts = frame["text"].tolist()[: limit or None]
    device = f"cpu ({cfg.workers} worker processes)"
    corpus = f"first {len(texts)} texts" if limit else f"whole corpus ({len(texts)} texts)"
    rows = library_rows(texts, cfg, load_stopwords(args.nltk_data, cfg.keep_negations), device, corpus)
    rows.append(stage_row(args.prepared, args.params, args.nltk_data, limit, device))
    notes = [
        "ratio = naive seconds / our seconds on the same texts (higher is better); target >= 30x with identical lemmas.",
        "ours = `rnnlab.text.preprocess_texts` with the `preprocess` section of params.yaml: tokenize every text, "
        "then lemmatise each distinct token once, in worker processes when there are >= 20,000 distinct tokens.",
        "naive = tokenize, then `morph.parse(word)[0].normal_form` for every token occurrence (via `rnnlab.text.lemma`, "
        "so Cyrillic words only, as ours), one process, no cache.",
        "the ceiling row: with tokenising free, ours could beat naive by at most (tokens / distinct tokens) x workers.",
    ]
    settings = {"prepared": str(args.prepared), "texts": len(texts), "params": str(args.params),
                "preprocess": dataclasses.asdict(cfg)}
    machine = common.machine_info(torch.device("cpu"), args.threads)
    path = common.write_section(args.out, "preprocess", common.section(
        "Preprocessing: preprocess stage vs naive lemmatisation", machine, rows, notes, settings))
    print(f"preprocess: {rows[0]['ratio']:.1f}x naive, identical {rows[1]['details']['identical']}; wrote {path}")


if __name__ == "__main__":
    main()
