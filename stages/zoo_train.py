"""Stage zoo@<variant>: train one zoo variant once per seed, score each on test."""

import argparse
import os
from pathlib import Path

import torch

from rnnlab.config import load_section
from rnnlab.features import load_features
from rnnlab.files import write_json
from rnnlab.metrics import score
from rnnlab.models import count_parameters
from rnnlab.tracking import mlflow_run
from rnnlab.training import predict_logits, resolve_device, train_classifier
from rnnlab.vocab import Vocab
from rnnlab.zoo import ZooConfig, summarize, variant_configs

EXPERIMENT = "rnnlab-zoo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--name", required=True, help="variant under `zoo.variants`")
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--tensors", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON of the variant")
    args = parser.parse_args()

    zoo = load_section(args.params, "zoo", ZooConfig)
    model_cfg, trainer = variant_configs(zoo, args.name, load_section(args.params, "trainer"), args.params)
    torch.set_num_threads(trainer.num_threads)
    splits, classes = load_features(args.tensors)
    itos = list(Vocab.load(args.vocab).itos)
    test = splits["test"]
    runs = []
    for seed in zoo.seeds:
        with mlflow_run(f"{args.name}/seed{seed}", os.environ, stage=f"zoo@{args.name}", experiment=EXPERIMENT) as tracker:
            tracker.set_tags({"zoo.variant": args.name})
            model, result = train_classifier(model_cfg, trainer, itos, splits, len(classes), tracker, seed)
            predicted = predict_logits(model, test, 512, resolve_device(trainer.device)).argmax(1).tolist()
            scores = score(test.labels.tolist(), predicted, classes)
            tracker.log_metrics({"test_macro_f1": scores["macro_f1"], "test_accuracy": scores["accuracy"]})
        epoch_seconds = sum(r.seconds for r in result.history) / len(result.history)
        runs.append({"seed": seed, "test_macro_f1": scores["macro_f1"], "test_accuracy": scores["accuracy"],
                     "val_macro_f1": result.best.val_macro_f1, "best_epoch": result.best_epoch, "epoch_seconds": epoch_seconds})
        print(f"{args.name} seed {seed}: test macro-F1 {scores['macro_f1']:.4f}, {epoch_seconds:.1f} s/epoch")
    write_json(args.out, summarize(args.name, runs, count_parameters(model)))


if __name__ == "__main__":
    main()
