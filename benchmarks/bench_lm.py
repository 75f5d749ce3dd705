"""Sizing the pretrained language model: training throughput of AWD-LSTM language models (encoder size x output
layer x vocabulary) on the unlabelled text of the mirror, and the minutes one pass over that text takes.

The output layer dominates a word-level language model's cost on a CPU (a 30k-word softmax is 9M multiply-adds a
token at width 300); the rows compare it with an adaptive softmax and with a subword-sized vocabulary, on the
same encoder, so the pretraining stage can be sized to its time budget.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from collections import Counter
from pathlib import Path

import common  # first: it sets the environment before rnnlab imports tqdm
import torch

from rnnlab.data.unlabelled import SOURCES, build_lm_corpus
from rnnlab.models.awd import AWDEncoder, AWDLanguageModel
from rnnlab.params import read_params
from rnnlab.training.language import stream_batches

CONFIG = re.compile(r"^(?P<hidden>\d+)x(?P<layers>\d+):(?P<output>full|adaptive)(?:@(?P<vocab>\d+))?$")
DEFAULT_CONFIGS = ["600x3:full", "600x3:adaptive", "600x3:full@8000", "400x2:adaptive", "1150x3:adaptive"]


def corpus_words(mirror: Path | None, tokens: int, seed: int) -> tuple[list[str], str]:
    """The unlabelled documents' words (lowercased, split on whitespace, <eos> between documents), or a
    Zipf-distributed stand-in of `tokens` words without a mirror."""
    if mirror is not None and all((mirror / name).is_dir() for name in SOURCES):
        documents = build_lm_corpus({name: read(mirror / name) for name, read in SOURCES.items()}, [], 0.0, seed)
        words = []
        for text in documents.documents["text"]:
            words.extend(text.lower().split())
            words.append("<eos>")
        return words, f"the mirror's {', '.join(SOURCES)} ({len(documents.documents):,} documents)"
    gen = torch.Generator().manual_seed(seed)
    ranks = torch.multinomial(1.0 / torch.arange(1, 50_001, dtype=torch.float), tokens, replacement=True,
                              generator=gen)
    return [f"w{int(r)}" for r in ranks], f"{tokens:,} Zipf-distributed synthetic words (no mirror)"


def stream(words: list[str], vocab: int) -> torch.Tensor:
    """Ids by frequency rank (0 = <pad>, 1 = <unk>, then the most frequent word first, as an adaptive softmax
    needs)."""
    itos = [w for w, _ in Counter(words).most_common(vocab - 2)]
    stoi = {w: i + 2 for i, w in enumerate(itos)}
    return torch.tensor([stoi.get(w, 1) for w in words])


def measure(spec: str, batch_size: int, words: list[str], args: argparse.Namespace) -> dict:
    match = CONFIG.match(spec)
    if match is None:
        raise SystemExit(f"--configs: {spec!r} is not HIDDENxLAYERS:full|adaptive[@VOCAB]")
    hidden, layers, output = int(match["hidden"]), int(match["layers"]), match["output"]
    vocab = int(match["vocab"] or args.vocab)
    ids = stream(words, vocab)
    cutoffs = [c for c in (vocab // 15, vocab // 3) if 0 < c < vocab] if output == "adaptive" else []
    torch.manual_seed(args.seed)
    encoder = AWDEncoder(vocab, args.embedding_dim, hidden, layers, output_size=args.embedding_dim)
    model = AWDLanguageModel(encoder, cutoffs=sorted(set(cutoffs))).to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = stream_batches(ids[: batch_size * args.bptt * (args.steps + 1) + 1], batch_size, args.bptt)
    cuda = args.device.type == "cuda"
    autocast = (torch.autocast("cuda", dtype=getattr(torch, {"bf16": "bfloat16", "fp16": "float16"}[args.autocast]))
                if cuda and args.autocast != "off" else contextlib.nullcontext())
    state, seconds, losses = None, 0.0, []
    for i, batch in enumerate(batches[: args.steps + 1]):  # the first step warms up and is not timed
        inputs, targets = batch.inputs.to(args.device), batch.targets.to(args.device)
        with common.stopwatch() as clock:
            with autocast:
                hidden_out, state = model(inputs, None if state is None else [tuple(s.detach() for s in p)
                                                                              for p in state])
                loss = -model.target_log_probs(hidden_out, targets).sum()
            optimizer.zero_grad()
            (loss / targets.numel()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            optimizer.step()
            losses.append(loss.item() / targets.numel())  # on CUDA this waits for the step: the clock is honest
        if i:
            seconds += clock["seconds"]
    tokens_per_s = args.steps * batch_size * args.bptt / seconds
    return {"spec": spec, "batch": batch_size, "vocab": vocab, "cutoffs": cutoffs, "tokens_per_s": tokens_per_s,
            "minutes_per_pass": len(words) / tokens_per_s / 60, "parameters": sum(p.numel() for p in model.parameters()),
            "loss": sum(losses[1:]) / len(losses[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mirror", type=Path, default=os.environ.get("RNNLAB_MIRROR"))
    parser.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS,
                        help="HIDDENxLAYERS:full|adaptive[@VOCAB]; the first is the baseline of the ratios")
    parser.add_argument("--vocab", type=int, default=30_000, help="word vocabulary where a config names none")
    parser.add_argument("--embedding-dim", type=int, default=300, help="navec's width")
    parser.add_argument("--batch", type=int, nargs="+", default=[32], help="rows per batch, one or more sizes")
    parser.add_argument("--bptt", type=int, default=70)
    parser.add_argument("--steps", type=int, default=5, help="timed optimizer steps per config (after one warm-up)")
    parser.add_argument("--tokens", type=int, default=2_500_000, help="synthetic words without a mirror")
    parser.add_argument("--budget-min", type=float, default=45.0, help="the pretraining time budget, minutes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=torch.device, default=torch.device("cpu"), help="cpu, or cuda (section lm_gpu)")
    parser.add_argument("--autocast", choices=["off", "bf16", "fp16"], default="off",
                        help="CUDA only, as lm.pretrain.trainer.autocast")
    common.add_common_args(parser, "unused (--steps sets the length)")
    parser.set_defaults(threads=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    machine = common.machine_info(args.device, args.threads)
    words, data = corpus_words(args.mirror, args.tokens, args.seed)
    results = [measure(spec, batch, words, args) for spec in args.configs for batch in args.batch]
    base = results[0]["tokens_per_s"]
    label = common.device_label(args.device, args.threads)
    pretrain = read_params(common.STUDY_PARAMS["pretraining"])["lm"]["pretrain"]
    pretrain_tokens = pretrain["trainer"]["steps"] * pretrain["batch_size"] * pretrain["seq_len"]
    precision = f"autocast {args.autocast}" if args.device.type == "cuda" else "float32"
    how = f"AWD-LSTM LM, width {args.embedding_dim}, {args.bptt} steps a window, Adam, {precision}; {data}"
    rows = [common.row(f"{r['spec']}, batch {r['batch']}", how, r["tokens_per_s"], "tokens/s", label, baseline=base,
                       ratio=r["tokens_per_s"] / base, vocab=r["vocab"], cutoffs=r["cutoffs"],
                       parameters=r["parameters"], minutes_per_pass=r["minutes_per_pass"],
                       passes_in_budget=args.budget_min / r["minutes_per_pass"],
                       pretrain_minutes=pretrain_tokens / r["tokens_per_s"] / 60, loss_per_token=r["loss"])
            for r in results]
    notes = [
        "tokens/s = predicted tokens of the timed steps / their seconds (forward, loss, backward, clipping, Adam); "
        "the first step of each config is a warm-up and not timed.",
        f"minutes per pass = the text's {len(words):,} words (documents ended by <eos>) / tokens/s; passes in budget "
        f"= {args.budget_min:g} minutes / that (the issue's pretraining budget on 2 CPU cores).",
        "HIDDENxLAYERS: the encoder's hidden size and layers (the last layer as wide as the embedding, so a full "
        "softmax ties to it); full = a linear decoder tied to the embedding over the whole vocabulary; adaptive = "
        "an adaptive softmax (head: the vocab/15 most frequent words, two tail clusters at width/4 and width/16), "
        "untied; @N = an N-entry vocabulary (a subword tokenizer's size), words outside it become <unk>.",
        f"pretrain minutes = lm.pretrain's {pretrain_tokens:,} tokens (steps x batch_size x seq_len) / tokens/s: "
        "the optimizer steps alone, at this row's throughput (validation and checkpoints not counted).",
    ]
    path = common.write_section(args.out, "lm" if args.device.type == "cpu" else "lm_gpu", common.section(
        "Language-model pretraining: throughput by size and output layer", machine, rows, notes,
        vars(args)))  # paths become strings in the JSON (default=str)
    for r in results:
        print(f"{r['spec']:>18}, batch {r['batch']:>4}: {r['tokens_per_s']:9,.0f} tokens/s, "
              f"{r['minutes_per_pass']:6.1f} min a pass, "
              f"{r['parameters'] / 1e6:5.1f}M parameters")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
