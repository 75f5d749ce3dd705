"""Does more language-model pretraining close ULMFiT's gap? The study's recipe on a GPU, at several sizes.

For each `--scale` k: the `pretrain` stage's language model trained on k times the committed tokens
(lm.pretrain's batch x k, the same steps; --quick: 2k rows, 10 steps), then `finetune_lm` and the
`ulmfit_ablation` fine-tuned step (the lm.classifier settings without gradual unfreezing) at lm.classifier's
seeds, all with the committed params and the same task functions the stages call. Each finished scale is
written at once into the section `lm_gpu_quality` of benchmarks/results.{json,md}, so a run cut short keeps what
it finished.

An experiment on a lent GPU, not a pipeline result: the committed metrics come from `dvc repro` on the CPU.
`--device cpu --quick` checks the script on a few hundred documents and steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path

import common  # first: it sets the environment before rnnlab imports tqdm
import pandas as pd
import torch

from rnnlab.config import TextConfig
from rnnlab.data.unlabelled import LMCorpusConfig
from rnnlab.params import NonNegativeInt, load_section
from rnnlab.studies.pretraining.lm import (
    AWDConfig,
    LMStageConfig,
    LMVocabConfig,
    finetune,
    pretrain,
)
from rnnlab.studies.pretraining.ulmfit import (
    AWDClassifierConfig,
    encode_target,
    train_awd_classifier,
)
from rnnlab.training.loop import set_seed
from rnnlab.training.tracking import MemoryTracker


def scaled(cfg: LMStageConfig, device: str, batch_size: int, quick: bool) -> LMStageConfig:
    """A language-model stage's config on `device` with `batch_size` rows (10 steps with --quick)."""
    steps, eval_every = (10, 5) if quick else (cfg.trainer.steps, cfg.trainer.eval_every)
    trainer = dataclasses.replace(cfg.trainer, device=device, steps=steps, eval_every=eval_every)
    return dataclasses.replace(cfg, batch_size=batch_size, trainer=trainer)


