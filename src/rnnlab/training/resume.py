"""Resumable training state, kept outside DVC's outputs so that a killed stage continues where it stopped.

`dvc repro` deletes a stage's outputs before running it, so the state lives in a folder of its own
(`--state-dir` in dvc.yaml, `.rnnlab/state` by default, ignored by git): one folder per stage, one
file per training run in it (a stage may train several: the zoo's seeds, the probe's cells). The
loop saves a run's file after every round (an epoch, or `eval_every` steps of a language model);
a finished run's file keeps just its results, until the whole stage is done and `StageState.clear`
removes the folder. Every file records a fingerprint of what produced it (params, inputs, rnnlab's
code): a file with another fingerprint is discarded and the run starts fresh.

A stage holds an exclusive lock on its folder while it runs, so that a second `dvc repro` (or a
trainer left over from a killed one) cannot train the same stage at the same time.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import io
import json
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from rnnlab import UserError
from rnnlab.data.files import atomic_path, sha256_file

FORMAT = "rnnlab-training-state"
PACKAGE = Path(__file__).resolve().parents[1]  # src/rnnlab


class StageBusy(UserError, RuntimeError):
    """Another process is training this stage."""


def fingerprint(*parts: Any, files: Iterable[str | Path] = ()) -> str:
    """sha256 over JSON of `parts` (dataclasses as dicts), the inputs' contents and rnnlab's source code."""
    digest = hashlib.sha256()
    plain = [dataclasses.asdict(p) if dataclasses.is_dataclass(p) else p for p in parts]
    digest.update(json.dumps(plain, sort_keys=True, default=str).encode())
    for path in files:
        digest.update(sha256_file(path).encode())
    sources = sorted(PACKAGE.rglob("*.py"))
    if Path(sys.argv[0]).suffix == ".py" and Path(sys.argv[0]).is_file():
        sources.append(Path(sys.argv[0]))  # the stage script
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()


class RunState:
    """The saved state of one training run: `saved` is what to resume from (None: start fresh)."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path, self.fingerprint = path, fingerprint
        self.saved: dict[str, Any] | None = self._load()

    @property
    def run_id(self) -> str | None:
        """The MLflow run to continue."""
        return None if self.saved is None else self.saved.get("run_id")

    @property
    def result(self) -> dict[str, Any] | None:
        """The results of a run that finished in an earlier, interrupted attempt at the stage."""
        return None if self.saved is None else self.saved.get("result")

    def save(self, state: dict[str, Any]) -> None:
        """Write `state` (tensors, numbers, strings, lists and dicts of them) atomically."""
        buffer = io.BytesIO()
        torch.save({"format": FORMAT, "fingerprint": self.fingerprint, **state}, buffer)
        with atomic_path(self.path) as tmp:
            tmp.write_bytes(buffer.getvalue())

    def finish(self, run_id: str, result: dict[str, Any]) -> None:
        """Replace the training state with the run's results (JSON-like), kept until the stage is done."""
        self.save({"run_id": run_id, "result": result})
        self.saved = {"run_id": run_id, "result": result}

    def _load(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 (a torn or foreign file fails in many ways; all mean start fresh)
            return self._discard(f"unreadable ({type(err).__name__}: {err})")
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            return self._discard("not a training state")
        if saved.get("fingerprint") != self.fingerprint:
            return self._discard("saved under other params, inputs or code")
        return saved

    def _discard(self, why: str) -> None:
        print(f"discarding the saved training state {self.path}: {why}; starting fresh", file=sys.stderr)
        self.path.unlink()
        return None


class StageState:
    """A stage's folder of run states, locked while the stage runs."""

    def __init__(self, folder: str | Path, stage: str, fingerprint: str) -> None:
        self.folder, self.fingerprint = Path(folder) / stage, fingerprint
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = (self.folder / "lock").open("a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            raise StageBusy(f"stage {stage} is being trained by another process (pid {self._lock.read().strip()}); "
                            f"wait for it or stop it") from None
        self._lock.truncate(0)
        self._lock.write(str(os.getpid()))
        self._lock.flush()

    def run(self, name: str = "run", fingerprint: str | None = None) -> RunState:
        """The state of training run `name` of this stage (under the stage's fingerprint unless given its own)."""
        return RunState(self.folder / f"{name}.pt", fingerprint or self.fingerprint)

    def clear(self) -> None:
        """The stage is done: remove its states (and lock)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self._lock.close()
