"""Stage charlm_train: a character LSTM language model over one long text, trained with truncated BPTT."""

import argparse
from pathlib import Path

import torch

from rnnlab.data.files import write_json
from rnnlab.data.texts import read_corpus_text
from rnnlab.params import NonNegativeInt, flatten, load_section
from rnnlab.process import run_stage
from rnnlab.studies.chars.charlm import CharLMConfig, train_charlm
from rnnlab.training.checkpoint import Checkpoint, save_checkpoint
from rnnlab.training.loop import set_seed
from rnnlab.training.resume import fingerprint
from rnnlab.training.stage import tracked_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/chars/params.yaml")
    parser.add_argument("--raw", type=Path, required=True, help="downloaded corpora, <corpus>/<file>")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True, help="JSON rows per evaluation (a DVC plot)")
    parser.add_argument("--run-record", type=Path, required=True, help="JSON: MLflow run id and timings")
    parser.add_argument("--state-dir", type=Path, required=True, help="resumable training state (outside DVC outs)")
    args = parser.parse_args()

    cfg = load_section(args.params, "charlm.train", CharLMConfig)
    seed = load_section(args.params, "seed", NonNegativeInt)
    torch.set_num_threads(cfg.trainer.num_threads)
    set_seed(seed)
    text = read_corpus_text(args.raw, cfg.corpus)
    with tracked_stage(args.state_dir, "charlm_train", fingerprint(cfg, seed, text),
                       args.run_record, f"charlm-{cfg.corpus}", experiment="rnnlab-charlm") as current:
        run, tracker = current.run, current.tracker
        tracker.log_params({"seed": seed, "characters": len(text), **flatten(cfg)})
        model, vocab, result = train_charlm(text, cfg, tracker, seed, run)
        meta = {"corpus": cfg.corpus, "best_step": result.best_position, "val_loss": result.best["val_loss"]}
        save_checkpoint(args.checkpoint, Checkpoint("char_lm", cfg.model, model, vocab, [], meta))
        metrics = {"corpus": cfg.corpus, "characters": len(text), "alphabet": len(vocab), **meta,
                   "val_bpc": result.best["val_bpc"]}
        write_json(args.metrics, metrics)
        write_json(args.history, result.history)
        tracker.log_metrics({"best_val_bpc": metrics["val_bpc"]})
        current.record["timings"] = result.timings
    print(f"{cfg.corpus}: best step {result.best_position}, validation {metrics['val_bpc']:.3f} bits per character")


if __name__ == "__main__":
    run_stage(main)
