"""Stage imdb_length: the LSTM classifier on IMDB's reviews cut to a few lengths and read whole (bucketed, packed),
each setting in a fresh process: test accuracy and macro-F1 and tokens per epoch (DVC's), epoch time and peak memory
(the run record's, reports/runs/imdb_length.json and .md: measured, not reproduced)."""

import argparse
from pathlib import Path

from rnnlab.data.files import atomic_path, write_json
from rnnlab.data.imdb import FILES, read_imdb, sample_imdb
from rnnlab.params import NonNegativeInt, load_section
from rnnlab.process import run_stage
from rnnlab.studies.imdb.length import (
    LengthStudyConfig,
    cost_report,
    length_report,
    plot_length,
    run_study,
)
from rnnlab.training.resume import StageState, fingerprint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/imdb/params.yaml")
    parser.add_argument("--raw", type=Path, required=True, help="downloaded corpora, <corpus>/<file>")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True, help="Markdown: the settings in one table")
    parser.add_argument("--plot", type=Path, required=True, help="PNG: scores and tokens per epoch per setting")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: each setting's MLflow run, epoch time and "
                        "peak memory (and a Markdown table of them beside it, .md)")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg = load_section(args.params, "imdb_length", LengthStudyConfig)
    seed = load_section(args.params, "seed", NonNegativeInt)
    frame = sample_imdb(read_imdb(args.raw), cfg.train_reviews, cfg.test_reviews, cfg.val_size, seed)
    files = [args.raw / name for name in FILES.values()]
    state = StageState(args.state_dir, "imdb_length", fingerprint(cfg, seed, files=files))
    metrics, costs = run_study(frame, cfg, seed, state, "imdb_length")
    write_json(args.metrics, metrics)
    with atomic_path(args.report) as tmp:
        tmp.write_text(length_report(metrics, cfg), encoding="utf-8")
    plot_length(metrics, args.plot)
    write_json(args.run_record, {"stage": "imdb_length", **costs})
    with atomic_path(args.run_record.with_suffix(".md")) as tmp:
        tmp.write_text(cost_report(metrics, costs), encoding="utf-8")
    state.clear()


if __name__ == "__main__":
    run_stage(main)
