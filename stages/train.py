"""Stage train@<name>: train one recurrent classifier from `train.<name>` in params.yaml."""

import argparse
import os
from pathlib import Path

import torch

from rnnlab.checkpoint import Classifier, save_checkpoint
from rnnlab.config import ModelConfig, flatten, load_section, load_seed
from rnnlab.download import sha256_file
from rnnlab.embeddings import pretrained_matrix
from rnnlab.features import load_features
from rnnlab.files import write_json
from rnnlab.models import build_model, count_parameters
from rnnlab.tracking import mlflow_run
from rnnlab.training import fit, history_rows, set_seed
from rnnlab.vocab import Vocab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--name", required=True, help="model entry under `train`")
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--tensors", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True)
    args = parser.parse_args()

    trainer = load_section(args.params, "trainer")
    model_cfg = load_section(args.params, f"train.{args.name}", ModelConfig)
    seed = load_seed(args.params)
    torch.set_num_threads(trainer.num_threads)
    set_seed(seed)
    splits, classes = load_features(args.tensors)
    vocab = Vocab.load(args.vocab)
    pretrained, coverage = None, None
    if model_cfg.embeddings == "navec":
        pretrained, coverage = pretrained_matrix(list(vocab.itos), model_cfg.embedding_dim, seed)
    model = build_model(model_cfg, len(vocab), len(classes), pretrained)

    with mlflow_run(args.name, os.environ, stage=f"train@{args.name}") as tracker:
        n_params = count_parameters(model)
        tracker.log_params({"model": args.name, "seed": seed, "n_parameters": n_params,
                            **flatten(trainer, "trainer."), **flatten(model_cfg, "model.")})
        tracker.set_tags({"data.tensors.sha256": sha256_file(args.tensors), "data.vocab.sha256": sha256_file(args.vocab)})
        if coverage is not None:
            tracker.log_metrics({"navec_coverage": coverage})
        result = fit(model, splits["train"], splits["val"], trainer, tracker, seed)
        meta = {"name": args.name, "run_id": tracker.run_id, "best_epoch": result.best_epoch, "n_parameters": n_params,
                "val_macro_f1": result.best.val_macro_f1, "history": history_rows(result)}
        preprocess, featurize = load_section(args.params, "preprocess"), load_section(args.params, "featurize")
        save_checkpoint(args.checkpoint, Classifier(model, model_cfg, vocab, classes, preprocess, featurize.max_len, meta))
        write_json(args.history, history_rows(result))
        tracker.log_artifact(args.checkpoint, "checkpoint")
    print(f"{args.name}: best epoch {result.best_epoch}, val macro-F1 {result.best.val_macro_f1:.4f}, {n_params:,} parameters")


if __name__ == "__main__":
    main()
