"""Peak memory of a stretch of training, and work run in a fresh interpreter so that its memory is its own.

On CUDA the peak is `torch.cuda.max_memory_allocated` since the stretch began (exact: torch's allocator counts
it). On CPU it is the process's peak resident set size during the stretch minus its resident size when the stretch
began: Linux resets the peak (VmHWM) on writing 5 to /proc/self/clear_refs. Memory the allocator kept from earlier
work is reused without raising the resident size, so a CPU measurement is honest only in a process that has done
no such work before it: `in_fresh_process` gives one.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rnnlab.process import die_with_parent, raise_on_signals

MIB = 1 << 20
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{_STATUS} has no {field}")


def resident_bytes() -> int:
    """This process's resident set size now."""
    return _status_kib("VmRSS") * 1024


def reset_peak_resident() -> bool:
    """Make the peak resident size start again from the current one; False where the kernel cannot."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_resident_bytes() -> int:
    """The highest resident set size since the last reset (since the process began, where none was made)."""
    if _STATUS.is_file():
        return _status_kib("VmHWM") * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


class PeakMemory:
    """Measures stretches (`start` ... `stop`): each one's peak, in bytes, appended to `peaks`."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peaks, self._base = device, [], 0
        self.method = ("torch.cuda.max_memory_allocated" if device.type == "cuda" else
                       "peak resident set size minus the resident size before (VmHWM reset), in a fresh process")

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            reset_peak_resident()
            self._base = resident_bytes()

    def stop(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peaks.append(torch.cuda.max_memory_allocated(self.device))
        else:
            self.peaks.append(max(0, peak_resident_bytes() - self._base))


def _child(conn: Any, fn: Callable[..., Any], args: tuple) -> None:
    die_with_parent()
    raise_on_signals()  # SIGTERM unwinds the child too: an MLflow run it holds ends KILLED
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as err:  # noqa: BLE001 (handed to the parent, which raises it)
        conn.send(("error", (err, traceback.format_exc())))


def in_fresh_process(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` in a new interpreter (spawned, not forked: nothing of this process's memory comes along).

    Its exception is raised here; if this process is interrupted, the child is stopped with SIGTERM first.
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(sender, fn, args))
    child.start()
    sender.close()
    try:
        while not receiver.poll(0.5):
            if not child.is_alive() and not receiver.poll(0):
                raise RuntimeError(f"{getattr(fn, '__name__', fn)} died in its process (exit code {child.exitcode})")
        status, value = receiver.recv()
    except BaseException:
        if child.is_alive():
            os.kill(child.pid, signal.SIGTERM)
        child.join()
        raise
    child.join()
    if status == "error":
        err, trace = value
        raise err from RuntimeError(f"in the child process:\n{trace}")
    return value
