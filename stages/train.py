"""Stage train@<name>: train one recurrent classifier from `train.<name>` in params.yaml."""

import argparse
import dataclasses
import os
from pathlib import Path

import torch

from rnnlab.cluster import ray_session
from rnnlab.config import (
    ClusterConfig,
    DataParallelConfig,
    ModelConfig,
    TextConfig,
    TrainerConfig,
)
from rnnlab.data.files import sha256_file
from rnnlab.models.classifier import count_parameters
from rnnlab.params import NonNegativeInt, PositiveInt, load_section
from rnnlab.process import run_stage
from rnnlab.text.features import load_features
from rnnlab.text.tokenizer import load_stopwords
from rnnlab.text.vocab import Vocab
from rnnlab.training.attention import KIND, classifier_kind, train_attention
from rnnlab.training.checkpoint import Checkpoint, save_checkpoint
from rnnlab.training.classification import train_classifier
from rnnlab.training.distributed import fit_data_parallel
from rnnlab.training.resume import fingerprint
from rnnlab.training.stage import tracked_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--name", required=True, help="model entry under `train`")
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--tensors", type=Path, required=True)
    parser.add_argument("--nltk-data", type=Path, required=True, help="the stopwords travel in the checkpoint")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and epoch timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    trainer = load_section(args.params, "trainer", TrainerConfig)
    seed = load_section(args.params, "seed", NonNegativeInt)
    workers = load_section(args.params, "data_parallel", DataParallelConfig).workers
    model_cfg = load_section(args.params, f"train.{args.name}", ModelConfig)
    text = load_section(args.params, "preprocess.text", TextConfig)
    max_len = load_section(args.params, "featurize.max_len", PositiveInt)
    torch.set_num_threads(trainer.num_threads)
    splits, classes = load_features(args.tensors)
    vocab = Vocab.load(args.vocab)

    stopwords = sorted(load_stopwords(args.nltk_data, text.keep_negations))
    stage = f"train@{args.name}"
    inputs = fingerprint(trainer, seed, model_cfg, text, max_len, stopwords, files=[args.tensors, args.vocab])
    with tracked_stage(args.state_dir, stage, inputs, args.run_record, args.name) as current:
        run, tracker = current.run, current.tracker
        tracker.set_tags({"data.tensors.sha256": sha256_file(args.tensors), "data.vocab.sha256": sha256_file(args.vocab)})
        itos = list(vocab.itos)
        kind = classifier_kind(model_cfg)
        if kind == KIND:  # a learned pooling: the attention classifier's builder (in this process)
            if workers != 1:
                raise ValueError(f"train.{args.name}: pooling 'attention' trains in one process "
                                 f"(data_parallel.workers: 1, not {workers})")
            model, result = train_attention(model_cfg, trainer, itos, splits, len(classes), tracker, seed, run)
        elif workers == 1:
            model, result = train_classifier(model_cfg, trainer, itos, splits, len(classes), tracker, seed, run)
        else:  # Ray Train workers, each a share of every epoch (no resuming: a stopped run starts over)
            with ray_session(load_section(args.params, "cluster", ClusterConfig), os.environ):
                model, result = fit_data_parallel(model_cfg, trainer, itos, splits, len(classes), seed, workers,
                                                  os.environ, tracker)
        meta = {
            "name": args.name, "best_epoch": result.best_position, "n_parameters": count_parameters(model),
            "val_macro_f1": result.best["val_macro_f1"], "history": result.history,
            "preprocess": dataclasses.asdict(text), "max_len": max_len,
            "stopwords": stopwords,
        }
        save_checkpoint(args.checkpoint, Checkpoint(kind, model_cfg, model, vocab, classes, meta))
        tracker.log_artifact(args.checkpoint, "checkpoint")
        current.record["timings"] = result.timings
    print(f"{args.name}: best epoch {result.best_position}, val macro-F1 {result.best['val_macro_f1']:.4f}")


if __name__ == "__main__":
    run_stage(main)
