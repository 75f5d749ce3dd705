"""How a stage process lives and dies: with its parent, by signals that end runs KILLED, never as an orphan.

`run_stage(main)` is every stage's entry point. It ties the process to its parent (`dvc repro`, or
the shell that started it), so that `kill -9` of `dvc repro` takes the trainer with it; turns SIGTERM
into `Terminated` (a KeyboardInterrupt, as SIGINT already is), so that `with` blocks unwind, MLflow
runs end KILLED and the process still exits by that signal; and reports a diverged training as
one line naming the stage.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rnnlab import UserError

PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; raised in the main thread as SIGINT's KeyboardInterrupt is."""


class TrainingDiverged(UserError, RuntimeError):
    """A loss or gradient stopped being finite."""


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> None:
    """Ask the kernel to send `sig` to this process when its parent exits (Linux; a no-op elsewhere).

    With `parent` (the PID that started us), a parent that died before we asked counts as well. A parent
    that is a `sh -c` wrapper (DVC runs a stage through $SHELL, and dash does not exec the command)
    would outlive a `kill -9` of the process above it, so that process is watched as well.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
    above = os.getppid()
    while _is_shell_wrapper(above):
        above = _parent_of(above)
    if above not in (os.getppid(), 0, 1):
        _signal_self_when_gone(above, sig)


def _is_shell_wrapper(pid: int) -> bool:
    """Whether `pid` runs a shell's `-c` command (`sh -c '...'`, `bash --norc -c '...'`)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return os.path.basename(argv[0]).lstrip(b"-") in {b"sh", b"dash", b"bash", b"zsh", b"ksh", b"fish"} and b"-c" in argv


def _parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def _signal_self_when_gone(pid: int, sig: int) -> None:
    """Send `sig` to this process when process `pid` exits (a daemon thread waits on a pidfd)."""
    start = _start_time(pid)
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        handle = None
    except OSError:  # a kernel before 5.3: PR_SET_PDEATHSIG alone
        return
    if handle is None or _start_time(pid) != start:  # gone already (a start time that differs: a reused PID)
        os.kill(os.getpid(), sig)
        return

    def wait() -> None:
        select.select([handle], [], [])  # a pidfd is readable once its process has exited
        os.kill(os.getpid(), sig)

    threading.Thread(target=wait, name=f"die-with-{pid}", daemon=True).start()


def raise_on_signals() -> None:
    """From now on SIGTERM raises `Terminated` and SIGINT KeyboardInterrupt in the main thread, so `with` and
    `finally` blocks run (SIGINT too when the process started with it ignored, as `&` in a script does)."""

    def handler(signum: int, frame: object) -> None:
        raise Terminated(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def stage_name() -> str:
    """The DVC stage being run (DVC sets DVC_STAGE), else the script's name."""
    return os.environ.get("DVC_STAGE") or Path(sys.argv[0]).stem


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's `main`: dies with its parent, SIGTERM/SIGINT unwind it, the user's mistake (a `UserError`: a
    params key, a corpus row, a checkpoint, a divergence) is one line naming it."""
    die_with_parent()
    raise_on_signals()
    try:
        main()
    except KeyboardInterrupt as interrupt:
        sig = signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT
        print(f"{stage_name()}: stopped by {sig.name}; a rerun resumes from the saved state", file=sys.stderr)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)  # exit as killed by the signal, as the caller expects
    except UserError as err:  # the user's mistake, named in one line; a bug keeps its traceback
        sys.exit(f"{stage_name()}: {err}")


def process_id() -> str:
    """'host:pid:start' for this process; the start time tells a live process from a reused PID."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def is_dead(process: str) -> bool:
    """True if a `process_id()` of this host names no running process; False for other hosts (unknowable)."""
    host, _, rest = process.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _start_time(int(pid)) != start


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); '' off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def stop_group(pgid: int, grace: float = 10.0) -> None:
    """SIGTERM every process of group `pgid`, SIGKILL what is left after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and group_members(pgid):
            time.sleep(0.1)
        if not group_members(pgid):
            return


def group_members(pgid: int) -> list[int]:
    """The PIDs of group `pgid` that still run (zombies waiting to be reaped do not count)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members
