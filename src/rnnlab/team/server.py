"""A team's MLflow tracking server on this machine: PostgreSQL behind `mlflow server`, with MLflow's logins.

Everything lives in one folder (`.rnnlab/server` by default, ignored by git): the PostgreSQL data
folder, created on the first start; the artifacts the server stores and serves; logs; and
`credentials`, readable by its owner only, holding the generated passwords as environment lines
(`set -a; . .rnnlab/server/credentials; set +a` points the pipeline at the server). No password is
ever put on a command line or printed: PostgreSQL's goes to `mlflow server` through a pgpass file,
the admin's through the environment of the first start.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rnnlab.process import stop_group

DB_USER = "rnnlab"
ADMIN = "admin"
DATABASES = ("mlflow", "mlflow_auth")  # runs and models; users and permissions


class ServerError(RuntimeError):
    """The server cannot be started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class Server:
    """Where a server's files are and on which ports it listens."""

    root: Path
    host: str
    port: int
    pg_port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials"

    @property
    def pgdata(self) -> Path:
        return self.root / "postgres"


def postgres_bin() -> Path:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl), the newest version installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    if shutil.which("initdb"):
        return Path(shutil.which("initdb")).parent
    raise ServerError("PostgreSQL's server programs are not installed: `make server` installs them with apt-get "
                      "(as root), or `apt-get install postgresql`")


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its programs as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _private(path: Path, text: str, owner: str | None = None) -> None:
    """Write a file only its owner can read."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")
    if owner:
        shutil.chown(path, owner, owner)


def read_credentials(path: Path) -> dict[str, str]:
    """The `KEY=value` lines of a credentials file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def _credentials(server: Server) -> dict[str, str]:
    """The server's passwords: generated on the first start, then read back."""
    if server.credentials.exists():
        return read_credentials(server.credentials)
    creds = {
        "MLFLOW_TRACKING_URI": server.url, "MLFLOW_TRACKING_USERNAME": ADMIN,
        "MLFLOW_TRACKING_PASSWORD": secrets.token_urlsafe(18), "RNNLAB_POSTGRES_PASSWORD": secrets.token_urlsafe(18),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(32),
    }
    body = "".join(f"{k}={v}\n" for k, v in creds.items())
    _private(server.credentials, "# rnnlab tracking server: never commit or share this file\n" + body)
    return creds


def _init_postgres(server: Server, password: str) -> None:
    """initdb a fresh data folder owned by the user PostgreSQL runs as, with password logins only."""
    owner = "postgres" if os.geteuid() == 0 else None
    server.pgdata.mkdir(mode=0o700)
    pwfile = server.root / "initdb.pw"
    try:
        if owner:
            shutil.chown(server.pgdata, owner, owner)
        _private(pwfile, password, owner)
        cmd = [str(postgres_bin() / "initdb"), "-D", str(server.pgdata), "-U", DB_USER, f"--pwfile={pwfile}",
               "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"]
        _run(_as_postgres(cmd), "initdb")
    finally:
        pwfile.unlink(missing_ok=True)


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise ServerError(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-1500:]}")


def _pg_ctl(server: Server, action: str) -> list[str]:
    options = f"-c listen_addresses=127.0.0.1 -c port={server.pg_port} -c unix_socket_directories=''"
    return _as_postgres([str(postgres_bin() / "pg_ctl"), action, "-D", str(server.pgdata), "-w", "-t", "60",
                         "-l", str(server.pgdata / "server.log"), "-o", options])


def _create_databases(server: Server, password: str) -> None:
    import psycopg

    dsn = f"host=127.0.0.1 port={server.pg_port} user={DB_USER} dbname=postgres password={password}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in DATABASES:
            if name not in existing:
                conn.execute(f'CREATE DATABASE "{name}"')


def _pg_uri(server: Server, database: str) -> str:
    """A PostgreSQL URI without the password (psycopg reads it from PGPASSFILE)."""
    return f"postgresql://{DB_USER}@127.0.0.1:{server.pg_port}/{database}"


def start(server: Server, artifacts: str = "", workers: int = 2) -> None:
    """Start PostgreSQL (initialising it the first time) and `mlflow server` with logins; wait until it answers."""
    if (server.root / "mlflow.pid").exists():
        raise ServerError(f"{server.root / 'mlflow.pid'} exists: the server is running (`make server-stop` stops it)")
    server.root.mkdir(parents=True, exist_ok=True)
    server.root.chmod(0o711)  # PostgreSQL, running as its own user, must reach its data folder inside
    creds = _credentials(server)
    if not server.pgdata.exists():
        _init_postgres(server, creds["RNNLAB_POSTGRES_PASSWORD"])
    _run(_pg_ctl(server, "start"), "starting PostgreSQL")
    _create_databases(server, creds["RNNLAB_POSTGRES_PASSWORD"])
    _private(server.root / "pgpass", f"127.0.0.1:{server.pg_port}:*:{DB_USER}:{creds['RNNLAB_POSTGRES_PASSWORD']}\n")
    (server.root / "auth.ini").write_text(
        f"[mlflow]\ndefault_permission = READ\ndatabase_uri = {_pg_uri(server, 'mlflow_auth')}\n"
        f"admin_username = {ADMIN}\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # a password hash per request costs more than the request itself: remember good logins for a minute
        "auth_cache_ttl_seconds = 60\n",
        encoding="utf-8")
    env = {**os.environ, "PGPASSFILE": str(server.root / "pgpass"), "MLFLOW_AUTH_CONFIG_PATH": str(server.root / "auth.ini"),
           "MLFLOW_AUTH_ADMIN_PASSWORD": creds["MLFLOW_TRACKING_PASSWORD"], "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_FLASK_SERVER_SECRET_KEY": creds["MLFLOW_FLASK_SERVER_SECRET_KEY"],
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--app-name", "basic-auth",
           "--backend-store-uri", _pg_uri(server, "mlflow"), "--serve-artifacts",
           "--artifacts-destination", artifacts or str((server.root / "artifacts").resolve()),
           "--host", server.host, "--port", str(server.port), "--workers", str(workers)]
    with (server.root / "mlflow.log").open("ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (server.root / "mlflow.pid").write_text(f"{proc.pid}\n")
    _wait_healthy(server, proc)


def _wait_healthy(server: Server, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop(server)
            raise ServerError(f"mlflow server exited ({proc.returncode}); see {server.root / 'mlflow.log'}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    stop(server)
    raise ServerError(f"mlflow server did not answer {server.url}/health within {seconds:.0f} s; "
                      f"see {server.root / 'mlflow.log'}")


def stop(server: Server) -> None:
    """Stop `mlflow server` (its whole process group) and PostgreSQL."""
    pid_file = server.root / "mlflow.pid"
    if pid_file.exists():
        stop_group(int(pid_file.read_text()))
        pid_file.unlink()
    if (server.pgdata / "postmaster.pid").exists():
        _run(_as_postgres([str(postgres_bin() / "pg_ctl"), "stop", "-D", str(server.pgdata), "-m", "fast", "-w"]),
             "stopping PostgreSQL")


def login_help(server: Server) -> str:
    """How to open the UI and log runs to the server; names the credentials file, never a password."""
    return (f"MLflow tracking server on {server.url} (PostgreSQL on 127.0.0.1:{server.pg_port}), logins required.\n"
            f"  UI:    open {server.url} and log in as '{ADMIN}'; the password is MLFLOW_TRACKING_PASSWORD in "
            f"{server.credentials} (readable by you only)\n"
            f"  runs:  set -a; . {server.credentials}; set +a; dvc repro   # every stage logs to the server\n"
            f"  stop:  make server-stop")
