"""Stage train@<name>: train one recurrent classifier from `train.<name>` in params.yaml."""

import argparse
import os
from pathlib import Path

import torch

from rnnlab.checkpoint import Classifier, save_checkpoint
from rnnlab.config import ModelConfig, load_section, load_seed
from rnnlab.download import sha256_file
from rnnlab.features import load_features
from rnnlab.files import write_json
from rnnlab.models import count_parameters
from rnnlab.text import load_stopwords
from rnnlab.tracking import mlflow_run
from rnnlab.training import history_rows, train_classifier
from rnnlab.vocab import Vocab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--name", required=True, help="model entry under `train`")
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--tensors", type=Path, required=True)
    parser.add_argument("--nltk-data", type=Path, required=True, help="the stopwords travel in the checkpoint")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True)
    args = parser.parse_args()

    trainer = load_section(args.params, "trainer")
    model_cfg = load_section(args.params, f"train.{args.name}", ModelConfig)
    preprocess, featurize = load_section(args.params, "preprocess"), load_section(args.params, "featurize")
    torch.set_num_threads(trainer.num_threads)
    splits, classes = load_features(args.tensors)
    vocab = Vocab.load(args.vocab)

    with mlflow_run(args.name, os.environ, stage=f"train@{args.name}") as tracker:
        tracker.set_tags({"data.tensors.sha256": sha256_file(args.tensors), "data.vocab.sha256": sha256_file(args.vocab)})
        model, result = train_classifier(
            model_cfg, trainer, list(vocab.itos), splits, len(classes), tracker, load_seed(args.params)
        )
        meta = {
            "name": args.name, "run_id": tracker.run_id, "best_epoch": result.best_epoch,
            "n_parameters": count_parameters(model), "val_macro_f1": result.best.val_macro_f1,
            "history": history_rows(result),
            "stopwords": sorted(load_stopwords(args.nltk_data, preprocess.keep_negations)),
        }
        save_checkpoint(args.checkpoint, Classifier(model, model_cfg, vocab, classes, preprocess, featurize.max_len, meta))
        write_json(args.history, history_rows(result))
        tracker.log_artifact(args.checkpoint, "checkpoint")
    print(f"{args.name}: best epoch {result.best_epoch}, val macro-F1 {result.best.val_macro_f1:.4f}")


if __name__ == "__main__":
    main()
