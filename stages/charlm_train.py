"""Stage charlm_train: a character LSTM language model over one long text, trained with truncated BPTT."""

import argparse
import math
import os
from pathlib import Path

import torch

from rnnlab.charlm import CharLMConfig, Checkpoint, read_corpus_text, save_checkpoint, train_charlm
from rnnlab.config import flatten, load_section, load_seed
from rnnlab.files import write_json
from rnnlab.tracking import mlflow_run
from rnnlab.training import set_seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", type=Path, required=True, help="downloaded corpora, <corpus>/<file>")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True, help="JSON rows per evaluation (a DVC plot)")
    args = parser.parse_args()

    cfg, seed = load_section(args.params, "charlm", CharLMConfig), load_seed(args.params)
    torch.set_num_threads(cfg.trainer.num_threads)
    set_seed(seed)
    text = read_corpus_text(args.raw, cfg.corpus)
    with mlflow_run(f"charlm-{cfg.corpus}", os.environ, stage="charlm_train", experiment="rnnlab-charlm") as tracker:
        tracker.log_params({"seed": seed, "characters": len(text), **flatten(cfg)})
        model, vocab, result = train_charlm(text, cfg, tracker, seed)
        meta = {"corpus": cfg.corpus, "best_step": result.best_step, "val_loss": result.best_val_loss}
        save_checkpoint(args.checkpoint, Checkpoint(model, cfg.model, vocab, [], meta))
        metrics = {"corpus": cfg.corpus, "characters": len(text), "alphabet": len(vocab), **meta,
                   "val_bpc": result.best_val_loss / math.log(2), "seconds": result.history[-1]["seconds"]}
        write_json(args.metrics, metrics)
        write_json(args.history, result.history)
        tracker.log_metrics({"best_val_bpc": metrics["val_bpc"]})
    print(f"{cfg.corpus}: best step {result.best_step}, validation {metrics['val_bpc']:.3f} bits per character")


if __name__ == "__main__":
    main()
