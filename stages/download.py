"""Stage download: fetch the configured corpora (mirror first) and unpack NLTK stopwords."""

import argparse
import os
from pathlib import Path

from rnnlab.config import DownloadConfig
from rnnlab.data.corpora import get_corpus
from rnnlab.data.download import fetch_corpus, unpack_nltk_stopwords
from rnnlab.params import load_section
from rnnlab.process import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", type=Path, required=True, help="raw corpora folder")
    parser.add_argument("--nltk-data", type=Path, required=True, help="NLTK data folder to create")
    args = parser.parse_args()

    cfg = load_section(args.params, "download", DownloadConfig)
    mirror = os.environ.get("RNNLAB_MIRROR")
    for name in cfg.corpora:
        paths = fetch_corpus(get_corpus(name), args.out, mirror)
        print(f"{name}: {len(paths)} files verified")
    unpack_nltk_stopwords(args.out / "nltk_stopwords" / "stopwords.zip", args.nltk_data)


if __name__ == "__main__":
    run_stage(main)
