"""Stage names_generate: train the language-conditioned surname generator; judge its samples."""

import argparse
import os
from pathlib import Path

import pandas as pd
import torch

from rnnlab.config import flatten, load_section
from rnnlab.data.files import atomic_path, write_json
from rnnlab.process import run_stage
from rnnlab.tasks.names import generate_names, generator_markdown, judge_samples, train_generator
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.loop import set_seed
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--names", type=Path, required=True, help="CSV from names_prepare")
    parser.add_argument("--classifier", type=Path, required=True, help="checkpoint from names_classify")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True, help="markdown with samples")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg, seed = load_section(args.params, "names.generator"), load_section(args.params, "seed")
    torch.set_num_threads(cfg.trainer.num_threads)
    set_seed(seed)
    frame = pd.read_csv(args.names, dtype=str, keep_default_na=False)
    state = StageState(args.state_dir, "names_generate", fingerprint(cfg, seed, files=[args.names, args.classifier]))
    run = state.run()
    with mlflow_run("names-generator", os.environ, stage="names_generate", experiment="rnnlab-names", run_id=run.run_id) as tracker:
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
        write_json(args.run_record, {"stage": "names_generate", "run_id": tracker.run_id, "timings": result.timings})
    state.clear()
    for lang, r in report.items():
        print(f"{lang}: novel {r['novel']:.2f}, accepted {r['accepted']:.2f}: {', '.join(r['samples'][:8])}")


if __name__ == "__main__":
    run_stage(main)
