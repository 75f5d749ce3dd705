"""Stage probe: how long a sequence each recurrent cell can read and still name its first digit."""

import argparse
import contextlib
import os
from pathlib import Path

import torch

from rnnlab.data.files import atomic_path, write_json
from rnnlab.params import NonNegativeInt, load_section
from rnnlab.process import run_stage
from rnnlab.studies.chars.probe import ProbeConfig, plot_probe, probe_table, run_probe
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/chars/params.yaml")
    parser.add_argument("--metrics", type=Path, required=True, help="JSON: accuracy by cell and length")
    parser.add_argument("--table", type=Path, required=True, help="markdown")
    parser.add_argument("--plot", type=Path, required=True, help="PNG")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg, seed = load_section(args.params, "probe", ProbeConfig), load_section(args.params, "seed", NonNegativeInt)
    torch.set_num_threads(cfg.trainer.num_threads)

    def open_run(name: str, run_id: str | None) -> contextlib.AbstractContextManager:
        return mlflow_run(name, os.environ, stage="probe", experiment="rnnlab-memory", run_id=run_id)

    state = StageState(args.state_dir, "probe", fingerprint(cfg, seed))
    results = run_probe(cfg, open_run, seed, state)
    write_json(args.metrics, results)
    with atomic_path(args.table) as tmp:
        tmp.write_text(probe_table(results, cfg.train_length), encoding="utf-8")
    plot_probe(results, cfg.train_length, args.plot)
    state.clear()
    print(probe_table(results, cfg.train_length))


if __name__ == "__main__":
    run_stage(main)
