"""One classifier trained by several workers at once: Ray Train's TorchTrainer, DistributedDataParallel.

Every worker seeds and builds the same model, draws the same epoch batch list from the same seeded
generator and trains on its own share of it (`shard_batches`: batches[rank::world]) in the one training
loop; DDP averages the gradients after every backward (gloo on CPU, NCCL on GPUs), so the weights stay
identical on every worker, and so does validation. Rank 0 logs to the stage's MLflow run (the others
to a tracker nobody reads) and hands the history and the best weights back through Ray Train's
checkpoint; the weights come back with the keys of the unwrapped model, as the checkpoint format wants.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlab.config import ModelConfig, TrainerConfig
from rnnlab.models.classifier import build_model
from rnnlab.models.embeddings import EMBEDDINGS
from rnnlab.process import TrainingDiverged
from rnnlab.text.batching import EncodedSplit
from rnnlab.training.classification import build_classifier, fit
from rnnlab.training.loop import TrainResult, resolve_device
from rnnlab.training.tracking import (
    MemoryTracker,
    MlflowTracker,
    Tracker,
    annotate_run,
    tracking_uri,
)


def fit_data_parallel(
    model_cfg: ModelConfig, trainer: TrainerConfig, vocab_itos: list[str], splits: dict[str, EncodedSplit],
    n_classes: int, seed: int, workers: int, env: Mapping[str, str], tracker: Tracker,
) -> tuple[nn.Module, TrainResult]:
    """`train_classifier` over `workers` Ray Train workers; rank 0 logs to `tracker`'s MLflow run.

    A `MemoryTracker` (tests) gets rank 0's records copied into it when training is done.
    """
    run_id = tracker.run_id if isinstance(tracker, MlflowTracker) else None
    config = worker_config(model_cfg, trainer, vocab_itos, splits, n_classes, seed, env, run_id)
    outputs = run_workers(worker_main, config, workers, trainer.num_threads, config["use_gpu"])
    if isinstance(tracker, MemoryTracker):
        records = outputs["tracker"]
        tracker.params.update(records["params"])
        tracker.metrics.extend(records["metrics"])
    result = TrainResult("epoch", **outputs["result"])
    # the weights come from the workers: the pretrained matrix only has to have the right shape
    pretrained = (None if EMBEDDINGS[model_cfg.embeddings] is None
                  else torch.zeros(len(vocab_itos), model_cfg.embedding_dim))
    model = build_model(model_cfg, len(vocab_itos), n_classes, pretrained)
    model.load_state_dict(result.best_state)
    return model, result


def worker_config(model_cfg: ModelConfig, trainer: TrainerConfig, vocab_itos: list[str],
                  splits: dict[str, EncodedSplit], n_classes: int, seed: int, env: Mapping[str, str],
                  run_id: str | None) -> dict[str, Any]:
    """What every worker gets (Ray Train's `train_loop_config`); rank 0 logs into MLflow run `run_id` if given."""
    env = {**env, "MLFLOW_TRACKING_URI": _absolute(tracking_uri(env))}  # workers run in other folders
    return {"model": model_cfg, "trainer": trainer, "itos": vocab_itos, "splits": splits, "n_classes": n_classes,
            "seed": seed, "run_id": run_id, "env": env, "use_gpu": resolve_device(trainer.device).type == "cuda"}


def train_worker(config: dict[str, Any]) -> tuple[nn.Module, TrainResult, Tracker]:
    """One worker's part: seeded like every other worker, wrapped in DDP, trained on its share of each epoch."""
    import ray.train
    import ray.train.torch
    from torch.nn.parallel import DistributedDataParallel

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    trainer: TrainerConfig = config["trainer"]
    torch.set_num_threads(trainer.num_threads)
    device = ray.train.torch.get_device() if config["use_gpu"] else torch.device("cpu")
    splits = config["splits"]
    with _rank_tracker(rank, config["run_id"], config["env"]) as tracker:
        model = build_classifier(config["model"], trainer, config["itos"], config["n_classes"], tracker, config["seed"])
        tracker.log_params({"data_parallel.workers": world})
        # no buffers to broadcast at each forward: validation forwards need no collective then
        device_ids = [device.index] if device.type == "cuda" else None
        wrapped = DistributedDataParallel(model.to(device), device_ids=device_ids, broadcast_buffers=False)
        on_device = dataclasses.replace(trainer, device=str(device))
        result = fit(wrapped, splits["train"], splits["val"], on_device, tracker, config["seed"], shard=(rank, world))
    result.best_state = {key.removeprefix("module."): value for key, value in result.best_state.items()}
    return model, result, tracker


def worker_main(config: dict[str, Any]) -> None:
    """Ray Train's function per worker: train, then rank 0 hands back the result (and memory-tracked records)."""
    import ray.train

    _, result, tracker = train_worker(config)
    outputs: dict[str, Any] = {}
    if ray.train.get_context().get_world_rank() == 0:
        outputs["result"] = {"history": result.history, "timings": result.timings, "best_index": result.best_index,
                             "best_state": result.best_state}
        if isinstance(tracker, MemoryTracker):
            outputs["tracker"] = {"params": tracker.params, "metrics": tracker.metrics}
    report(outputs)


def report(outputs: dict[str, Any]) -> None:
    """Hand `outputs` (name -> tensors and plain values) to the driver; every worker calls this once.

    Ray Train merges the workers' checkpoint folders into one, so names must differ between ranks.
    """
    import ray.train

    with tempfile.TemporaryDirectory() as folder:
        for name, value in outputs.items():
            torch.save(value, Path(folder) / f"{name}.pt")
        ray.train.report({}, checkpoint=ray.train.Checkpoint.from_directory(folder) if outputs else None)


def run_workers(worker: Callable[[dict[str, Any]], None], config: dict[str, Any], workers: int, threads: int,
                use_gpu: bool) -> dict[str, Any]:
    """Run `worker(config)` on `workers` Ray Train workers (one GPU or `threads` CPUs each); what they reported."""
    from ray.train import RunConfig, ScalingConfig, WorkerGroupError
    from ray.train.torch import TorchTrainer

    with tempfile.TemporaryDirectory(prefix="rnnlab-data-parallel-") as storage:
        trainer = TorchTrainer(
            worker, train_loop_config=config,
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu, resources_per_worker={"CPU": threads}),
            run_config=RunConfig(name="data_parallel", storage_path=storage),
        )
        try:
            result = trainer.fit()
        except WorkerGroupError as err:
            diverged = [e for e in err.worker_failures.values() if isinstance(e, TrainingDiverged)]
            if diverged:
                raise diverged[0] from err
            raise
        with result.checkpoint.as_directory() as folder:
            return {path.stem: torch.load(path, weights_only=True) for path in Path(folder).glob("*.pt")}


@contextlib.contextmanager
def _rank_tracker(rank: int, run_id: str | None, env: Mapping[str, str]) -> Iterator[Tracker]:
    """Rank 0 logs into the stage's MLflow run (in memory without one); the other ranks' records are dropped."""
    if rank != 0 or run_id is None:
        yield MemoryTracker()
        return
    with annotate_run(run_id, env) as tracker:  # leaves the run RUNNING for the stage that opened it
        yield tracker


def _absolute(uri: str) -> str:
    """A relative sqlite URI made absolute from this folder: Ray Train's workers run elsewhere."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    return uri
