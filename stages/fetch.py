"""Stages download_chars and download_lm: fetch the corpora a params section lists (mirror first), each file
checked by sha256."""

import argparse
import os
from pathlib import Path

from rnnlab.config import DownloadConfig
from rnnlab.data.corpora import get_corpus
from rnnlab.data.download import fetch_corpus
from rnnlab.params import load_section
from rnnlab.process import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--section", required=True, help="the params section listing the corpora")
    parser.add_argument("--out", type=Path, required=True, help="folder receiving <corpus>/<file>")
    args = parser.parse_args()

    cfg = load_section(args.params, args.section, DownloadConfig)
    mirror = os.environ.get("RNNLAB_MIRROR")
    for name in cfg.corpora:
        paths = fetch_corpus(get_corpus(name), args.out, mirror)
        print(f"{name}: {len(paths)} files verified")


if __name__ == "__main__":
    run_stage(main)
