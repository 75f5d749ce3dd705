"""Helpers for end-to-end tests: a temporary copy of the repository with its own params."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
COPIED = ["dvc.yaml", "params.yaml", "stages", "src", "pyproject.toml", ".dvcignore", ".gitignore", "Makefile",
          *(str(p.relative_to(ROOT)) for p in sorted(ROOT.glob("studies/*/params.yaml")))]


MODELS = ("rnn", "lstm", "gru")
WORDS = {
    "positive": ["прекрасный", "отличный", "люблю", "радость", "спасибо", ")))"],
    "negative": ["ужасный", "плохой", "ненавижу", "грусть", "обидно", "((("],
    "neutral": ["вторник", "автобус", "отчёт", "улица", "погода", "таблица"],
}
FILLER = ["сегодня", "мы", "город", "вечер", "работа", "дом", "кино", "друг"]


def write_tiny_corpus(path: Path, n: int = 240) -> None:
    """A CSV whose label is given by a cue word among filler words, with quoted line breaks."""
    rng = random.Random(0)
    lines = ["text,label"]
    for i in range(n):
        label = list(WORDS)[i % 3]
        words = rng.sample(FILLER, 4) + [rng.choice(WORDS[label])]
        rng.shuffle(words)
        lines.append(f'"{" ".join(words[:2])}\n{" ".join(words[2:])} {i}",{label}')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


TINY_MODEL = {"embedding_dim": 16, "hidden_size": 16, "bidirectional": False, "pooling": "max", "embedding_dropout": 0.0,
              "dropout": 0.0}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie waiting to be reaped has stopped running)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def base_model(**overrides) -> dict:
    """A full model entry for params.yaml: the zoo's base model with `overrides`."""
    params = yaml.safe_load((ROOT / "studies" / "zoo" / "params.yaml").read_text(encoding="utf-8"))
    return {**params["zoo"]["base"], **overrides}


@pytest.fixture(scope="session")
def browser() -> str:
    """Headless Chromium's path; `make test` installs it (`make browser`), a test installs nothing."""
    from .browser import find_browser

    path = find_browser()
    if path is None:
        message = "headless Chromium is missing: `make browser` (or `apt-get install -y chromium`) installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The local corpus mirror: RNNLAB_MIRROR, else ../shared/datasets beside the repository."""
    path = Path(os.environ.get("RNNLAB_MIRROR") or ROOT.parent / "shared" / "datasets").resolve()
    if not (path / "SHA256SUMS").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the corpus mirror, not found at {path}")
        pytest.skip(f"no corpus mirror at {path}")
    return path


def tiny_params(epochs: int, model: dict | None = None, **overrides) -> dict:
    """params overrides for the tiny pipeline: the CSV `write_tiny_corpus` writes at corpus/tiny.csv, the
    three recurrent models at TINY_MODEL size (with `model`'s changes), no n-gram classifier, one torch
    thread, `epochs` epochs."""
    return {
        "download.corpora": ["nltk_stopwords"], "prepare.corpus": "local_csv", "prepare.local_csv.path": "corpus/tiny.csv",
        "tfidf.char_ngrams": False, "tfidf.C": [1.0], "tfidf.min_df": 1, "featurize.min_freq": 1,
        "trainer.epochs": epochs, "trainer.batch_size": 16, "trainer.num_threads": 1,
        **{f"train.{m}": base_model(cell=m, **(TINY_MODEL | (model or {}))) for m in MODELS},
        "train_subword": {},  # the n-gram classifier: tests/integration/test_subword_entry.py, the RuSentiment profile
        **overrides,
    }


def make_repo(dest: Path, overrides: dict, also: tuple[str, ...] = ()) -> Path:
    """Copy the pipeline and the studies' params (and the files or folders `also` names, a study's lock left out)
    into `dest`, git + dvc init it, and apply params overrides (dotted keys, each in the file holding its section)."""
    for name in (*COPIED, *also):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "dvc.lock"), dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest / name)
    files = {path: yaml.safe_load(path.read_text(encoding="utf-8"))
             for path in [dest / "params.yaml", *sorted(dest.glob("studies/*/params.yaml"))]}
    for key, value in overrides.items():
        *parents, last = key.split(".")
        path = next(path for path, params in files.items() if key.split(".")[0] in params)
        node = files[path]
        for part in parents:
            node = node[part]
        node[last] = value
    for path, params in files.items():
        path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    run(["git", "init", "-q"], dest)
    run(["dvc", "init", "-q"], dest)
    run(["dvc", "config", "core.analytics", "false"], dest)
    run(["dvc", "config", "core.check_update", "false"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], dest)
    return dest


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    """Run a command, failing the test with its output if it fails."""
    if env is None:
        env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout + proc.stderr


def pipeline_env(mirror: Path) -> dict[str, str]:
    """The environment a stage sees: the venv's python first on PATH, the mirror set."""
    return dict(os.environ, RNNLAB_MIRROR=str(mirror), PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
