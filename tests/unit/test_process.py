"""Process lifetimes: children that die with their parent, signals that unwind, process groups stopped whole."""

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rnnlab.process import group_members, stop_group

WORKER = textwrap.dedent("""
    import multiprocessing, signal, sys, time
    from rnnlab.process import die_with_parent

    def worker(ready):
        die_with_parent(signal.SIGKILL, multiprocessing.parent_process().pid)  # as each preprocessing worker does
        ready.set()
        time.sleep(120)

    if __name__ == "__main__":
        ready = multiprocessing.Event()
        child = multiprocessing.Process(target=worker, args=(ready,))
        child.start()
        ready.wait()
        print(child.pid, flush=True)
        time.sleep(120)
""")


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_dies_when_its_parent_is_killed_with_sigkill(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(WORKER)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    assert running(worker)
    parent.kill()
    parent.wait()
    assert wait_until(lambda: not running(worker)), "the worker outlived its parent"


@pytest.mark.parametrize(("sig", "status", "message"), [(signal.SIGTERM, -signal.SIGTERM, "stopped by SIGTERM"),
                                                        (signal.SIGINT, -signal.SIGINT, "stopped by SIGINT")])
def test_a_stage_unwinds_on_a_signal_and_exits_by_it(tmp_path, sig, status, message):
    script = tmp_path / "stage.py"
    script.write_text(textwrap.dedent(f"""
        import time
        from pathlib import Path
        from rnnlab.process import run_stage

        def main():
            try:
                print("ready", flush=True)
                time.sleep(120)
            finally:
                Path({str(tmp_path / "unwound")!r}).write_text("yes")

        run_stage(main)
    """))
    # started with SIGINT ignored, as a background job of a script is: the stage must still answer it
    stage = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert stage.stdout.readline() == "ready\n"
    stage.send_signal(sig)
    _, err = stage.communicate(timeout=30)
    assert stage.returncode == status and message in err
    assert (tmp_path / "unwound").read_text() == "yes"


def test_a_stage_behind_a_sh_c_wrapper_dies_when_the_process_above_the_shell_is_killed(tmp_path):
    """DVC runs a stage as `$SHELL -c cmd`; dash keeps itself between DVC and the stage (so does any shell
    for `cmd; true`), and a `kill -9` of DVC leaves that shell alive: the stage must still stop, unwinding."""
    script = tmp_path / "stage.py"
    script.write_text(textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        from rnnlab.process import run_stage

        def main():
            try:
                print(os.getpid(), flush=True)
                time.sleep(120)
            finally:
                Path({str(tmp_path / "unwound")!r}).write_text("yes")

        run_stage(main)
    """))
    top = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; "
                            f"subprocess.run(['/bin/sh', '-c', '{sys.executable} {script}; true'])"],
                           stdout=subprocess.PIPE, text=True)
    stage = int(top.stdout.readline())
    shell = int(Path(f"/proc/{stage}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert Path(f"/proc/{shell}/cmdline").read_bytes().startswith(b"/bin/sh\0-c\0")
    top.kill()
    top.wait()
    assert wait_until(lambda: not running(stage)), "the stage outlived the process above its shell"
    assert (tmp_path / "unwound").read_text() == "yes"


def test_stop_group_stops_every_process_of_the_group():
    leader = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
                               "print('ready', flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert leader.stdout.readline() == "ready\n"
    members = group_members(leader.pid)
    assert len(members) == 2 and leader.pid in members
    stop_group(leader.pid)
    leader.wait(timeout=10)
    assert wait_until(lambda: not any(running(pid) for pid in members))
