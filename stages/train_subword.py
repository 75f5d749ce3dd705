"""Stage train_subword@<name>: a `train` entry's classifier with character n-gram vectors, from
`train_subword.<name>` in params.yaml (the zoo study `subword`'s subwords arm, at the pipeline's seed)."""

import argparse
import dataclasses
from pathlib import Path

import pandas as pd
import torch

from rnnlab.classifiers.ngram import KIND, SubwordEntry, train_entry
from rnnlab.config import ModelConfig, TextConfig, TrainerConfig
from rnnlab.data.datasets import class_names
from rnnlab.data.files import sha256_file
from rnnlab.models.classifier import count_parameters
from rnnlab.params import NonNegativeInt, PositiveInt, load_section, require_entry
from rnnlab.process import run_stage
from rnnlab.text.tokenizer import load_stopwords
from rnnlab.text.vocab import Vocab
from rnnlab.training.checkpoint import Checkpoint, save_checkpoint
from rnnlab.training.resume import fingerprint
from rnnlab.training.stage import tracked_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--name", required=True, help="model entry under `train_subword`")
    parser.add_argument("--vocab", type=Path, required=True, help="featurize's vocabulary (the word vectors' rows)")
    parser.add_argument("--preprocessed", type=Path, required=True, help="tokens, label, split")
    parser.add_argument("--nltk-data", type=Path, required=True, help="the stopwords travel in the checkpoint")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and epoch timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    entry = load_section(args.params, f"train_subword.{args.name}", SubwordEntry)
    seed = load_section(args.params, "seed", NonNegativeInt)
    # only the `train` entry it extends: an edit of another entry does not retrain it
    require_entry(args.params, "train", entry.model, f"train_subword.{args.name}.model")
    trainer = load_section(args.params, "trainer", TrainerConfig)
    model_cfg = load_section(args.params, f"train.{entry.model}", ModelConfig)
    text = load_section(args.params, "preprocess.text", TextConfig)
    max_len = load_section(args.params, "featurize.max_len", PositiveInt)
    torch.set_num_threads(trainer.num_threads)
    frame = pd.read_csv(args.preprocessed, dtype=str, keep_default_na=False)
    classes, vocab = class_names(frame), Vocab.load(args.vocab)
    stopwords = sorted(load_stopwords(args.nltk_data, text.keep_negations))
    stage = f"train_subword@{args.name}"
    inputs = fingerprint(entry, model_cfg, trainer, seed, text, max_len, stopwords,
                         files=[args.preprocessed, args.vocab])
    with tracked_stage(args.state_dir, stage, inputs, args.run_record, args.name) as current:
        run, tracker = current.run, current.tracker
        tracker.set_tags({"data.preprocessed.sha256": sha256_file(args.preprocessed),
                          "data.vocab.sha256": sha256_file(args.vocab)})
        model, shell, ngrams, result, offsets = train_entry(entry, model_cfg, trainer, vocab, frame,
                                                            classes, max_len, seed, tracker, run)
        meta = {
            "name": args.name, "best_epoch": result.best_position, "n_parameters": count_parameters(model),
            "val_macro_f1": result.best["val_macro_f1"], "history": result.history,
            "preprocess": dataclasses.asdict(text), "max_len": max_len, "stopwords": stopwords, "ngrams": ngrams,
            "decision_offsets": offsets,
        }
        save_checkpoint(args.checkpoint, Checkpoint(KIND, shell, model, vocab, classes, meta))
        tracker.log_artifact(args.checkpoint, "checkpoint")
        current.record["timings"] = result.timings
    print(f"{args.name}: best epoch {result.best_position}, val macro-F1 {result.best['val_macro_f1']:.4f}, "
          f"decision offsets {offsets}")


if __name__ == "__main__":
    run_stage(main)
