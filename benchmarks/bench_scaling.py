"""Scaling: time and peak memory of the preprocess, featurize and train stages as the corpus grows.

Each stage runs as `dvc repro` runs it (a child process on a params file written here), on
RuSentiment repeated 1x, 2x, 4x, 8x, and on the 50,000 IMDB reviews read as a local CSV corpus.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import common  # first: it sets the environment before rnnlab imports tqdm
import pandas as pd
import psutil
import torch
import yaml

from rnnlab.data.files import read_json

STEPS = ("prepare", "preprocess", "featurize", "train")
TOKENS_RE = re.compile(r"(\d+) texts, (\d+) tokens in ([\d.]+) s")  # what stages/preprocess.py prints


def write_params(base: Path, dest: Path, args: argparse.Namespace, overrides: dict[str, Any]) -> Path:
    """The repository's params with a one-epoch small model `scale` and the given dotted overrides."""
    params = yaml.safe_load(base.read_text(encoding="utf-8"))
    params["trainer"].update(epochs=args.train_epochs, num_threads=args.threads, patience=args.train_epochs)
    zoo = yaml.safe_load(common.STUDY_PARAMS["zoo"].read_text(encoding="utf-8"))["zoo"]
    params["train"] = {"scale": {**zoo["base"], "cell": "lstm", "embedding_dim": args.embedding_dim,
                                 "hidden_size": args.hidden_size, "bidirectional": False, "pooling": "max"}}
    for key, value in overrides.items():
        *parents, last = key.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[last] = value
    dest.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return dest


def stage_commands(work: Path, params: Path, nltk_data: Path) -> dict[str, list[str]]:
    """The stages' command lines (as in dvc.yaml), on this point's files."""
    py, p, stages = sys.executable, ["--params", str(params)], common.ROOT / "stages"
    return {
        "prepare": [py, str(stages / "prepare.py"), *p, "--raw", str(work), "--out", str(work / "prepared.csv"),
                    "--stats", str(work / "prepare.json")],
        "preprocess": [py, str(stages / "preprocess.py"), *p, "--prepared", str(work / "prepared.csv"), "--nltk-data",
                       str(nltk_data), "--out", str(work / "preprocessed.csv")],
        "featurize": [py, str(stages / "featurize.py"), *p, "--preprocessed", str(work / "preprocessed.csv"),
                      "--vocab", str(work / "vocab.json"), "--tensors", str(work / "tensors.pt")],
        "train": [py, str(stages / "train.py"), *p, "--name", "scale", "--vocab", str(work / "vocab.json"), "--tensors",
                  str(work / "tensors.pt"), "--nltk-data", str(nltk_data), "--checkpoint", str(work / "scale.pt"),
                  "--run-record", str(work / "run.json"), "--state-dir", str(work / "state")],
    }


def run_point(work: Path, params: Path, steps: tuple[str, ...], args: argparse.Namespace) -> dict[str, dict]:
    """Run the stages in order; per stage: seconds, peak RSS, and what the stage reports about its size."""
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{work.parent / 'mlflow.db'}")
    commands, out = stage_commands(work, params, args.nltk_data.resolve()), {}
    for step in steps:
        run = common.run_checked(commands[step], work, env)  # MLflow's ./mlruns lands in the point's folder
        out[step] = {"seconds": run.seconds, "peak_rss_mib": run.peak_rss_mib}
        if step == "preprocess" and (match := TOKENS_RE.search(run.output)):
            out[step].update(texts=int(match[1]), tokens=int(match[2]), own_timing_s=float(match[3]))
        if step == "train":
            timings = read_json(work / "run.json")["timings"]
            out[step]["epoch_s"] = common.median([t["seconds"] for t in timings])
    return out


def rusentiment_point(frame: pd.DataFrame, factor: int, root: Path, args: argparse.Namespace) -> dict[str, dict]:
    """The prepared corpus repeated `factor` times (prepare would drop the repeats, so it is skipped)."""
    work = root / f"rusentiment_x{factor}"
    work.mkdir()
    pd.concat([frame] * factor, ignore_index=True).to_csv(work / "prepared.csv", index=False)
    params = write_params(args.params, work / "params.yaml", args, {})
    return run_point(work, params, STEPS[1:], args)


