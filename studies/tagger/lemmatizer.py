"""Stage lemmatizer: character-level seq2seq lemmatisers on UD Russian Taiga, one per training schedule (teacher
forcing, scheduled sampling, free running), each decoded greedily and with beam search, beside pymorphy3."""

import argparse
import os
from pathlib import Path

import torch

from rnnlab.data.conllu import read_conllu
from rnnlab.data.files import atomic_path, write_json
from rnnlab.params import NonNegativeInt, load_section
from rnnlab.process import run_stage
from rnnlab.studies.tagger.lemmatizer import (
    LemmatizerConfig,
    decode,
    encode_pairs,
    exact_match,
    pymorphy3_lemmas,
    spell,
    train_lemmatizer,
    triples,
)
from rnnlab.training.checkpoint import save_checkpoint
from rnnlab.training.resume import StageState, fingerprint
from rnnlab.training.tracking import mlflow_run

TREEBANK = "ud_taiga/ru_taiga-ud-{}.conllu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/tagger/params.yaml")
    parser.add_argument("--raw", type=Path, required=True, help="downloaded corpora, <corpus>/<file>")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the schedule with the best validation score")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True, help="Markdown: the schedules and decoders compared")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run ids and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg = load_section(args.params, "lemmatizer", LemmatizerConfig)
    seed = load_section(args.params, "seed", NonNegativeInt)
    torch.set_num_threads(cfg.trainer.num_threads)
    paths = {split: args.raw / TREEBANK.format(split) for split in ("train", "dev", "test")}
    data = {split: read_conllu(path) for split, path in paths.items()}
    train_pairs, val_pairs = triples(data["train"]), triples(data["dev"])
    test = [t for s in data["test"] for t in zip(s.forms, s.upos, s.lemmas)]  # every token of the running text
    words = list(dict.fromkeys((form, tag) for form, tag, _ in test))  # decoded once each
    known = {form for form, _, _ in train_pairs}
    state = StageState(args.state_dir, "lemmatizer", fingerprint(cfg, seed, files=list(paths.values())))
    models, records, best = {}, [], None
    for schedule in cfg.schedules:
        run = state.run(schedule)
        with mlflow_run(f"lemmatizer-{schedule}", os.environ, stage="lemmatizer", experiment="rnnlab-lemmatizer",
                        run_id=run.run_id) as tracker:
            ckpt, result = train_lemmatizer(train_pairs, val_pairs, cfg, schedule, tracker, seed, run)
            split = encode_pairs([(form, tag, "") for form, tag in words], ckpt.vocab, cfg.model.max_len)
            row = {"best_epoch": result.best_position, "val_accuracy": result.best["val_accuracy"]}
            for decoder, width in (("greedy", 1), ("beam", cfg.beam_width)):
                lemmas = dict(zip(words, (spell(ckpt.vocab, ids) for ids in
                                          decode(ckpt.model, split, torch.device("cpu"), width, cfg.model.max_len))))
                row[decoder] = exact_match(test, [lemmas[(form, tag)] for form, tag, _ in test], known)
                tracker.log_metrics({f"test_{decoder}_{k}": v for k, v in row[decoder].items() if "accuracy" in k})
            models[schedule] = row
            records.append({"schedule": schedule, "run_id": tracker.run_id, "timings": result.timings})
            if best is None or row["val_accuracy"] > models[best[0]]["val_accuracy"]:
                best = (schedule, ckpt)
        print(f"{schedule}: test exact match greedy {row['greedy']['accuracy']:.4f}, "
              f"beam {row['beam']['accuracy']:.4f}")
    reference = dict(zip(words, pymorphy3_lemmas(words)))
    pymorphy = exact_match(test, [reference[(form, tag)] for form, tag, _ in test], known)
    save_checkpoint(args.checkpoint, best[1])
    metrics = {"pairs": {"train": len(train_pairs), "dev": len(val_pairs)}, "test_tokens": len(test),
               "best_schedule": best[0], "beam_width": cfg.beam_width, "models": models, "pymorphy3": pymorphy}
    write_json(args.metrics, metrics)
    write_json(args.run_record, {"stage": "lemmatizer", "runs": records})
    with atomic_path(args.report) as tmp:
        tmp.write_text(report(metrics), encoding="utf-8")
    state.clear()
    print(f"pymorphy3: test exact match {pymorphy['accuracy']:.4f}")


def report(metrics: dict) -> str:
    """The schedules and decoders as one Markdown table, pymorphy3 last."""
    n, unseen = metrics["test_tokens"], metrics["pymorphy3"]["unseen_tokens"]
    lines = ["# Lemmatisation: teacher forcing, scheduled sampling, free running", "",
             f"UD Russian Taiga, exact match of lowercased lemmas over {n:,} test tokens ({unseen:,} with a form "
             f"training never had); beam width {metrics['beam_width']}.", "",
             "| training | best epoch | val | greedy | greedy, unseen | beam | beam, unseen |",
             "|---|---|---|---|---|---|---|"]
    for schedule, row in metrics["models"].items():
        greedy, beam = row["greedy"], row["beam"]
        lines.append(f"| {schedule} | {row['best_epoch']} | {row['val_accuracy']:.4f} | {greedy['accuracy']:.4f} "
                     f"| {greedy['unseen_accuracy']:.4f} | {beam['accuracy']:.4f} | {beam['unseen_accuracy']:.4f} |")
    ref = metrics["pymorphy3"]
    lines.append(f"| pymorphy3 (reference) | | | {ref['accuracy']:.4f} | {ref['unseen_accuracy']:.4f} | | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run_stage(main)
