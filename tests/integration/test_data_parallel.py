"""Data-parallel training under Ray Train on 2 CPU workers: identical weights, the loss curve, the shard arithmetic."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from rnnlab.models.classifier import build_model
from rnnlab.text.batching import bucketed_batches, encode_split, iterate
from rnnlab.text.vocab import build_vocab
from rnnlab.training import distributed
from rnnlab.training.classification import ClassificationObjective, fit, shard_batches
from rnnlab.training.loop import Optimization, set_seed, train
from rnnlab.training.tracking import MemoryTracker
from tests.configs import model_config, trainer_config
from tests.integration.test_training import synthetic_docs

ROOT = Path(__file__).resolve().parents[2]
MODEL = model_config(cell="lstm", embedding_dim=16, hidden_size=16, pooling="max")
# patience = epochs: every epoch runs, so the step count follows from the shard arithmetic alone
TRAINER = trainer_config(device="cpu", epochs=3, batch_size=16, lr=0.01, patience=3, num_threads=1)
SEED = 0


@pytest.fixture(scope="module")
def data():
    train_docs, train_y = synthetic_docs(400, 0)
    val_docs, val_y = synthetic_docs(100, 1)
    vocab = build_vocab(train_docs, max_size=100, min_freq=1)
    return list(vocab.itos), {"train": encode_split(train_docs, train_y, vocab, 20),
                              "val": encode_split(val_docs, val_y, vocab, 20)}


@pytest.fixture(scope="module")
def local_ray(ray_alone):
    ray = pytest.importorskip("ray")
    # the workers import this test module (digest_worker) from the repository
    env_vars = {"PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    # a Ray of its own ("local"), not one another process started on this machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env_vars})
    yield ray
    ray.shutdown()


def _digest(optimizer: torch.optim.Optimizer) -> str:
    params = [p for group in optimizer.param_groups for p in group["params"]]
    return hashlib.sha256(b"".join(p.detach().cpu().numpy().tobytes() for p in params)).hexdigest()


def digest_worker(config: dict) -> None:
    """The library's worker, with a digest of the weights recorded after every optimizer step."""
    import ray.train

    digests: list[str] = []
    handle = register_optimizer_step_post_hook(lambda opt, args, kwargs: digests.append(_digest(opt)))
    try:
        distributed.train_worker(config)
    finally:
        handle.remove()
    distributed.report({f"digests_{ray.train.get_context().get_world_rank()}": digests})


def steps_per_worker(lengths: torch.Tensor, world: int) -> int:
    """Optimizer steps each worker takes: the same epoch lists the objective draws, cut to a multiple of `world`."""
    generator = torch.Generator().manual_seed(SEED)
    return sum(len(bucketed_batches(lengths, TRAINER.batch_size, generator)) // world for _ in range(TRAINER.epochs))


@pytest.mark.parametrize(("n", "world"), [(10, 1), (10, 2), (11, 2), (7, 3), (2, 3)])
def test_shards_are_disjoint_equal_and_cover_the_truncated_epoch(n, world):
    batches = [torch.tensor([i]) for i in range(n)]
    shares = [shard_batches(batches, (rank, world)) for rank in range(world)]
    taken = [int(b) for share in shares for b in share]
    assert len(taken) == len(set(taken))  # disjoint
    assert {len(share) for share in shares} == {n // world}  # equal: every worker takes as many steps
    assert sorted(taken) == list(range(n - n % world))  # the whole epoch, less its last n % world batches
    assert shard_batches(batches, (0, 1)) is batches  # one worker: the list itself, as before


def test_two_workers_keep_identical_weights_after_every_step(data, local_ray):
    itos, splits = data
    config = distributed.worker_config(MODEL, TRAINER, itos, splits, 2, SEED, os.environ, None)
    outputs = distributed.run_workers(digest_worker, config, workers=2, threads=1, use_gpu=False)
    rank0, rank1 = outputs["digests_0"], outputs["digests_1"]
    assert len(rank0) == steps_per_worker(splits["train"].lengths, 2) > 0
    assert rank0 == rank1
    assert len(set(rank0)) == len(rank0)  # the weights did move at every step


class MergedPairs(ClassificationObjective):
    """What 2 DDP workers compute together, in one process: each step on batches 2i and 2i+1 of the epoch's
    list at once, the summed loss divided by twice the nominal batch (DDP averages the 2 workers' gradients)."""

    def rounds(self):
        for epoch in range(1, self.cfg.epochs + 1):
            batches = bucketed_batches(self.train.lengths, self.cfg.batch_size, self.generator)
            yield epoch, iterate(self.train, [torch.cat(batches[i : i + 2]) for i in range(0, len(batches) - 1, 2)])

    def loss(self, model, batch):
        loss, n, divisor = super().loss(model, batch)
        return loss, n, 2 * divisor


def test_two_workers_follow_one_workers_loss_curve(data, local_ray):
    """The curves of 2 workers, of the one-process run they are equivalent to, and of 1 worker.

    Against the equivalent run (MergedPairs): the same weights after every epoch up to float summation
    order, so the per-epoch validation loss agrees to 1e-3 relative (measured: ~1e-7).
    Against 1 worker with the same settings: 2 workers take half as many steps per epoch with twice the
    effective batch, so per epoch their train loss lags 1 worker's, and per optimizer step it leads
    (bigger batches, less noise): 2 workers' epoch 2k lies below 1 worker's epoch k, their epoch k above it.
    Measured (lr 0.01): 1 worker 0.648 0.307 0.027 0.005, 2 workers 0.683 0.541 0.256 0.064. The first
    epoch is left out: both sit near ln 2 there.
    """
    itos, splits = data
    trainer = dataclasses.replace(TRAINER, epochs=4, patience=4)
    tracker = MemoryTracker()
    model, result = distributed.fit_data_parallel(MODEL, trainer, itos, splits, 2, SEED, 2, os.environ, tracker)
    set_seed(SEED)
    merged = MergedPairs(splits["train"], splits["val"], trainer, 2, SEED, torch.device("cpu"))
    equivalent = train(build_model(MODEL, len(itos), 2), merged, Optimization(trainer.lr, 0.0, trainer.clip_grad_norm),
                       torch.device("cpu"), MemoryTracker(), patience=trainer.patience)
    set_seed(SEED)
    single = fit(build_model(MODEL, len(itos), 2), splits["train"], splits["val"], trainer, MemoryTracker(), SEED)
    val2, val_eq = [r["val_loss"] for r in result.history], [r["val_loss"] for r in equivalent.history]
    one, two = [r["train_loss"] for r in single.history], [r["train_loss"] for r in result.history]
    print(f"val loss: 2 workers {val2}, equivalent {val_eq}; train loss: 1 worker {one}, 2 workers {two}")
    assert all(abs(a - b) / b < 1e-3 for a, b in zip(val2, val_eq, strict=True))
    assert all(one[k] < two[k] for k in (1, 2, 3)) and all(two[2 * k + 1] < one[k] for k in (0, 1))
    assert all("module." not in key for key in model.state_dict())
    assert all(torch.equal(model.state_dict()[k], v) for k, v in result.best_state.items())
    assert tracker.params["data_parallel.workers"] == 2 and [s for s, _ in tracker.metrics[-4:]] == [1, 2, 3, 4]
