"""Pipeline overheads: `dvc repro` with nothing changed and after one model's parameter changed, and MLflow's cost.

DVC runs in a temporary copy of the repository (git + dvc initialised there, as the e2e tests do), so the
real checkout, its cache and its lock are never touched.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import common  # first: it sets the environment before rnnlab imports tqdm
import torch
import yaml

from rnnlab.config import ModelConfig, TrainerConfig
from rnnlab.models.classifier import build_model
from rnnlab.params import flatten, load_section, read_params
from rnnlab.text.features import load_features
from rnnlab.text.vocab import Vocab
from rnnlab.training.classification import fit
from rnnlab.training.loop import set_seed
from rnnlab.training.tracking import MemoryTracker, Tracker, mlflow_run

COPIED = ("dvc.yaml", "params.yaml", "stages", "src", "pyproject.toml", ".dvcignore")
SMALL = {"bidirectional": False, "pooling": "max"}


def set_key(params: dict, key: str, value: Any) -> None:
    """Set a dotted key in a params mapping."""
    *parents, last = key.split(".")
    for part in parents:
        params = params[part]
    params[last] = value


def make_repo(dest: Path, overrides: dict[str, Any], env: dict[str, str]) -> Path:
    """Copy the pipeline into `dest`, apply params overrides, git + dvc init it."""
    for name in COPIED:
        src = common.ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    edit_params(dest, overrides)
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "config", "core.analytics", "false"],
                ["dvc", "config", "core.check_update", "false"], ["git", "add", "-A"],
                ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "bench"]):
        common.run_checked(cmd, dest, env)
    return dest


def edit_params(repo: Path, overrides: dict[str, Any]) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in overrides.items():
        set_key(params, key, value)
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")


def stages_run(output: str) -> list[str]:
    """Stage names from DVC's "Running stage 'name':" lines."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def dvc_rows(repo: Path, env: dict[str, str], target: str, models: list[str], repeats: int) -> list[dict]:
    """Cold run, no-op runs, and a run after one model's hidden size changed."""
    device, repro = "cpu", ["dvc", "repro", target]
    cold = common.run_checked(repro, repo, env)
    noops = [common.run_checked(repro, repo, env) for _ in range(repeats)]
    status = common.run_checked(["dvc", "status", target], repo, env)
    changed_model = models[-1]
    edit_params(repo, {f"train.{changed_model}.hidden_size": 24})
    changed = common.run_checked(repro, repo, env)
    ran, noop_s = stages_run(changed.output), common.median([r.seconds for r in noops])
    expected = {f"train@{changed_model}", *(["evaluate"] if target == "evaluate" else [])}
    return [
        common.row(f"dvc repro {target}, cold (every stage)", "one run in a fresh copy; peak RSS of the process tree",
                   cold.seconds, "s", device, stages_run=len(stages_run(cold.output)), peak_rss_mib=cold.peak_rss_mib),
        common.row(f"dvc repro {target}, nothing changed", f"median of {repeats} runs after the cold run",
                   noop_s, "s", device, baseline=cold.seconds, ratio=cold.seconds / noop_s,
                   stages_run=sum(len(stages_run(r.output)) for r in noops), peak_rss_mib=max(r.peak_rss_mib for r in noops)),
        common.row(f"dvc status {target}, nothing changed", "one run", status.seconds, "s", device,
                   up_to_date="changed" not in status.output.lower()),
        common.row(f"dvc repro {target} after changing train.{changed_model}.hidden_size",
                   "one run; stages parsed from DVC's 'Running stage' lines", changed.seconds, "s", device,
                   baseline=cold.seconds, ratio=cold.seconds / changed.seconds, stages=" ".join(ran),
                   only_that_model_retrained=set(ran) == expected),
    ]


def train_once(tracker: Tracker, train, val, sizes, cfg: ModelConfig, trainer: TrainerConfig, checkpoint: Path) -> None:
    """What stages/train.py does around fit: log params, fit, save and log the checkpoint."""
    set_seed(0)
    model = build_model(cfg, *sizes)
    tracker.log_params({"seed": 0, **flatten(trainer, "trainer."), **flatten(cfg, "model.")})
    fit(model, train, val, trainer, tracker, seed=0)
    torch.save(model.state_dict(), checkpoint)
    tracker.log_artifact(checkpoint, "checkpoint")


