"""Stage zoo_attention: the zoo's base model with attention pooling, at every zoo seed (Ray tasks side by side)."""

import argparse
import dataclasses
import os
import time
from pathlib import Path

from rnnlab.cluster import ray_session, run_all, run_resources
from rnnlab.config import ClusterConfig, ModelConfig, TextConfig, TrainerConfig, Variant
from rnnlab.data.files import atomic_path, sha256_file, write_json
from rnnlab.params import PositiveInt, Seeds, load_section
from rnnlab.process import run_stage
from rnnlab.studies.shared import variant_configs
from rnnlab.studies.zoo.attention import VARIANT, train_attention_run
from rnnlab.studies.zoo.zoo import ZooRun, summarize
from rnnlab.text.features import load_features
from rnnlab.text.tokenizer import load_stopwords
from rnnlab.text.vocab import Vocab
from rnnlab.training.resume import StageState, fingerprint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/zoo/params.yaml")
    parser.add_argument("--pipeline-params", default="params.yaml", help="the main pipeline's params")
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--tensors", type=Path, required=True)
    parser.add_argument("--nltk-data", type=Path, required=True, help="the stopwords travel in the checkpoint")
    parser.add_argument("--out", type=Path, required=True, help="folder: the variant's metrics JSON")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the first seed's model")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids, epoch timings, wall time")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    began = time.perf_counter()
    seeds = load_section(args.params, "zoo.seeds", Seeds)
    cluster = load_section(args.pipeline_params, "cluster", ClusterConfig)
    base, trainer = load_section(args.params, "zoo.base", ModelConfig), load_section(args.params, "zoo.trainer", TrainerConfig)
    model, trainer = variant_configs(base, trainer, load_section(args.params, "zoo.attention", Variant),
                                     f"{args.params}: zoo.attention")
    text = load_section(args.pipeline_params, "preprocess.text", TextConfig)
    max_len = load_section(args.pipeline_params, "featurize.max_len", PositiveInt)
    meta = {"preprocess": dataclasses.asdict(text), "max_len": max_len,
            "stopwords": sorted(load_stopwords(args.nltk_data, text.keep_negations))}
    inputs = [sha256_file(args.tensors), sha256_file(args.vocab)]
    stage = StageState(args.state_dir, "zoo_attention", fingerprint(inputs))
    jobs = [(ZooRun(VARIANT, seed, model, trainer, (stage.folder / f"seed{seed}.pt").resolve(),
                    fingerprint(model, trainer, seed, meta, inputs)), (stage.folder / f"seed{seed}.ckpt.pt").resolve())
            for seed in seeds]
    splits, classes = load_features(args.tensors)
    shared = {"splits": splits, "itos": list(Vocab.load(args.vocab).itos), "classes": classes, "meta": meta,
              "env": dict(os.environ)}
    with ray_session(cluster, os.environ) as resources:
        need = run_resources(trainer.device, trainer.num_threads, cluster, resources)
        results = run_all(train_attention_run, jobs, need, cluster, shared, describe=lambda job: f"seed{job[0].seed}")
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / f"{VARIANT}.json", summarize(VARIANT, [r["result"]["run"] for r in results],
                                                       results[0]["result"]["n_parameters"]))
    with atomic_path(args.checkpoint) as tmp:
        tmp.write_bytes(jobs[0][1].read_bytes())
    write_json(args.run_record, {
        "stage": "zoo_attention", "executor": cluster.executor, "cluster": resources,
        "seconds": time.perf_counter() - began,
        "runs": [{"variant": VARIANT, "seed": job.seed, "run_id": r["run_id"], "timings": r["result"]["timings"]}
                 for (job, _), r in zip(jobs, results, strict=True)]})
    stage.clear()


if __name__ == "__main__":
    run_stage(main)
