"""Stage charlm_sample: write a text sample with the trained character language model."""

import argparse
from pathlib import Path

from rnnlab.data.files import atomic_path
from rnnlab.params import NonNegativeInt, load_section
from rnnlab.process import run_stage
from rnnlab.studies.chars.charlm import SampleConfig, sample_text
from rnnlab.training.checkpoint import load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/chars/params.yaml")
    parser.add_argument("--checkpoint", type=Path, required=True, help="from charlm_train")
    parser.add_argument("--out", type=Path, required=True, help="the sample, plain text")
    args = parser.parse_args()

    cfg = load_section(args.params, "charlm.sample", SampleConfig)
    seed = load_section(args.params, "seed", NonNegativeInt)
    ckpt = load_checkpoint(args.checkpoint, kind="char_lm")
    text = sample_text(ckpt, cfg.prime, cfg.length, cfg.temperature, cfg.top_k, seed)
    header = (f"# corpus {ckpt.meta['corpus']}, step {ckpt.meta['best_step']}, temperature {cfg.temperature}, "
              f"top-k {cfg.top_k}, seed {seed}\n")
    with atomic_path(args.out) as tmp:
        tmp.write_text(header + text, encoding="utf-8")
    print(header + text)


if __name__ == "__main__":
    run_stage(main)