def mlflow_rows(workdir: Path, args: argparse.Namespace) -> list[dict]:
    """The same training with an in-memory tracker and with MLflow on a sqlite store, alternated."""
    splits, classes = load_features(args.tensors)
    train, val = splits["train"], splits["val"]
    n = min(args.mlflow_rows, len(train)) if args.mlflow_rows else len(train)
    train = type(train)(train.tokens[:n], train.lengths[:n], train.labels[:n])
    sizes = (len(Vocab.load(args.vocab)), len(classes))
    cfg = dataclasses.replace(load_section(common.STUDY_PARAMS["zoo"], "zoo.base", ModelConfig), cell="lstm", embedding_dim=args.hidden_size,
                              hidden_size=args.hidden_size, **SMALL)
    trainer = dataclasses.replace(load_section(common.PARAMS, "trainer", TrainerConfig), device="cpu", epochs=args.mlflow_epochs,
                                  patience=args.mlflow_epochs, num_threads=args.threads)
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{workdir / 'mlflow.db'}")
    ckpt, timings = workdir / "model.pt", {"memory": [], "mlflow": []}
    with contextlib.chdir(workdir):  # git tags and MLflow's artifact folder come from the working directory
        with common.stopwatch() as fresh, mlflow_run("bench-fresh-store", env, stage="bench") as tracker:
            train_once(tracker, train, val, sizes, cfg, trainer, ckpt)
        for _ in range(args.repeats):
            with common.stopwatch() as t:
                train_once(MemoryTracker(), train, val, sizes, cfg, trainer, ckpt)
            timings["memory"].append(t["seconds"])
            with common.stopwatch() as t, mlflow_run("bench", env, stage="bench") as tracker:
                train_once(tracker, train, val, sizes, cfg, trainer, ckpt)
            timings["mlflow"].append(t["seconds"])
    memory, mlflow = common.median(timings["memory"]), common.median(timings["mlflow"])
    label = common.device_label(torch.device("cpu"), args.threads)
    how = (f"median of {args.repeats}, alternated; {args.mlflow_epochs} epochs, {n} texts, LSTM {args.hidden_size} units; "
           "params, tags, one metrics call per epoch, checkpoint artifact")
    imported = common.run_checked([sys.executable, "-c", "import mlflow"], common.ROOT)
    bare = common.run_checked([sys.executable, "-c", "pass"], common.ROOT)
    return [
        common.row("training with MLflow logging (sqlite) vs in-memory tracker", how, mlflow, "s", label,
                   baseline=memory, ratio=mlflow / memory, overhead_s=mlflow - memory,
                   overhead_per_epoch_ms=(mlflow - memory) / args.mlflow_epochs * 1000),
        common.row("first MLflow run of a process on a fresh sqlite store",
                   "one run: importing mlflow, creating the schema, then the same training",
                   fresh["seconds"], "s", label, baseline=memory, ratio=fresh["seconds"] / memory),
        common.row("import mlflow in a fresh interpreter", "wall time of `python -c 'import mlflow'` minus `python -c pass`",
                   imported.seconds - bare.seconds, "s", label, peak_rss_mib=imported.peak_rss_mib),
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tensors", type=Path, default=common.out("featurize", "tensors.pt"))
    parser.add_argument("--vocab", type=Path, default=common.out("featurize", "vocab.json"))
    parser.add_argument("--mirror", type=Path, default=Path(os.environ.get("RNNLAB_MIRROR") or common.ROOT.parent / "shared/datasets"),
                        help="corpus mirror for the download stage; absent: the DVC rows are skipped")
    parser.add_argument("--corpus", type=Path, help="a local CSV (text,label) for the DVC copy instead of RuSentiment")
    parser.add_argument("--max-rows", type=int, default=1000, help="prepare.max_rows_per_split in the DVC copy")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mlflow-rows", type=int, default=2000)
    parser.add_argument("--mlflow-epochs", type=int, default=3)
    parser.add_argument("--hidden-size", type=int, default=32)
    common.add_common_args(parser, "two tiny models, target `train`, 1 repeat, 200 texts for MLflow")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.mlflow_rows, args.mlflow_epochs, args.max_rows, args.hidden_size = 1, 200, 2, 300, 8
    return args


def repo_overrides(args: argparse.Namespace, models: list[str]) -> dict[str, Any]:
    """A fast params profile: small models, few epochs, word-only TF-IDF."""
    model = {**read_params(common.STUDY_PARAMS["zoo"])["zoo"]["base"], "embedding_dim": args.hidden_size,
             "hidden_size": args.hidden_size, **SMALL}
    corpus = ({"prepare.corpus": "local_csv", "prepare.local_csv.path": str(args.corpus.resolve()),
               "download.corpora": ["nltk_stopwords"]} if args.corpus else {"prepare.corpus": "rusentiment"})
    return {**corpus, "prepare.max_rows_per_split": args.max_rows, "tfidf.char_ngrams": False, "tfidf.C": [1.0],
            "trainer.epochs": 1 if args.quick else 2, "trainer.num_threads": args.threads,
            "train": {m: {"cell": m, **model} for m in models}}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    models = ["rnn", "gru"] if args.quick else ["rnn", "lstm", "gru"]
    target = "train" if args.quick else "evaluate"
    with tempfile.TemporaryDirectory(prefix="rnnlab-pipeline-") as tmp:
        repo, rows = Path(tmp) / "repo", []
        env = dict(os.environ, RNNLAB_MIRROR=str(args.mirror), MLFLOW_TRACKING_URI=f"sqlite:///{repo / 'mlflow.db'}",
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        repo.mkdir()
        make_repo(repo, repo_overrides(args, models), env)
        if (args.mirror / "SHA256SUMS").exists():
            rows += dvc_rows(repo, env, target, models, args.repeats)
        else:
            rows.append(common.unavailable_row("dvc repro overheads", "needs the corpus mirror", "s", "cpu",
                                               f"skipped: no corpus mirror at {args.mirror}"))
        rows += mlflow_rows(repo, args)
    notes = [
        "DVC rows: ratio = the cold run's time / this run's (how much work DVC skips; higher is better). "
        "The copy uses a fast profile (small models, few epochs, capped rows), so the no-op time is DVC's own cost.",
        "MLflow rows: ratio = with MLflow / without (1.0 = free); the overhead is per training run, not per epoch.",
        "the real checkout is not measured: other work changes it, and `dvc repro` there would take its lock.",
    ]
    settings = vars(args) | {"target": target, "models": models}  # paths are written as strings
    machine = common.machine_info(torch.device("cpu"), args.threads)
    path = common.write_section(args.out, "pipeline", common.section(
        "Pipeline overheads: DVC and MLflow", machine, rows, notes, settings))
    print(f"pipeline: wrote {path}")


if __name__ == "__main__":
    main()
