"""Stage prepare: raw corpus -> one (text, label, split) CSV and its counts per split and label."""

import argparse
from pathlib import Path

from rnnlab.config import PrepareConfig
from rnnlab.data.datasets import prepare, split_stats
from rnnlab.data.files import atomic_path, write_json
from rnnlab.params import NonNegativeInt, load_section
from rnnlab.process import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="prepared CSV")
    parser.add_argument("--stats", type=Path, required=True, help="counts JSON")
    args = parser.parse_args()

    cfg = load_section(args.params, "prepare", PrepareConfig)
    frame = prepare(args.raw, cfg, load_section(args.params, "seed", NonNegativeInt))
    with atomic_path(args.out) as tmp:
        frame.to_csv(tmp, index=False)
    stats = split_stats(frame)
    write_json(args.stats, stats)
    print({split: sum(counts.values()) for split, counts in stats.items()})


if __name__ == "__main__":
    run_stage(main)
