"""Stage names_prepare: surnames by language, deduplicated and split train/val/test by language."""

import argparse
from pathlib import Path

import pandas as pd

from rnnlab.config import SplitConfig
from rnnlab.data.files import atomic_path, write_json
from rnnlab.data.names import read_names, split_names
from rnnlab.params import NonNegativeInt, load_section
from rnnlab.process import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/chars/params.yaml")
    parser.add_argument("--raw", type=Path, required=True, help="downloaded corpora (holds names/)")
    parser.add_argument("--out", type=Path, required=True, help="CSV: name, language, split")
    parser.add_argument("--stats", type=Path, required=True, help="JSON: rows per language and split")
    args = parser.parse_args()

    cfg = load_section(args.params, "names.split", SplitConfig)
    raw = read_names(args.raw)
    frame = split_names(raw, cfg, load_section(args.params, "seed", NonNegativeInt))
    with atomic_path(args.out) as tmp:
        frame.to_csv(tmp, index=False)
    counts = pd.crosstab(frame["language"], frame["split"])
    write_json(args.stats, {
        "raw_rows": len(raw), "rows": len(frame), "distinct_names": int(frame["name"].nunique()),
        "duplicates_dropped": raw.groupby("language").size().sub(frame.groupby("language").size()).to_dict(),
        "per_language": {lang: {k: int(v) for k, v in row.items()} for lang, row in counts.iterrows()},
    })
    print(f"{len(raw)} lines -> {len(frame)} (name, language) pairs: {frame['split'].value_counts().to_dict()}")


if __name__ == "__main__":
    run_stage(main)
