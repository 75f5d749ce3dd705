"""Stage lm_corpus: the language model's documents (the target's training texts, then the unlabelled corpora),
deduplicated, none of them a validation or test text of the target corpus, a seeded share held out."""

import argparse
import dataclasses
from pathlib import Path

from rnnlab.data.files import atomic_path, write_json
from rnnlab.data.unlabelled import (
    SOURCES,
    LMCorpusConfig,
    build_lm_corpus,
    read_split_texts,
)
from rnnlab.params import NonNegativeInt, load_section
from rnnlab.process import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/pretraining/params.yaml")
    parser.add_argument("--raw", type=Path, required=True, help="downloaded unlabelled corpora, <corpus>/<file>")
    parser.add_argument("--prepared", type=Path, required=True, help="the target corpus: text, label, split")
    parser.add_argument("--out", type=Path, required=True, help="CSV: text, source, split (train | val)")
    parser.add_argument("--stats", type=Path, required=True, help="JSON: documents read, dropped, kept per source")
    args = parser.parse_args()

    cfg: LMCorpusConfig = load_section(args.params, "lm.corpus", LMCorpusConfig)
    seed = load_section(args.params, "seed", NonNegativeInt)
    sources = {"target": read_split_texts(args.prepared, ["train"])}
    sources |= {name: SOURCES[name](args.raw / name) for name in cfg.sources}
    corpus = build_lm_corpus(sources, read_split_texts(args.prepared, ["val", "test"]), cfg.val_share, seed)
    with atomic_path(args.out) as tmp:
        corpus.documents.to_csv(tmp, index=False)
    stats = {name: dataclasses.asdict(s) for name, s in corpus.stats.items()}
    write_json(args.stats, {"sources": stats, "documents": len(corpus.documents),
                            "words": sum(s["words"] for s in stats.values())})
    for name, s in stats.items():
        print(f"{name}: kept {s['kept']} of {s['read']} ({s['duplicates']} repeated, {s['held_out']} held-out texts)")


if __name__ == "__main__":
    run_stage(main)
