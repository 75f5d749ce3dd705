"""The skeleton a training stage shares: its resumable state, its MLflow run(s) and its run record.

`tracked_stage` is a stage with one training run; `every_seed` (`rnnlab.studies.shared`) is one run per seed.
Either way the run record (MLflow run ids, timings: what differs from run to run, so not a DVC output) is written
when the body finishes, and only then is the resumable state cleared: a stage killed half-way resumes, one that
failed leaves no record a reader would trust.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.data.files import write_json
from rnnlab.training.resume import RunState, StageState
from rnnlab.training.tracking import EXPERIMENT, Tracker, mlflow_run


@dataclass
class StageRun:
    """What a stage's body works with: its state, its one training run's state, its MLflow run, and the run
    record's contents beside the stage and run id (`timings`, ...), which the body fills."""

    state: StageState
    run: RunState
    tracker: Tracker
    record: dict[str, Any] = field(default_factory=dict)


@contextmanager
def tracked_stage(state_dir: Path, stage: str, fingerprint: str, run_record: Path, run_name: str,
                  experiment: str = EXPERIMENT, env: Mapping[str, str] = os.environ) -> Iterator[StageRun]:
    """Open stage `stage`'s state under `state_dir` (resuming what a killed attempt left with the same
    `fingerprint`) and its MLflow run `run_name`; when the body returns, write `run_record` and clear the state."""
    state = StageState(state_dir, stage, fingerprint)
    run = state.run()
    with mlflow_run(run_name, env, stage=stage, experiment=experiment, run_id=run.run_id) as tracker:
        current = StageRun(state, run, tracker)
        yield current
        write_json(run_record, {"stage": stage, "run_id": tracker.run_id, **current.record})
    state.clear()
