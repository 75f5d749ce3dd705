"""Stage zoo: every zoo variant at every seed, as Ray tasks side by side; metrics per variant."""

import argparse
import os
import time
from pathlib import Path

from rnnlab.cluster import ray_session, run_all, run_resources
from rnnlab.config import ClusterConfig, ModelConfig, TrainerConfig, Variant
from rnnlab.data.files import sha256_file, write_json
from rnnlab.params import Seeds, load_section
from rnnlab.process import run_stage
from rnnlab.studies.shared import variant_configs
from rnnlab.studies.zoo.zoo import ZooRun, summarize, train_run
from rnnlab.text.features import load_features
from rnnlab.text.vocab import Vocab
from rnnlab.training.resume import StageState, fingerprint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/zoo/params.yaml")
    parser.add_argument("--pipeline-params", default="params.yaml", help="the main pipeline's params")
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--tensors", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder: one metrics JSON per variant")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids, epoch timings, wall time")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    began = time.perf_counter()
    seeds = load_section(args.params, "zoo.seeds", Seeds)
    variants = load_section(args.params, "zoo.variants", dict[str, Variant])
    base = load_section(args.params, "zoo.base", ModelConfig)
    trainer = load_section(args.params, "zoo.trainer", TrainerConfig)
    cluster = load_section(args.pipeline_params, "cluster", ClusterConfig)
    configs = {name: variant_configs(base, trainer, v, f"{args.params}: zoo.variants.{name}")
               for name, v in variants.items()}
    inputs = [sha256_file(args.tensors), sha256_file(args.vocab)]
    stage = StageState(args.state_dir, "zoo", fingerprint(inputs))
    jobs = [(ZooRun(name, seed, model, run_trainer, (stage.folder / f"{name}@seed{seed}.pt").resolve(),
                    fingerprint(model, run_trainer, seed, inputs)),)
            for name, (model, run_trainer) in configs.items() for seed in seeds]
    splits, classes = load_features(args.tensors)
    shared = {"splits": splits, "itos": list(Vocab.load(args.vocab).itos), "classes": classes, "env": dict(os.environ)}
    with ray_session(cluster, os.environ) as resources:
        need = run_resources(trainer.device, max(t.num_threads for _, t in configs.values()), cluster, resources)
        results = run_all(train_run, jobs, need, cluster, shared, describe=lambda job: f"{job[0].variant}/seed{job[0].seed}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in configs:
        done = [r for (job,), r in zip(jobs, results, strict=True) if job.variant == name]
        write_json(args.out / f"{name}.json", summarize(name, [r["result"]["run"] for r in done],
                                                        done[0]["result"]["n_parameters"]))
    write_json(args.run_record, {
        "stage": "zoo", "executor": cluster.executor, "cluster": resources, "seconds": time.perf_counter() - began,
        "runs": [{"variant": job.variant, "seed": job.seed, "run_id": r["run_id"], "timings": r["result"]["timings"]}
                 for (job,), r in zip(jobs, results, strict=True)]})
    stage.clear()


if __name__ == "__main__":
    run_stage(main)
