"""Stage names_generate: train the language-conditioned surname generator; judge its samples."""

import argparse
from pathlib import Path

import pandas as pd
import torch

from rnnlab.data.files import atomic_path, write_json
from rnnlab.params import NonNegativeInt, flatten, load_section
from rnnlab.process import run_stage
from rnnlab.studies.chars.names import (
    GeneratorConfig,
    generate_names,
    generator_markdown,
    judge_samples,
    train_generator,
)
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.loop import set_seed
from rnnlab.training.resume import fingerprint
from rnnlab.training.stage import tracked_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/chars/params.yaml")
    parser.add_argument("--names", type=Path, required=True, help="CSV from names_prepare")
    parser.add_argument("--classifier", type=Path, required=True, help="checkpoint from names_classify")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True, help="markdown with samples")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg = load_section(args.params, "names.generator", GeneratorConfig)
    seed = load_section(args.params, "seed", NonNegativeInt)
    torch.set_num_threads(cfg.trainer.num_threads)
    set_seed(seed)
    frame = pd.read_csv(args.names, dtype=str, keep_default_na=False)
    inputs = fingerprint(cfg, seed, files=[args.names, args.classifier])
    with tracked_stage(args.state_dir, "names_generate", inputs, args.run_record, "names-generator",
                       experiment="rnnlab-names") as current:
        run, tracker = current.run, current.tracker
        tracker.log_params({"seed": seed, **flatten(cfg)})
        ckpt, result = train_generator(frame, cfg, tracker, seed, run)
        save_checkpoint(args.checkpoint, ckpt)
        samples = {lang: generate_names(ckpt, lang, cfg.samples, cfg.temperature, seed) for lang in cfg.languages}
        known = set(frame.loc[frame["split"] == "train", "name"])
        report = judge_samples(samples, known, load_checkpoint(args.classifier, kind="classifier"))
        tracker.log_metrics({f"{lang}_{k}": r[k] for lang, r in report.items() for k in ("novel", "accepted")})
        shares = {lang: {k: r[k] for k in ("novel", "accepted")} for lang, r in report.items()}
        write_json(args.metrics, {"best_step": result.best_position, "val_loss": result.best["val_loss"], **shares})
        with atomic_path(args.report) as tmp:
            tmp.write_text(generator_markdown(report, cfg.temperature), encoding="utf-8")
        tracker.log_artifact(args.report, "report")
        current.record["timings"] = result.timings
    for lang, r in report.items():
        print(f"{lang}: novel {r['novel']:.2f}, accepted {r['accepted']:.2f}: {', '.join(r['samples'][:8])}")


if __name__ == "__main__":
    run_stage(main)
