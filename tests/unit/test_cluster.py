"""What a training run asks Ray for, and the executor that runs jobs in the stage's own process."""

from __future__ import annotations

import pytest

from rnnlab.cluster import Resources, run_all, run_resources
from rnnlab.config import ClusterConfig

CLUSTER = ClusterConfig(executor="ray", max_cpus=0, gpus_per_run=0.25, max_retries=3)


@pytest.mark.parametrize(("device", "cluster", "expected"), [
    ("auto", {"CPU": 8.0}, Resources(cpus=2)),  # no GPU in the cluster: the run's threads
    ("auto", {"CPU": 8.0, "GPU": 1.0}, Resources(cpus=1, gpus=0.25)),  # four runs share a GPU
    ("cuda", {"CPU": 8.0}, Resources(cpus=1, gpus=0.25)),
    ("cpu", {"CPU": 8.0, "GPU": 1.0}, Resources(cpus=2)),
])
def test_a_run_asks_for_a_share_of_a_gpu_on_cuda_and_for_its_threads_on_a_cpu(device, cluster, expected):
    assert run_resources(device, 2, CLUSTER, cluster) == expected


def test_gpus_per_run_zero_keeps_runs_on_cpus():
    cpus_only = ClusterConfig(executor="ray", max_cpus=0, gpus_per_run=0.0, max_retries=0)
    assert run_resources("auto", 1, cpus_only, {"CPU": 4.0, "GPU": 2.0}) == Resources(cpus=1)


def test_the_local_executor_runs_every_job_in_order_with_the_shared_data():
    local = ClusterConfig(executor="local", max_cpus=0, gpus_per_run=0.0, max_retries=0)
    results = run_all(lambda a, b, scale: (a + b) * scale, [(1, 2), (3, 4), (5, 6)], Resources(cpus=1), local,
                      {"scale": 10})
    assert results == [30, 70, 110]