def write_imdb_csv(folder: Path, rows: int, dest: Path) -> Path:
    """imdb_train.csv.gz and imdb_test.csv.gz as one text,label,split CSV, one file in memory at a time."""
    for i, split in enumerate(("train", "test")):
        part = pd.read_csv(folder / f"imdb_{split}.csv.gz", dtype=str, keep_default_na=False)
        part = part.head(rows // 2) if rows else part
        part[["text", "label"]].assign(split=split).to_csv(dest, mode="a" if i else "w", header=not i, index=False)
    return dest


def imdb_point(root: Path, args: argparse.Namespace) -> dict[str, dict]:
    """Both IMDB files as one local CSV with a split column, through prepare like any local corpus."""
    work = root / "imdb"
    work.mkdir()
    csv = write_imdb_csv(args.imdb, args.imdb_rows, work / "imdb.csv")
    overrides = {"prepare.corpus": "local_csv", "prepare.label_map": {"pos": "positive", "neg": "negative"},
                 "prepare.local_csv": {"path": str(csv), "text_column": "text", "label_column": "label",
                                       "split_column": "split", "test_size": 0.2, "encoding": "utf-8"},
                 "prepare.max_rows_per_split": 0, "featurize.max_len": args.imdb_max_len}
    params = write_params(args.params, work / "params.yaml", args, overrides)
    return run_point(work, params, STEPS, args)


def exponent(t1: float, tk: float, k: float) -> float:
    """b in time ~ size^b between two sizes (1 = linear)."""
    return math.log(tk / t1) / math.log(k) if k != 1 and t1 > 0 and tk > 0 else float("nan")


def growth_rows(points: dict[int, dict[str, dict]], device: str) -> list[dict]:
    """One row per (stage, factor): time against factor x the 1x time."""
    rows, first = [], min(points)
    for step in STEPS[1:]:
        base = points[first][step]
        for factor, point in points.items():
            m, k = point[step], factor / first
            seconds = m.get("epoch_s", m["seconds"])  # train: the epoch itself, without interpreter and MLflow start
            base_s = base.get("epoch_s", base["seconds"])
            how = ("one epoch, fit's own timing (median if several)" if step == "train" else "stage wall time, child process")
            rows.append(common.row(f"{step}: RuSentiment x{factor}", how + "; peak RSS of the process tree every 50 ms",
                                   seconds, "s", device, baseline=base_s * k, ratio=base_s * k / seconds,
                                   growth_exponent=exponent(base_s, seconds, k), stage_wall_s=m["seconds"],
                                   **_own(m, base, k), peak_rss_mib=m["peak_rss_mib"], **_size(point)))
    return rows


def _own(m: dict, base: dict, k: float) -> dict[str, Any]:
    """preprocess's own timing (no interpreter start or CSV I/O) and its growth exponent."""
    if "own_timing_s" not in m:
        return {}
    return {"preprocess_texts_s": m["own_timing_s"],
            "its_growth_exponent": exponent(base["own_timing_s"], m["own_timing_s"], k)}


def _size(point: dict[str, dict]) -> dict[str, Any]:
    pre = point.get("preprocess", {})
    return {k: pre[k] for k in ("texts", "tokens") if k in pre}


def memory_rows(points: dict[int, dict[str, dict]], device: str) -> list[dict]:
    """Peak RSS against texts, fitted by a line, extrapolated to the machine's RAM."""
    ram = psutil.virtual_memory().total / common.MIB
    rows = []
    for step in STEPS[1:]:
        xs = [p["preprocess"].get("texts", 0) for p in points.values()]
        ys = [p[step]["peak_rss_mib"] for p in points.values()]
        slope, intercept = _line(xs, ys)
        runs_out = (ram - intercept) / slope if slope > 0 else None
        per_1x = xs[0] / min(points) if xs[0] else None
        rows.append(common.row(f"{step}: texts at which peak RSS reaches the machine's RAM ({ram / 1024:.1f} GiB)",
                               "least-squares line through the RuSentiment points, extrapolated", runs_out, "texts",
                               device, note="" if runs_out else "no growth: peak RSS did not rise with the texts",
                               mib_per_1000_texts=slope * 1000, intercept_mib=intercept,
                               rusentiment_multiples=runs_out / per_1x if runs_out and per_1x else None))
    return rows


def _line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    n, mx, my = len(xs), sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if n > 1 and var else 0.0
    return slope, my - slope * mx


def imdb_rows(point: dict[str, dict], rusentiment_1x: dict[str, dict], args: argparse.Namespace, device: str) -> list[dict]:
    """IMDB per stage, with time per token against RuSentiment 1x's (ratio > 1: cheaper per token than RuSentiment)."""
    rows, tokens, base_tokens = [], point["preprocess"].get("tokens"), rusentiment_1x["preprocess"].get("tokens")
    ram = psutil.virtual_memory().total / common.MIB
    for step in STEPS:
        m = point[step]
        seconds = m.get("epoch_s", m["seconds"])
        per_token = seconds / tokens * 1e6 if tokens else None
        base = rusentiment_1x.get(step)
        base_per_token = base.get("epoch_s", base["seconds"]) / base_tokens * 1e6 if base and base_tokens else None
        rows.append(common.row(f"{step}: IMDB {args.imdb_rows or 50_000} reviews (local CSV, max_len {args.imdb_max_len})",
                               "as the RuSentiment rows; baseline and ratio per million tokens against RuSentiment x1",
                               seconds, "s", device, baseline=None, ratio=base_per_token / per_token if per_token and base_per_token else None,
                               s_per_million_tokens=per_token, stage_wall_s=m["seconds"], peak_rss_mib=m["peak_rss_mib"],
                               texts_at_ram_if_proportional=ram / m["peak_rss_mib"] * point["preprocess"].get("texts", 0),
                               **_size(point)))
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepared", type=Path, default=common.out("prepare", "corpus.csv"))
    parser.add_argument("--nltk-data", type=Path, default=common.out("download", "nltk_data"))
    parser.add_argument("--params", type=Path, default=common.PARAMS)
    parser.add_argument("--imdb", type=Path, help="folder with imdb_train.csv.gz and imdb_test.csv.gz (the mirror's imdb/)")
    parser.add_argument("--imdb-rows", type=int, default=0, help="reviews to use, half from each file (0 = all 50,000)")
    parser.add_argument("--imdb-max-len", type=int, default=400)
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--limit", type=int, default=0, help="first N prepared texts as the 1x corpus (0 = all)")
    parser.add_argument("--train-epochs", type=int, default=1)
    parser.add_argument("--embedding-dim", type=int, default=16)
    parser.add_argument("--hidden-size", type=int, default=16)
    common.add_common_args(parser, "factors 1 2, first 300 texts, 200 IMDB reviews")
    args = parser.parse_args()
    if args.quick:
        args.factors, args.limit, args.imdb_rows = [1, 2], args.limit or 300, args.imdb_rows or 200
    return args


def main() -> None:
    args = parse_args()
    frame = pd.read_csv(args.prepared, dtype=str, keep_default_na=False)
    frame = frame.head(args.limit) if args.limit else frame
    device = common.device_label(torch.device("cpu"), args.threads)
    with tempfile.TemporaryDirectory(prefix="rnnlab-scaling-") as tmp:
        points = {k: rusentiment_point(frame, k, Path(tmp), args) for k in sorted(args.factors)}
        imdb = imdb_point(Path(tmp), args) if args.imdb else None
    rows = growth_rows(points, device) + memory_rows(points, device)
    if imdb:
        rows += imdb_rows(imdb, points[min(points)], args, device)
    else:
        rows.append(common.unavailable_row("IMDB 50k reviews", "needs --imdb", "s", device, "skipped: no --imdb folder given"))
    notes = [
        "ratio (RuSentiment rows) = factor x the 1x time / this time: 1 = linear growth, > 1 = slower than linear; "
        "growth exponent b in time ~ size^b says the same.",
        "repeating RuSentiment adds no new words, so lemmatisation (once per distinct token) costs the same at every "
        "factor and preprocess grows less than linearly; tokenising, featurize and training are per text.",
        "IMDB is English: only Cyrillic words are lemmatised, so its preprocess is tokenisation alone.",
        f"train = stages/train.py on a params file with one model ({args.embedding_dim}-dim embedding, {args.hidden_size} "
        f"hidden units, LSTM, {args.train_epochs} epoch(s), {args.threads} thread(s)), MLflow on a throw-away sqlite store.",
        "peak RSS is what a stage holds at once: each stage reads its input file once.",
    ]
    machine = common.machine_info(torch.device("cpu"), args.threads)
    path = common.write_section(args.out, "scaling", common.section(
        "Scaling: time and peak memory as the corpus grows", machine, rows, notes, vars(args)))
    print(f"scaling: wrote {path}")


if __name__ == "__main__":
    main()
