"""Stage featurize: vocabulary JSON from the training split, and tensors with true lengths."""

import argparse
from pathlib import Path

import pandas as pd

from rnnlab.config import FeaturizeConfig
from rnnlab.params import load_section
from rnnlab.process import run_stage
from rnnlab.text.features import featurize, save_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--preprocessed", type=Path, required=True)
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--tensors", type=Path, required=True)
    args = parser.parse_args()

    cfg = load_section(args.params, "featurize", FeaturizeConfig)
    frame = pd.read_csv(args.preprocessed, dtype=str, keep_default_na=False)
    vocab, splits, classes = featurize(frame, cfg)
    vocab.save(args.vocab)
    save_features(args.tensors, splits, classes)
    train = splits["train"]
    unk = float((train.tokens == 1).sum() / train.lengths.sum())
    print(f"vocabulary {len(vocab)}, classes {classes}, train <unk> share {unk:.3f}")


if __name__ == "__main__":
    run_stage(main)
