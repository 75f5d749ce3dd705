"""Stage charlm_sample: write a text sample with the trained character language model."""

import argparse
from pathlib import Path

from rnnlab.charlm import SampleConfig, load_checkpoint, sample_text
from rnnlab.config import load_section, load_seed
from rnnlab.files import atomic_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--checkpoint", type=Path, required=True, help="from charlm_train")
    parser.add_argument("--out", type=Path, required=True, help="the sample, plain text")
    args = parser.parse_args()

    cfg, seed = load_section(args.params, "charlm.sample", SampleConfig), load_seed(args.params)
    ckpt = load_checkpoint(args.checkpoint)
    text = sample_text(ckpt, cfg.prime, cfg.length, cfg.temperature, cfg.top_k, seed)
    header = (f"# corpus {ckpt.meta['corpus']}, step {ckpt.meta['best_step']}, temperature {cfg.temperature}, "
              f"top-k {cfg.top_k}, seed {seed}\n")
    with atomic_path(args.out) as tmp:
        tmp.write_text(header + text, encoding="utf-8")
    print(header + text)


if __name__ == "__main__":
    main()
