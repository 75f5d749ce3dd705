"""Stage subword: at every `subword` seed, a `train` entry's classifier on word ids and the same classifier whose
tokens also carry their character n-grams' vectors, each scored on test; and TF-IDF with and without its character
n-grams, beside them."""

import argparse
import dataclasses
import os
from pathlib import Path

import pandas as pd
import torch

from rnnlab.classifiers.ngram import encode_types
from rnnlab.config import ModelConfig, TfidfConfig, TrainerConfig
from rnnlab.data.datasets import class_names
from rnnlab.data.files import atomic_path, write_json
from rnnlab.params import NonNegativeInt, PositiveInt, load_section, require_entry
from rnnlab.process import run_stage
from rnnlab.studies.shared import seed_row, summary, variant_configs
from rnnlab.studies.zoo.subword import (
    ARMS,
    OFFSETS,
    SubwordConfig,
    report,
    tfidf_rows,
    train_arm,
)
from rnnlab.text.features import load_features
from rnnlab.text.vocab import Vocab
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run

STAGE = "subword"
TARGET_MARGIN = 0.01  # issue 16: a recurrent classifier at least TF-IDF + 0.01


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/zoo/params.yaml")
    parser.add_argument("--pipeline-params", default="params.yaml", help="the main pipeline's params")
    parser.add_argument("--preprocessed", type=Path, required=True, help="tokens, label, split")
    parser.add_argument("--vocab", type=Path, required=True, help="featurize's vocabulary (the word vectors' rows)")
    parser.add_argument("--tensors", type=Path, required=True, help="featurize's tensors (the words arm's input)")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True, help="Markdown: both arms beside TF-IDF")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg = load_section(args.params, "subword", SubwordConfig)
    trainer = load_section(args.pipeline_params, "trainer", TrainerConfig)
    require_entry(args.pipeline_params, "train", cfg.model, "subword.model")
    base = load_section(args.pipeline_params, f"train.{cfg.model}", ModelConfig)
    max_len = load_section(args.pipeline_params, "featurize.max_len", PositiveInt)
    model_cfg, trainer = variant_configs(base, trainer, cfg.overrides, "subword.overrides")
    torch.set_num_threads(trainer.num_threads)
    tfidf = load_section(args.pipeline_params, "tfidf", TfidfConfig)
    seed = load_section(args.params, "seed", NonNegativeInt)
    frame = pd.read_csv(args.preprocessed, dtype=str, keep_default_na=False)
    words, classes = load_features(args.tensors)
    if classes != class_names(frame):
        raise ValueError(f"{args.tensors}: classes {classes}, {args.preprocessed}'s are {class_names(frame)}")
    vocab = Vocab.load(args.vocab)
    data = encode_types(frame, vocab, classes, cfg, max_len)
    if any(not torch.equal(words[s].labels, data.splits[s].labels) for s in words):
        raise ValueError(f"{args.tensors}: its rows are not those of {args.preprocessed} (rerun `dvc repro`)")
    print(f"{len(data.types)} types ({len(vocab)} in the vocabulary), {data.n_ngrams} character n-grams")
    state = StageState(args.state_dir, STAGE, fingerprint(cfg, trainer, model_cfg, max_len,
                                                          files=[args.preprocessed, args.vocab, args.tensors]))
    rows, records = {arm + suffix: [] for arm in ARMS for suffix in ("", OFFSETS)}, []
    for run_seed in cfg.seeds:
        for arm in ARMS:
            run = state.run(f"{arm}_seed{run_seed}")
            if run.result is None:  # else finished by an earlier, interrupted attempt
                with mlflow_run(f"subword-{arm}-seed{run_seed}", os.environ, stage=STAGE, experiment="rnnlab-zoo",
                                run_id=run.run_id) as tracker:
                    tracker.set_tags({"subword.arm": arm, "subword.model": cfg.model})
                    result, test, adjusted, offsets = train_arm(arm, model_cfg, trainer, vocab, words, data, cfg,
                                                                classes, run_seed, tracker, run)
                    tracker.log_params({f"decision_offset.{c}": o for c, o in zip(classes, offsets)})
                    tracker.log_metrics({"test_macro_f1": test["macro_f1"], "test_accuracy": test["accuracy"],
                                         "test_macro_f1_offsets": adjusted["macro_f1"]})
                row = seed_row(run_seed, result.best, result.best_position, test)
                run.finish(tracker.run_id, {"row": row, "timings": result.timings, "offsets_row": {
                    **seed_row(run_seed, result.best, result.best_position, adjusted), "offsets": offsets}})
            rows[arm].append(run.result["row"])
            rows[arm + OFFSETS].append(run.result["offsets_row"])
            records.append({"arm": arm, "seed": run_seed, "run_id": run.run_id, "timings": run.result["timings"]})
            print(f"{arm} seed {run_seed}: test macro-F1 {rows[arm][-1]['test_macro_f1']:.4f}")
    metrics = {"model": cfg.model, "overrides": dataclasses.asdict(cfg.overrides), "types": len(data.types),
               "vocabulary": len(vocab), "ngrams": data.n_ngrams, **{key: summary(part) for key, part in rows.items()},
               **tfidf_rows(frame, tfidf, classes, seed)}
    write_json(args.metrics, metrics)
    with atomic_path(args.report) as tmp:
        tmp.write_text(report(metrics, TARGET_MARGIN), encoding="utf-8")
    write_json(args.run_record, {"stage": STAGE, "runs": records})
    state.clear()
    for name in (*rows, "tfidf_words", "tfidf", "tfidf" + OFFSETS):
        mean = metrics[name].get("test_macro_f1_mean", metrics[name].get("test_macro_f1"))
        print(f"{name}: test macro-F1 {mean:.4f}")


if __name__ == "__main__":
    run_stage(main)
