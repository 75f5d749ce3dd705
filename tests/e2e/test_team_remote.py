"""The team's DVC remote, for real: a WebDAV server (wsgidav, with a login) and a plain folder on loopback.

One clone trains the tiny pipeline and pushes; a fresh clone's `make run` restores it and trains
nothing, and reruns only what a changed param touches. A wrong password, an unreachable host and an
S3 endpoint that is not there are clear errors naming the remote.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from .conftest import (
    MODELS,
    VENV_BIN,
    free_port,
    make_repo,
    pipeline_env,
    run,
    tiny_params,
    write_tiny_corpus,
)

USER, PASSWORD = "alice", "s3cret-webdav"


@pytest.fixture(scope="module")
def webdav(tmp_path_factory):
    """wsgidav with one user on a free loopback port; yields its URL."""
    root = tmp_path_factory.mktemp("webdav")
    (root / "files" / "dvc").mkdir(parents=True)  # the team's folder on the server
    port = free_port()
    config = {
        "host": "127.0.0.1", "port": port, "provider_mapping": {"/": str(root / "files")}, "verbose": 1,
        "http_authenticator": {"domain_controller": None, "accept_basic": True, "accept_digest": False,
                               "default_to_digest": False},
        "simple_dc": {"user_mapping": {"*": {USER: {"password": PASSWORD}}}},
    }
    (root / "wsgidav.yaml").write_text(yaml.safe_dump(config))
    server = subprocess.Popen([str(VENV_BIN / "wsgidav"), "--config", str(root / "wsgidav.yaml")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
        except urllib.error.HTTPError:
            break  # 401: it answers
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "wsgidav did not start"
            time.sleep(0.2)
    yield f"webdav://127.0.0.1:{port}/dvc"
    server.terminate()
    server.wait(timeout=30)


def make(repo: Path, env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["make", "-s", f"VENV={VENV_BIN.parent}", *args]
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    if check and done.returncode:
        pytest.fail(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


@pytest.fixture(scope="module")
def pushed(tmp_path_factory, mirror, webdav):
    """A repository that trained the tiny pipeline and pushed it to the WebDAV remote and to a folder remote."""
    origin = tmp_path_factory.mktemp("origin")
    write_tiny_corpus(origin / "corpus" / "tiny.csv")
    make_repo(origin, tiny_params(2))
    env = pipeline_env(mirror)
    folder = tmp_path_factory.mktemp("shelf")
    make(origin, env, "remote", f"URL={webdav}")
    run(["dvc", "remote", "modify", "--local", "team", "user", USER], origin, env)
    run(["dvc", "remote", "modify", "--local", "team", "password", PASSWORD], origin, env)
    run(["dvc", "remote", "add", "shelf", str(folder)], origin, env)
    make(origin, env, "run", "STAGES=evaluate")
    make(origin, env, "push")
    run(["dvc", "push", "--run-cache", "-r", "shelf"], origin, env)
    run(["git", "add", "-A"], origin, env)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "trained and pushed"], origin, env)
    return origin, env


def clone(origin: Path, dest: Path, env: dict, password: str | None = PASSWORD) -> Path:
    run(["git", "clone", "-q", str(origin), str(dest)], dest.parent, env)
    if password is not None:
        run(["dvc", "remote", "modify", "--local", "team", "user", USER], dest, env)
        run(["dvc", "remote", "modify", "--local", "team", "password", password], dest, env)
    return dest


def test_credentials_stay_out_of_git(pushed):
    origin, env = pushed
    assert PASSWORD not in run(["git", "show", "HEAD:.dvc/config"], origin, env)
    assert PASSWORD in (origin / ".dvc" / "config.local").read_text()
    assert "config.local" in (origin / ".dvc" / ".gitignore").read_text()


@pytest.mark.parametrize("remote", ["team", "shelf"])
def test_a_fresh_clone_restores_and_trains_nothing_then_reruns_only_a_changed_model(pushed, tmp_path, remote):
    origin, env = pushed
    repo = clone(origin, tmp_path / "member", env)
    if remote == "shelf":
        run(["dvc", "remote", "default", "--local", "shelf"], repo, env)
    start = time.monotonic()
    done = make(repo, env, "run", "STAGES=evaluate")
    seconds = time.monotonic() - start
    assert ran(done.stdout + done.stderr) == set(), done.stdout
    assert f"restored from DVC remote '{remote}'" in done.stdout
    assert all((repo / "data" / "models" / f"{m}.pt").exists() for m in MODELS)
    print(f"make run in a fresh clone with the {remote} remote: {seconds:.1f} s, no stage ran")
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    params["train"]["gru"]["hidden_size"] = 24
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    done = make(repo, env, "run", "STAGES=evaluate")
    assert ran(done.stdout + done.stderr) == {"train@gru", "evaluate"}


@pytest.mark.parametrize(("setup", "named"), [
    (["dvc", "remote", "modify", "--local", "team", "password", "wrong"], "team"),
    (["dvc", "remote", "modify", "--local", "team", "url", "webdav://127.0.0.1:9/dvc"], "webdav://127.0.0.1:9/dvc"),
    (["dvc", "remote", "add", "--local", "--default", "bucket", "s3://rnnlab-team/dvc"], "s3://rnnlab-team/dvc"),
])
def test_an_unusable_remote_is_a_clear_error_or_by_choice_a_warning(pushed, tmp_path, setup, named):
    origin, env = pushed
    repo = clone(origin, tmp_path / "member", env)
    run(setup, repo, env)
    if "bucket" in setup:  # S3 by configuration: an endpoint where nothing listens
        run(["dvc", "remote", "modify", "--local", "bucket", "endpointurl", "http://127.0.0.1:9"], repo, env)
        run(["dvc", "remote", "modify", "--local", "bucket", "access_key_id", "x"], repo, env)
        run(["dvc", "remote", "modify", "--local", "bucket", "secret_access_key", "y"], repo, env)
    failed = make(repo, env, "run", "STAGES=prepare", check=False)
    assert failed.returncode != 0
    assert "rnnlab: error: DVC remote '" in failed.stderr and named in failed.stderr
    assert "Running stage" not in failed.stdout  # it stopped before training anything
    warned = make(repo, env, "run", "STAGES=prepare", "REMOTE_ERROR=warn")
    assert "warning: DVC remote" in warned.stderr and named in warned.stderr
    assert "prepare" in ran(warned.stdout + warned.stderr)  # a local run instead
