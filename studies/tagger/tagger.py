"""Stage tagger: a bidirectional LSTM part-of-speech tagger on UD Russian Taiga, scored on its test split beside
the most-frequent-tag baseline and slovnet's morphology model."""

import argparse
from pathlib import Path

import torch

from rnnlab.data.conllu import read_conllu
from rnnlab.data.files import write_json
from rnnlab.params import NonNegativeInt, load_section
from rnnlab.process import run_stage
from rnnlab.studies.tagger.tagger import (
    FrequentTags,
    TaggerConfig,
    accuracy,
    slovnet_tags,
    tag_sentences,
    train_tagger,
)
from rnnlab.training.checkpoint import save_checkpoint
from rnnlab.training.resume import fingerprint
from rnnlab.training.stage import tracked_stage

TREEBANK = "ud_taiga/ru_taiga-ud-{}.conllu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/tagger/params.yaml")
    parser.add_argument("--raw", type=Path, required=True, help="downloaded corpora, <corpus>/<file>")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True, help="JSON rows per epoch (a DVC plot)")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg, seed = load_section(args.params, "tagger", TaggerConfig), load_section(args.params, "seed", NonNegativeInt)
    torch.set_num_threads(cfg.trainer.num_threads)
    paths = {split: args.raw / TREEBANK.format(split) for split in ("train", "dev", "test")}
    data = {split: read_conllu(path) for split, path in paths.items()}
    with tracked_stage(args.state_dir, "tagger", fingerprint(cfg, seed, files=list(paths.values())),
                       args.run_record, "tagger-ud_taiga", experiment="rnnlab-tagger") as current:
        run, tracker = current.run, current.tracker
        ckpt, result = train_tagger(data["train"], data["dev"], cfg, tracker, seed, run)
        save_checkpoint(args.checkpoint, ckpt)
        test, forms = data["test"], [s.forms for s in data["test"]]
        known = {w.lower() for s in data["train"] for w in s.forms}
        baseline = FrequentTags(data["train"])
        scores = {
            "bilstm": accuracy(test, tag_sentences(ckpt, forms), known),
            "most_frequent_tag": accuracy(test, [[baseline.tag(w) for w in s] for s in forms], known),
            "slovnet": accuracy(test, slovnet_tags(forms), known),
        }
        metrics = {"sentences": {k: len(v) for k, v in data.items()},
                   "tokens": {k: sum(len(s.forms) for s in v) for k, v in data.items()},
                   "best_epoch": result.best_position, "val_accuracy": result.best["val_accuracy"],
                   "embedding_coverage": ckpt.meta["embedding_coverage"], "test": scores}
        tracker.log_metrics({f"test_{model}_{k}": v for model, row in scores.items() for k, v in row.items()
                             if k.endswith("accuracy")})
        write_json(args.metrics, metrics)
        write_json(args.history, result.history)
        current.record["timings"] = result.timings
    for model, row in scores.items():
        print(f"{model}: test accuracy {row['accuracy']:.4f}, on unseen words {row['unseen_accuracy']:.4f}")


if __name__ == "__main__":
    run_stage(main)
