"""The team's DVC remote: restore what it holds before `dvc repro`, publish outputs and run-cache after.

The remote is DVC's own setting: `make remote URL=...` makes it the default remote in `.dvc/config`
(committed, so every clone has it); credentials go to `.dvc/config.local` or the environment, never
to git. Without a remote, nothing here does anything and `dvc repro` trains everything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


class RemoteError(RuntimeError):
    """The remote could not be reached or read; the message names it."""


def _dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True)


def default_remote(cwd: Path = Path()) -> tuple[str, str] | None:
    """(name, URL) of the repository's default DVC remote, or None without one."""
    done = _dvc("remote", "default", cwd=cwd)
    name = done.stdout.strip()
    if done.returncode or not name:
        return None
    urls = dict(line.split(None, 1) for line in _dvc("remote", "list", cwd=cwd).stdout.splitlines() if line.strip())
    return name, urls.get(name, "?").split()[0]


def _failure(remote: tuple[str, str], done: subprocess.CompletedProcess, action: str) -> str:
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    reason = next((line for line in reversed(lines) if line.startswith("ERROR")), lines[-1] if lines else "")
    return f"DVC remote '{remote[0]}' ({remote[1]}): {action} failed: {reason.removeprefix('ERROR: ')}"


def restore(on_error: str, cwd: Path = Path()) -> str:
    """Pull the outputs and run-cache the remote holds; a report line. `on_error`: 'fail' raises, 'warn' reports."""
    remote = default_remote(cwd)
    if remote is None:
        return "no DVC remote configured (`make remote URL=...`): dvc repro trains what it needs locally"
    done = _dvc("pull", "--run-cache", "--allow-missing", cwd=cwd)
    if done.returncode == 0:
        summary = (done.stdout.strip().splitlines() or ["nothing to fetch"])[-1]
        return f"restored from DVC remote '{remote[0]}' ({remote[1]}): {summary}"
    message = _failure(remote, done, "pull")
    if on_error == "warn":
        print(f"warning: {message}; training locally instead", file=sys.stderr)
        return "nothing restored"
    raise RemoteError(f"{message} (REMOTE_ERROR=warn trains locally instead)")


def push(cwd: Path = Path()) -> str:
    """Publish the workspace's outputs and the run-cache to the default remote."""
    remote = default_remote(cwd)
    if remote is None:
        raise RemoteError("no DVC remote configured: `make remote URL=...` sets the team's remote")
    done = _dvc("push", "--run-cache", cwd=cwd)
    if done.returncode:
        raise RemoteError(_failure(remote, done, "push"))
    return f"pushed to DVC remote '{remote[0]}' ({remote[1]}): {done.stdout.strip()}"
