"""Ray as the executor of training runs that do not depend on each other (the zoo's variant x seed runs).

Without RAY_ADDRESS a stage starts a local Ray with the machine's cores (`cluster.max_cpus` caps them)
and stops it when done; with RAY_ADDRESS it joins that cluster, as `ray.init` does. Every run is a Ray
task asking for the CPU threads it trains with, or a share of a GPU when it trains on CUDA, so that
Ray packs as many side by side as the cluster holds. A task whose worker process dies is retried
(`cluster.max_retries`) and resumes from the run's saved state. `executor: local` runs the same
functions one after another in the stage's own process, without Ray: the same seeds give the same
results either way.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rnnlab.config import ClusterConfig

ENV_FOR_WORKERS = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                   "MLFLOW_DISABLE_TELEMETRY", "DVC_EXP_NAME", "RNNLAB_MIRROR")


@dataclass(frozen=True)
class Resources:
    """What one task asks Ray for."""

    cpus: float
    gpus: float = 0.0


@contextlib.contextmanager
def ray_session(cfg: ClusterConfig, env: Mapping[str, str]) -> Iterator[dict[str, float]]:
    """Join RAY_ADDRESS's cluster or start a local Ray (unless already connected); yields its resources."""
    if cfg.executor == "local":
        yield {"CPU": float(os.cpu_count() or 1)}
        return
    import ray

    if ray.is_initialized():
        yield ray.cluster_resources()
        return
    forwarded = {key: env[key] for key in ENV_FOR_WORKERS if env.get(key)}
    options: dict[str, Any] = {"runtime_env": {"env_vars": forwarded}, "log_to_driver": True}
    if env.get("RAY_ADDRESS"):
        ray.init(address=env["RAY_ADDRESS"], **options)
    else:
        # "local": a Ray of our own, even when another one runs on this machine
        ray.init(address="local", num_cpus=cfg.max_cpus or os.cpu_count(), include_dashboard=False, **options)
    try:
        resources = ray.cluster_resources()
        print(f"ray: {len(ray.nodes())} node(s), {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs",
              file=sys.stderr)
        yield resources
    finally:
        ray.shutdown()


def run_resources(device: str, num_threads: int, cfg: ClusterConfig, cluster: Mapping[str, float]) -> Resources:
    """A CUDA run asks for a share of a GPU (and one CPU); a CPU run for the threads it trains with."""
    on_gpu = device.startswith("cuda") or (device == "auto" and cluster.get("GPU", 0) > 0)
    return Resources(cpus=1, gpus=cfg.gpus_per_run) if on_gpu and cfg.gpus_per_run > 0 else Resources(cpus=num_threads)


def run_all(fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], resources: Resources, cfg: ClusterConfig,
            shared: Mapping[str, Any], describe: Callable[[tuple[Any, ...]], str] = str) -> list[Any]:
    """`fn(*job, **shared)` for every job, as Ray tasks (or in this process); results in the jobs' order.

    `shared` (the data every job reads) goes into Ray's object store once. The first job that raises
    cancels the rest and re-raises; a worker that dies is retried up to `cfg.max_retries` times.
    """
    if cfg.executor == "local":
        return [fn(*job, **shared) for job in jobs]
    import ray

    refs = {key: ray.put(value) for key, value in shared.items()}
    task = ray.remote(_in_driver_folder).options(num_cpus=resources.cpus, num_gpus=resources.gpus,
                                                 max_retries=cfg.max_retries, retry_exceptions=False)
    pending = {task.remote(fn, os.getcwd(), job, refs): index for index, job in enumerate(jobs)}
    results: list[Any] = [None] * len(jobs)
    began = time.perf_counter()
    try:
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done)
            results[index] = ray.get(done)
            print(f"[{len(jobs) - len(pending)}/{len(jobs)}, {time.perf_counter() - began:.0f} s] "
                  f"{describe(jobs[index])} done", file=sys.stderr)
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return results


def _in_driver_folder(fn: Callable[..., Any], folder: str, job: tuple[Any, ...], shared: dict[str, Any]) -> Any:
    """Run a job from the driver's folder (relative paths, git context), when this node has it."""
    import ray

    if os.path.isdir(folder):
        os.chdir(folder)
    return fn(*job, **{key: ray.get(ref) for key, ref in shared.items()})
