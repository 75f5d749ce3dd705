"""Stage tune_seeds: the search's chosen configuration (the tune stage's params fragment on `train` and `trainer`)
retrained at each of the zoo's seeds and scored on the test split: what the search found, as the zoo and the
pretraining study report a model (mean +- std over seeds), not one seed's test score."""

import argparse
import os
import statistics
from pathlib import Path

import torch

from rnnlab.config import ModelConfig, TrainerConfig, Variant
from rnnlab.data.files import write_json
from rnnlab.params import ConfigError, Seeds, flatten, load_section, read_params
from rnnlab.process import run_stage
from rnnlab.studies.shared import every_seed, variant_configs
from rnnlab.text.features import load_features
from rnnlab.text.vocab import Vocab
from rnnlab.training.classification import predict_logits, train_classifier
from rnnlab.training.loop import resolve_device
from rnnlab.training.metrics import score
from rnnlab.training.resume import StageState, fingerprint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/tune/params.yaml")
    parser.add_argument("--pipeline-params", default="params.yaml", help="the main pipeline's params")
    parser.add_argument("--best", type=Path, required=True, help="the tune stage's params fragment")
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--tensors", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    fragment = read_params(args.best)
    model = load_section(args.params, "tune.model", str)
    base = load_section(args.pipeline_params, f"train.{model}", ModelConfig)
    trainer = load_section(args.pipeline_params, "trainer", TrainerConfig)
    if set(fragment) != {"train", "trainer"} or list(fragment["train"]) != [model]:
        raise ConfigError(f"{args.best}: expected train: {{{model}: ...}} (tune.model) and trainer: ...")
    overrides = fragment["train"][model]
    model_cfg, trainer_cfg = variant_configs(base, trainer, Variant(overrides, fragment["trainer"]),
                                             str(args.best))
    seeds = load_section(args.params, "seeds", Seeds)
    if not seeds:
        raise ConfigError(f"{args.params}: seeds: at least one seed")
    torch.set_num_threads(trainer_cfg.num_threads)
    splits, classes = load_features(args.tensors)
    itos = list(Vocab.load(args.vocab).itos)
    state = StageState(args.state_dir, "tune_seeds", fingerprint(model_cfg, trainer_cfg, list(seeds),
                                                                 files=[args.tensors, args.vocab]))

    def train_seed(seed, tracker, run):
        classifier, result = train_classifier(model_cfg, trainer_cfg, itos, splits, len(classes), tracker, seed, run)
        logits = predict_logits(classifier, splits["test"], 512, resolve_device(trainer_cfg.device))
        return classifier, result, score(splits["test"].labels.tolist(), logits.argmax(1).tolist(), classes)

    rows, records = every_seed(seeds, train_seed, state, "tune_seeds", "chosen", {"model": model}, os.environ,
                               experiment="rnnlab-tune", tags={})
    f1 = [r["test_macro_f1"] for r in rows]
    metrics = {"model": model, "config": {**flatten(model_cfg, "model."), **flatten(trainer_cfg, "trainer.")},
               "test_macro_f1_mean": statistics.fmean(f1),
               "test_macro_f1_std": statistics.stdev(f1) if len(f1) > 1 else 0.0, "seeds": rows}
    write_json(args.metrics, metrics)
    write_json(args.run_record, {"stage": "tune_seeds", "runs": records})
    state.clear()
    print(f"the search's choice over seeds {list(seeds)}: test macro-F1 {metrics['test_macro_f1_mean']:.4f} "
          f"+- {metrics['test_macro_f1_std']:.4f}")


if __name__ == "__main__":
    run_stage(main)
