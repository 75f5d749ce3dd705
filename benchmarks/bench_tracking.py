"""Many writers: N training processes logging to MLflow at once, sqlite (the default) against the team's server.

Each writer opens a run the way every stage does (`rnnlab.training.tracking.mlflow_run`), logs params,
then 20 epochs of per-epoch metrics (one batched call an epoch, as the training loop does) and a
small artifact. All writers start together behind a barrier. A writer fails when any call raises
(sqlite's "database is locked" among them); afterwards the store is read back to check that every
run landed FINISHED with its 20 epochs. Ratio: sqlite's wall time / the server's (> 1: the server
is faster at that N).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
import traceback
from pathlib import Path

import common  # first: it sets the environment before rnnlab imports tqdm
import torch

from rnnlab.team.server import Server, read_credentials, start, stop
from rnnlab.training.tracking import EXPERIMENT_TAGS, mlflow_run

EPOCHS = 20


def writer(uri: str, experiment: str, index: int, barrier, results) -> None:
    """One training process's logging; reports (index, error or '', seconds)."""
    env = {"MLFLOW_TRACKING_URI": uri}
    barrier.wait()
    began = time.perf_counter()
    try:
        with mlflow_run(f"writer{index}", env, experiment=experiment) as tracker:
            tracker.log_params({"writer": index, "model.cell": "lstm", "trainer.lr": 0.002})
            for epoch in range(1, EPOCHS + 1):
                tracker.log_metrics({"train_loss": 1 / epoch, "val_loss": 1.1 / epoch, "val_accuracy": epoch / 40,
                                     "val_macro_f1": epoch / 41, "seconds": 0.5}, step=epoch)
            note = Path(tempfile.mkdtemp()) / "notes.txt"
            note.write_text(f"writer {index}")
            tracker.log_artifact(note, "notes")
        results.put((index, "", time.perf_counter() - began))
    except Exception as err:  # noqa: BLE001 (every failure is a result here)
        results.put((index, f"{type(err).__name__}: {err}".splitlines()[0][:200], time.perf_counter() - began))
        traceback.print_exc()


def landed(uri: str, experiment: str) -> int:
    """Runs of `experiment` that finished with all their epochs (0 if the store cannot be read)."""
    from mlflow import MlflowClient

    try:
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        runs = client.search_runs([found.experiment_id]) if found else []
        return sum(r.info.status == "FINISHED" and len(client.get_metric_history(r.info.run_id, "val_macro_f1")) == EPOCHS
                   for r in runs)
    except Exception:  # noqa: BLE001 (a store the writers' races left half-migrated cannot be read)
        return 0


def measure(uri: str, n: int, label: str, new_experiment: bool = False) -> dict:
    """Start `n` writers together against `uri`; their failures and the wall time until the last one ends.

    The experiment exists before they start, with the tags the pipeline's first stage gives it, unless
    `new_experiment`.
    """
    experiment = f"bench-{label}-{n}-{os.getpid()}"
    if not new_experiment:
        from mlflow import MlflowClient

        MlflowClient(tracking_uri=uri).create_experiment(experiment, tags=EXPERIMENT_TAGS)
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter per writer, as separate stages are
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=writer, args=(uri, experiment, i, barrier, results)) for i in range(n)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    wall = max(seconds for _, _, seconds in outcomes)
    errors = sorted({error for _, error, _ in outcomes if error})
    return {"n": n, "wall_s": wall, "failed": sum(bool(e) for _, e, _ in outcomes), "errors": errors,
            "landed": landed(uri, experiment)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    common.add_common_args(parser, "N = 2 and 4 only")
    parser.add_argument("--writers", type=int, nargs="+", default=[2, 4, 8])
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    writers = [n for n in args.writers if n <= 4] if args.quick else args.writers
    rows, table = [], []
    with tempfile.TemporaryDirectory(prefix="rnnlab-tracking-") as tmp:
        Path(tmp).chmod(0o711)  # PostgreSQL runs as its own user and must reach its folder
        server = Server(Path(tmp) / "server", "127.0.0.1", common.free_port(), common.free_port())
        start(server)
        try:
            creds = read_credentials(server.credentials)
            os.environ.update({k: creds[k] for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")})
            sqlite, most = f"sqlite:///{Path(tmp) / 'mlflow.db'}", max(writers)
            firsts = [("a new, empty sqlite file", "sqlite", measure(f"sqlite:///{Path(tmp) / 'fresh.db'}", most,
                                                                   "fresh", new_experiment=True)),
                      ("a new experiment on the server", "PostgreSQL server",
                       measure(server.url, most, "first", new_experiment=True))]
            for what, name, result in firsts:
                rows.append(common.row(f"{most} concurrent writers, {what}", name, result["wall_s"], "s", "cpu",
                                       failed=result["failed"], landed=f"{result['landed']}/{most}",
                                       errors="; ".join(result["errors"])))
            for n in writers:
                local = measure(sqlite, n, "sqlite")
                remote = measure(server.url, n, "server")
                table.append((local, remote))
                for name, result in (("sqlite", local), ("PostgreSQL server", remote)):
                    rows.append(common.row(
                        f"{n} concurrent writers, {EPOCHS} epochs each", name, result["wall_s"], "s", "cpu",
                        ratio=local["wall_s"] / remote["wall_s"] if name != "sqlite" else None,
                        failed=result["failed"], landed=f"{result['landed']}/{n}", errors="; ".join(result["errors"])))
        finally:
            stop(server)
    notes = [f"each writer: mlflow_run, params, {EPOCHS} per-epoch log_metrics calls (5 metrics), one artifact; "
             "all start together; wall = the slowest writer's time",
             "ratio (server rows) = sqlite's wall time / the server's: > 1 means the server is faster at that N",
             "failed = writers that raised (sqlite: 'database is locked', schema races); landed = runs FINISHED "
             "with all epochs in the experiment they were meant for",
             "first-use rows: writers that create the sqlite file or the experiment together; other rows: the "
             "store and the experiment exist, as after the pipeline's first stage"]
    machine = common.machine_info(torch.device("cpu"), args.threads)
    path = common.write_section(args.out, "tracking", common.section(
        "Many writers: MLflow on sqlite against the tracking server on PostgreSQL", machine, rows, notes,
        {"writers": writers, "epochs": EPOCHS}))
    for what, name, result in firsts:
        print(f"{what}, N={most}: {result['failed']} failed, {result['landed']} landed, {result['wall_s']:.1f} s")
    for local, remote in table:
        print(f"N={local['n']}: sqlite {local['wall_s']:.1f} s, {local['failed']} failed, {local['landed']} landed | "
              f"server {remote['wall_s']:.1f} s, {remote['failed']} failed, {remote['landed']} landed")
    print(f"tracking: wrote {path}")


if __name__ == "__main__":
    main()