def run_scale(k: int, args: argparse.Namespace, documents: pd.DataFrame, prepared: pd.DataFrame) -> dict:
    """Pretrain at scale k, fine-tune, classify at every seed; the numbers of each step."""
    p = args.params
    seed, text, vocab = load_section(p, "seed", NonNegativeInt), load_section(p, "lm.text", TextConfig), load_section(p, "lm.vocab", LMVocabConfig)
    model = load_section(p, "lm.model", AWDConfig)
    if args.quick:  # a vocabulary of a few hundred words
        model = dataclasses.replace(model, cutoffs=(50, 100))
    pre_cfg, ft_cfg = load_section(p, "lm.pretrain", LMStageConfig), load_section(p, "lm.finetune", LMStageConfig)
    # --quick: a few rows, so that a few hundred documents (and 2% of them held out) fill a batch
    pre_cfg = scaled(pre_cfg, args.device, (2 if args.quick else pre_cfg.batch_size) * k, args.quick)
    ft_cfg = scaled(ft_cfg, args.device, 1 if args.quick else ft_cfg.batch_size, args.quick)
    cls = load_section(p, "lm.classifier", AWDClassifierConfig)
    cls = dataclasses.replace(cls, gradual_unfreezing=False, trainer=dataclasses.replace(
        cls.trainer, device=args.device, epochs=1 if args.quick else cls.trainer.epochs))
    set_seed(seed)  # as the stages do
    with common.stopwatch() as clock:
        lm, _ = pretrain(documents, text, vocab, model, pre_cfg, MemoryTracker(), seed)
    row = {"scale": k, "tokens": pre_cfg.trainer.steps * pre_cfg.batch_size * pre_cfg.seq_len,
           "pretrain_s": clock["seconds"], "pretrain_perplexity": lm.meta["val_perplexity"],
           "pretrain_best_step": lm.meta["best_step"], "train_tokens": lm.meta["train_tokens"]}
    texts = prepared.loc[prepared["split"] == "train", "text"].tolist()
    set_seed(seed)
    with common.stopwatch() as clock:
        lm, _ = finetune(lm, texts, load_section(p, "lm.corpus", LMCorpusConfig).val_share, ft_cfg, MemoryTracker(), seed)
    row.update(finetune_s=clock["seconds"], finetune_perplexity=lm.meta["val_perplexity"],
               finetune_perplexity_before=lm.meta["val_perplexity_before"])
    splits, classes = encode_target(prepared, lm, cls.max_len)
    f1 = []
    for s in cls.seeds:
        with common.stopwatch() as clock:
            _, result, test = train_awd_classifier(lm, splits, classes, cls, s, MemoryTracker())
        f1.append(test["macro_f1"])
        print(f"scale {k}, seed {s}: test macro-F1 {test['macro_f1']:.4f} (best epoch {result.best_position}, "
              f"{clock['seconds']:.0f} s)", flush=True)
    row.update(seeds=list(cls.seeds), test_macro_f1=f1, mean=statistics.fmean(f1),
               std=statistics.stdev(f1) if len(f1) > 1 else 0.0)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=common.STUDY_PARAMS["pretraining"])
    parser.add_argument("--corpus", type=Path, default=common.ROOT / "data/lm/corpus.csv",
                        help="lm_corpus's CSV (or .csv.gz)")
    parser.add_argument("--prepared", type=Path, default=common.ROOT / "data/prepared/corpus.csv")
    parser.add_argument("--scale", type=int, nargs="+", default=[8, 1], help="times the committed tokens, in order")
    parser.add_argument("--device", default="cuda")
    common.add_common_args(parser, "300 documents, 10 steps, 1 epoch: checks the script, measures nothing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    read = dict(dtype=str, keep_default_na=False)
    documents, prepared = pd.read_csv(args.corpus, **read), pd.read_csv(args.prepared, **read)
    if args.quick:
        documents = pd.concat([documents[documents["split"] == s].head(300) for s in ("train", "val")])
        prepared = pd.concat([prepared[prepared["split"] == s].head(200) for s in ("train", "val", "test")])
    machine = common.machine_info(torch.device(args.device), args.threads)
    label = common.device_label(torch.device(args.device), args.threads)
    rows = []
    for k in args.scale:
        r = run_scale(k, args, documents, prepared)
        how = (f"{r['tokens']:,} tokens of pretraining (lm.pretrain's batch x {k}, {r['train_tokens']:,} in a pass), "
               f"then finetune_lm and the ulmfit_ablation fine-tuned step at seeds {r['seeds']}")
        rows.append(common.row(f"ULMFiT, language model pretrained on {k}x the committed tokens", how, r["mean"],
                               "test macro-F1", label, **{key: v for key, v in r.items() if key != "mean"}))
        notes = ["value = mean test macro-F1 over the seeds (RuSentiment, 3 classes); the CPU's committed "
                 "ulmfit_ablation fine-tuned step: 0.6486 +- 0.0028, TF-IDF 0.7152, the issue's target 0.7252.",
                 "an experiment on a lent GPU (bf16 autocast, cuDNN): not bit-reproducible, not a pipeline output."]
        if args.quick:
            notes.insert(0, "DRY RUN: a few hundred documents, 10 steps: checks the script, measures nothing")
        common.write_section(args.out, "lm_gpu_quality", common.section(
            "ULMFiT on a GPU: more pretraining against test macro-F1", machine, rows, notes,
            {key: str(v) for key, v in vars(args).items()}))
        print(f"scale {k}: perplexity {r['pretrain_perplexity']:.1f} pretrained, {r['finetune_perplexity']:.1f} "
              f"fine-tuned; test macro-F1 {r['mean']:.4f} +- {r['std']:.4f}; pretraining {r['pretrain_s']:.0f} s",
              flush=True)


if __name__ == "__main__":
    main()
