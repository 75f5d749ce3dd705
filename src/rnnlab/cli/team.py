"""`rnnlab` commands for the team and the runs: the MLflow UI, the tracking server, moving runs into it, the DVC
remote, and budget profiles as DVC experiments."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from rnnlab.cli.errors import CommandError
from rnnlab.process import die_with_parent, raise_on_signals, stop_group
from rnnlab.profiles import experiment_command
from rnnlab.team.migrate import migrate
from rnnlab.team.remote import push, restore
from rnnlab.team.server import Server, login_help
from rnnlab.team.server import start as start_server
from rnnlab.team.server import stop as stop_server
from rnnlab.training.tracking import runs_view_url


def ui_command(args: argparse.Namespace) -> int:
    """The MLflow UI in a process group of its own, stopped whole when this command stops or its parent dies."""
    if args.pid_file.is_file():
        raise CommandError(f"{args.pid_file} exists: a UI may be running (stop it with `make ui-stop`)")
    die_with_parent()
    raise_on_signals()
    url = runs_view_url(f"http://{args.host}:{args.port}", args.backend_store_uri)  # before the server opens the store
    beside = Path(sys.executable).with_name("mlflow")  # this environment's, whatever PATH says
    cmd = [str(beside) if beside.exists() else "mlflow", "ui", "--backend-store-uri", args.backend_store_uri, "--host", args.host,
           "--port", str(args.port), "--workers", "1"]
    server = subprocess.Popen(cmd, env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                              start_new_session=True)
    args.pid_file.parent.mkdir(parents=True, exist_ok=True)
    args.pid_file.write_text(f"{server.pid}\n")
    print(f"MLflow UI: {url}", file=sys.stderr, flush=True)
    try:
        return server.wait()
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM (kill of this command or of `make ui`)
        return 0
    finally:
        stop_group(server.pid)  # the server's workers too: the group is its PID
        server.wait()
        args.pid_file.unlink(missing_ok=True)


def ui_stop_command(args: argparse.Namespace) -> int:
    """Stop the UI that `rnnlab ui` started: every process of its group."""
    if not args.pid_file.is_file():
        raise CommandError(f"no {args.pid_file}: no UI started by `make ui` is running")
    stop_group(int(args.pid_file.read_text()))
    args.pid_file.unlink(missing_ok=True)
    return 0


def server_command(args: argparse.Namespace) -> int:
    """Start or stop the team's tracking server (PostgreSQL + mlflow server with logins)."""
    server = Server(args.dir, args.host, args.port, args.pg_port)
    if args.action == "start":
        start_server(server, args.artifacts, args.workers)
        print(login_help(server))
    else:
        stop_server(server)
        print(f"stopped the tracking server in {args.dir}")
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    """Copy the runs of a local store into a tracking server."""
    for experiment, n in migrate(args.source, args.target).items():
        print(f"{experiment}: {n} runs copied")
    return 0


def remote_command(args: argparse.Namespace) -> int:
    """Restore from, or publish to, the team's DVC remote."""
    print(restore(args.on_error) if args.action == "restore" else push())
    return 0


def profile_command(args: argparse.Namespace) -> int:
    """`dvc exp run --all-pipelines` with the profile's params (its exit status)."""
    command = experiment_command(args.profile, args.root)
    if args.dry:
        print(" ".join(command))
        return 0
    return subprocess.run(command, check=False).returncode



def add_commands(commands: argparse._SubParsersAction) -> None:
    """The team commands' parsers."""
    pid_file = {"type": Path, "default": Path(".rnnlab/ui.pid"), "help": "where the UI's process group id is kept"}
    cmd = commands.add_parser("ui", help="the MLflow UI in the foreground; Ctrl-C or SIGTERM stops all of it")
    cmd.add_argument("--backend-store-uri", default="sqlite:///mlflow.db")
    cmd.add_argument("--host", default="127.0.0.1")
    cmd.add_argument("--port", type=int, default=5000)
    cmd.add_argument("--pid-file", **pid_file)
    cmd.set_defaults(func=ui_command)
    cmd = commands.add_parser("profile", help="run every pipeline with a budget profile's params, as a DVC experiment")
    cmd.add_argument("profile", type=Path, help="a profile: params file -> `dotted.key: value` lines (profiles/gpu.yaml)")
    cmd.add_argument("--root", type=Path, default=Path("."), help="the repository the profile's params files are in")
    cmd.add_argument("--dry", action="store_true", help="print the dvc command instead of running it")
    cmd.set_defaults(func=profile_command)

    cmd = commands.add_parser("ui-stop", help="stop the UI started by `rnnlab ui` (from another shell)")
    cmd.add_argument("--pid-file", **pid_file)
    cmd.set_defaults(func=ui_stop_command)

    cmd = commands.add_parser("server", help="the team's MLflow tracking server: PostgreSQL, logins, served artifacts")
    cmd.add_argument("action", choices=["start", "stop"])
    cmd.add_argument("--dir", type=Path, default=Path(".rnnlab/server"), help="data, artifacts, logs, credentials")
    cmd.add_argument("--host", default="127.0.0.1", help="the address to listen on (0.0.0.0 for a team)")
    cmd.add_argument("--port", type=int, default=5001)
    cmd.add_argument("--pg-port", type=int, default=5433, help="PostgreSQL's port, on 127.0.0.1")
    cmd.add_argument("--workers", type=int, default=2, help="mlflow server's worker processes")
    cmd.add_argument("--artifacts", default="", help="where the server stores artifacts (default: DIR/artifacts; "
                                                     "s3://bucket/path with dvc-s3's boto3 credentials)")
    cmd.set_defaults(func=server_command)
    cmd = commands.add_parser("migrate", help="copy the runs of one MLflow store into another")
    cmd.add_argument("--source", default="sqlite:///mlflow.db")
    cmd.add_argument("--target", required=True, help="e.g. http://127.0.0.1:5001 (MLFLOW_TRACKING_USERNAME/PASSWORD)")
    cmd.set_defaults(func=migrate_command)
    cmd = commands.add_parser("remote", help="the team's DVC remote: restore before dvc repro, push after")
    cmd.add_argument("action", choices=["restore", "push"])
    cmd.add_argument("--on-error", choices=["fail", "warn"], default="fail",
                     help="restore: stop on an unreachable remote, or warn and let dvc repro train locally")
    cmd.set_defaults(func=remote_command)
