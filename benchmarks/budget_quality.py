"""What the 2-core budgets cost in quality: each study's headline metrics in the committed files at the last
commit with the larger budgets (those of profiles/gpu.yaml, run on the same 2-core machine) against the
workspace's, written as a markdown table that docs/budgets.md includes.

    python benchmarks/budget_quality.py --before 7b7d9c9 --out benchmarks/budget_quality.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# (study, metrics file, dotted key, what it is); `mean` = over the study's seeds
HEADLINES = [
    ("zoo", "metrics/zoo/lstm.json", "test_macro_f1.mean", "base LSTM (scratch vectors), test macro-F1, mean"),
    ("zoo", "metrics/zoo/lstm_navec_finetuned.json", "test_macro_f1.mean", "LSTM on navec, test macro-F1, mean"),
    ("zoo", "metrics/zoo_attention/lstm_attention.json", "test_macro_f1.mean", "attention pooling, test macro-F1, mean"),
    ("zoo", "metrics/subword.json", "subwords.test_macro_f1_mean", "character n-gram LSTM, test macro-F1, mean"),
    ("tune", "metrics/tune.json", "val_macro_f1", "best trial, validation macro-F1"),
    ("tune", "metrics/tune_seeds.json", "test_macro_f1_mean", "its configuration over seeds, test macro-F1, mean"),
    ("chars", "metrics/names_classifier.json", "accuracy", "surname classifier, test accuracy"),
    ("chars", "metrics/names_generator.json", "val_loss", "surname generator, validation loss"),
    ("chars", "metrics/charlm.json", "val_bpc", "character LM, validation bits per character"),
    ("pretraining", "metrics/pretrain.json", "val_perplexity", "language model, validation perplexity"),
    ("pretraining", "metrics/finetune_lm.json", "val_perplexity", "fine-tuned, perplexity on the target's texts"),
    ("pretraining", "metrics/ulmfit.json", "test_macro_f1_mean", "ULMFiT classifier, test macro-F1, mean"),
    ("pretraining", "metrics/ulmfit_ablation.json", "steps.navec.test_macro_f1_mean",
     "its encoder from navec alone, test macro-F1, mean"),
    ("pretraining", "metrics/ulmfit_5class.json", "test_weighted_f1_mean", "5 classes, test weighted F1, mean"),
    ("tagger", "metrics/tagger.json", "test.bilstm.accuracy", "part-of-speech tagger, test accuracy"),
    ("tagger", "metrics/lemmatizer.json", "models.teacher_forcing.greedy.accuracy",
     "lemmatiser (teacher forcing), test accuracy"),
    ("imdb", "metrics/imdb_length.json", "settings.full.test_accuracy", "full-length reviews, test accuracy"),
    ("imdb", "metrics/imdb_length.json", "settings.len_50.test_accuracy", "50 tokens a review, test accuracy"),
]


def value(data: dict[str, Any], dotted: str) -> float:
    for part in dotted.split("."):
        data = data[part]
    return float(data)


def committed(ref: str, path: str) -> dict[str, Any]:
    """A metrics file as commit `ref` holds it."""
    done = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def table(before: str) -> str:
    """The markdown table: every headline at `before` and in the workspace, and the change."""
    lines = [f"| study | metric | larger budgets (`{before}`) | 2-core budgets | change |", "|---|---|---|---|---|"]
    for study, path, key, label in HEADLINES:
        old = value(committed(before, path), key)
        new = value(json.loads((ROOT / path).read_text(encoding="utf-8")), key)
        lines.append(f"| {study} | {label} (`{path}`: `{key}`) | {old:.4f} | {new:.4f} | {new - old:+.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the last commit with the larger budgets")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "budget_quality.md")
    args = parser.parse_args()
    args.out.write_text(table(args.before), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
