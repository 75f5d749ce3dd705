"""Stage download_imdb: fetch the corpora `download_imdb` lists (IMDB's reviews; mirror first), each file checked by
sha256. stages/fetch.py's work, for a section that rnnlab.data.imdb registers and fetch.py does not import."""

import argparse
import os
from pathlib import Path

from rnnlab.config import load_section
from rnnlab.data.corpora import get_corpus
from rnnlab.data.download import fetch_corpus
from rnnlab.data.imdb import FILES  # noqa: F401  (registers the download_imdb section)
from rnnlab.process import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", type=Path, required=True, help="folder receiving <corpus>/<file>")
    args = parser.parse_args()

    cfg = load_section(args.params, "download_imdb")
    mirror = os.environ.get("RNNLAB_MIRROR")
    for name in cfg.corpora:
        paths = fetch_corpus(get_corpus(name), args.out, mirror)
        print(f"{name}: {len(paths)} files verified")


if __name__ == "__main__":
    run_stage(main)
