"""The pretraining study's report (reports/pretraining.md): ULMFiT's ablation table and figure, from the navec
baseline to the full recipe, against TF-IDF and the issue's target, with the single-change sections beside it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from rnnlab.data.files import atomic_path  # noqa: E402
from rnnlab.params import ConfigError  # noqa: E402
from rnnlab.studies.pretraining.ablation import AblationConfig, ablation_rows  # noqa: E402
from rnnlab.studies.pretraining.five_class import PUBLISHED  # noqa: E402
from rnnlab.training.reports import markdown_table  # noqa: E402

INPUTS = ("surface_forms", "ablation", "recipe", "five_class", "pooling", "rates", "bidirectional", "subword",
          "test_metrics", "pretrain", "finetune")  # the stages' metrics the report reads, beside the zoo baseline's


TARGET = 0.01  # the target: TF-IDF's test macro-F1 plus this
COLUMNS = ["step", "test_macro_f1", "change", "vs_tfidf", "seeds"]


def plot(rows: list[dict], tfidf: float, path: Path) -> None:
    """Each step's mean test macro-F1 with its spread over seeds, TF-IDF and the target as lines."""
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    ax.barh([r["step"] for r in rows], [r["_mean"] for r in rows], xerr=[r["_std"] for r in rows],
            color="tab:blue", alpha=0.8)
    ax.invert_yaxis()
    ax.axvline(tfidf, color="tab:red", linestyle="--", label=f"TF-IDF {tfidf:.4f}")
    ax.axvline(tfidf + TARGET, color="tab:green", linestyle=":", label=f"target {tfidf + TARGET:.4f}")
    low = min(r["_mean"] - r["_std"] for r in rows)
    ax.set(xlabel="RuSentiment test macro-F1 (mean ± std over seeds)", xlim=(low - 0.02, tfidf + TARGET + 0.02))
    ax.legend(fontsize=8, loc="lower right")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def spread(summary: dict) -> dict[str, str | int]:
    """A summary's test macro-F1 as `mean ± std` and its number of seeds."""
    return {"test_macro_f1": f"{summary['test_macro_f1_mean']:.4f} ± {summary['test_macro_f1_std']:.4f}",
            "seeds": len(summary["seeds"])}


def versus(column: str, before: tuple[str, dict], after: tuple[str, dict]) -> list[dict[str, str | int]]:
    """Two rows that differ in one thing, the second with its change in test macro-F1 from the first."""
    change = after[1]["test_macro_f1_mean"] - before[1]["test_macro_f1_mean"]
    return [{column: before[0], **spread(before[1]), "change": ""},
            {column: after[0], **spread(after[1]), "change": f"{change:+.4f}"}]


def chain_section(results: Mapping[str, Any], ablation: AblationConfig, paths: Mapping[str, Path], figure: str,
                  tfidf: float) -> tuple[str, list[dict[str, Any]], list[str]]:
    """The ablation chain: its Markdown, its rows (with `_mean`, `_std`) and each row's MLflow key."""
    steps, order = results["ablation"]["steps"], list(ablation.steps)
    missing = [name for name in order if name not in steps]
    if missing:
        raise ValueError(f"{paths['ablation']}: no results for lm.ablation.steps {missing}; rerun stage ulmfit_ablation")
    rows = ablation_rows(results["baseline"], results["surface_forms"], steps, results["recipe"], order, tfidf)
    average = results["bidirectional"]["average"]
    rows.append({"step": "+ a backward language model: the forward and backward classifiers' probabilities averaged "
                         "(stage ulmfit_bidirectional)", **spread(average),
                 "change": f"{average['test_macro_f1_mean'] - rows[-1]['_mean']:+.4f}",
                 "vs_tfidf": f"{average['test_macro_f1_mean'] - tfidf:+.4f}",
                 "_mean": average["test_macro_f1_mean"], "_std": average["test_macro_f1_std"]})
    best, target = max(rows, key=lambda r: r["_mean"]), tfidf + TARGET
    verdict = (f"reaches the target ({target:.4f})" if best["_mean"] >= target else
               f"falls short of the target ({target:.4f}: TF-IDF + {TARGET}) by {target - best['_mean']:.4f}")
    pretrain, finetune = results["pretrain"], results["finetune"]
    text = (
        "# ULMFiT on RuSentiment: what each step contributes\n\n"
        f"RuSentiment, 3 classes, test macro-F1 as mean ± std over seeds; each row changes one thing from the row "
        f"before (`change`); `vs_tfidf` is the gap to TF-IDF ({tfidf:.4f}, `{paths['test_metrics']}`). The best row, "
        f"\"{best['step']}\" ({best['_mean']:.4f}), {verdict}.\n\n"
        f"The language model: an AWD-LSTM pretrained for {pretrain['best_step']:,} steps on "
        f"{pretrain['train_tokens']:,} tokens (vocabulary {pretrain['vocab']:,}, navec covers "
        f"{pretrain['embedding_coverage']:.1%} of it), validation perplexity "
        f"{pretrain['val_perplexity']:.1f}; fine-tuned on the target's {finetune['finetune_tokens']:,} training "
        f"tokens, its perplexity there {finetune['val_perplexity_before']:.1f} -> "
        f"{finetune['val_perplexity']:.1f}. Every ULMFiT row pools "
        "[last, max, mean] (concat pooling) and freezes the embedding.\n\n"
        + markdown_table(rows, COLUMNS)
        + f"\n![ablation]({figure})\n\n")
    return text, rows, ["navec_baseline", "surface_forms", *order, "ulmfit", "bidirectional"]


def directions_section(bidirectional: Mapping[str, Any]) -> str:
    labels = {"forward": "forward: the full recipe, as stage ulmfit trains it",
              "backward": "backward: the same recipe, the backward model, texts reversed",
              "average": "the average of the two's probabilities"}
    change = {name: bidirectional[name]["test_macro_f1_mean"] - bidirectional["forward"]["test_macro_f1_mean"]
              for name in labels}
    rows = [{"classifier": label, **spread(bidirectional[name]),
             "change": "" if name == "forward" else f"{change[name]:+.4f}"} for name, label in labels.items()]
    return ("## The forward and backward classifiers\n\n"
            "Per seed, the full recipe's classifier on the forward language model, the same recipe on the backward "
            "one (pretrained and fine-tuned on the same texts read from the last token to the first, stages "
            "pretrain_backward and finetune_backward), and the average of the two classifiers' softmax probabilities "
            "(ULMFiT's bidirectional ensemble); `change` is from the forward classifier.\n\n"
            + markdown_table(rows, ["classifier", "test_macro_f1", "seeds", "change"]) + "\n")


def single_change_sections(results: Mapping[str, Any], ablation: AblationConfig) -> str:
    """Concat pooling and ULMFiT's rates, each against the ablation's step on the fine-tuned encoder."""
    steps, pooling, rates = results["ablation"]["steps"], results["pooling"], results["rates"]
    concat = next((name for name, step in ablation.steps.items() if step.encoder == "finetuned"), None)
    if concat is None:
        raise ConfigError("lm.ablation.steps: no step on the fine-tuned encoder for "
                          "concat pooling and the rates to be compared with")
    pooling_rows = versus("head reads", ("the last real step's output (stage ulmfit_pooling)", pooling),
                          (f"[last, max, mean]: concat pooling (step {concat})", steps[concat]))
    rates_rows = versus("learning rates", (f"one rate for every layer group, constant (step {concat})", steps[concat]),
                        (f"{rates['rates']['label']} (stage ulmfit_rates)", rates))
    return ("## Concat pooling on its own\n\n"
            "The fine-tuned encoder and the same head, settings and seeds, once reading the last real step's output "
            "alone (ULMFiT's ablation of its pooling) and once [last, max, mean].\n\n"
            + markdown_table(pooling_rows, ["head reads", "test_macro_f1", "seeds", "change"]) + "\n"
            + "## ULMFiT's learning rates on their own\n\n"
            + f"The classifier of step {concat} (same encoder, head, epochs and seeds), once at one constant rate for "
            + "every layer group and once with discriminative rates (each layer group's rate the one above it / "
            + f"{rates['rates']['decay']:g}, the head's peak {rates['rates']['lr']:g}) under a "
            + f"{rates['rates']['schedule'].replace('_', ' ')} schedule.\n\n"
            + markdown_table(rates_rows, ["learning rates", "test_macro_f1", "seeds", "change"]) + "\n")


def subword_section(subword: Mapping[str, Any], tfidf: float) -> str:
    chain = [(f"{subword['model']}, words (the zoo study's stage subword)", subword["words"]),
             ("+ character n-gram vectors on every token's word vector", subword["subwords"]),
             ("+ decision offsets fitted on validation macro-F1", subword["subwords_offsets"])]
    rows = [{"classifier": label, **spread(m),
             "change": "" if i == 0 else f"{m['test_macro_f1_mean'] - chain[i - 1][1]['test_macro_f1_mean']:+.4f}",
             "vs_tfidf": f"{m['test_macro_f1_mean'] - tfidf:+.4f}"} for i, (label, m) in enumerate(chain)]
    strongest, target = max(m["test_macro_f1_mean"] for _, m in chain), tfidf + TARGET
    verdict = (f"reaches the target ({target:.4f})" if strongest >= target else
               f"falls short of the target ({target:.4f}) by {target - strongest:.4f}")
    return ("## The best recurrent classifier: character n-grams and decision offsets\n\n"
            "Outside the recipe: the main pipeline's LSTM on lemmas and navec, then the same with character n-gram "
            "vectors (fastText's construction) and with per-class offsets on its logits fitted on validation macro-F1 "
            f"(`rnnlab.training.decision`), the zoo study's stage subword over its seeds. Its best row {verdict}; "
            f"TF-IDF with offsets fitted the same way scores {subword['tfidf_offsets']['test_macro_f1']:.4f}.\n\n"
            + markdown_table(rows, ["classifier", "test_macro_f1", "seeds", "change", "vs_tfidf"]) + "\n")


def five_class_section(five: Mapping[str, Any]) -> str:
    rows = [{"model": name, "test_weighted_f1": f"{value:.3f}"} for name, value in PUBLISHED.items()]
    rows.append({"model": "ULMFiT recipe (stage ulmfit_5class)",
                 "test_weighted_f1": f"{five['test_weighted_f1_mean']:.4f} ± {five['test_weighted_f1_std']:.4f}",
                 "test_macro_f1": f"{five['test_macro_f1_mean']:.4f} ± {five['test_macro_f1_std']:.4f}"})
    return ("## The 5-class task\n\n"
            f"The same recipe on RuSentiment's five labels ({', '.join(five['classes'])}), test weighted F1 on the "
            f"official test file ({sum(five['rows']['test'].values()):,} posts), beside the published numbers.\n\n"
            + markdown_table(rows, ["model", "test_weighted_f1", "test_macro_f1"]))


def pretraining_report(results: Mapping[str, Any], ablation: AblationConfig, paths: Mapping[str, Path],
                       report: Path, figure: Path) -> tuple[str, dict[str, float]]:
    """The report's Markdown and the numbers it logs to MLflow, from `results` (the zoo baseline's summary as
    `baseline`, and every INPUTS' metrics) read from `paths`; draws `figure`."""
    tfidf = results["test_metrics"]["tfidf"]["macro_f1"]
    chain, rows, keys = chain_section(results, ablation, paths, os.path.relpath(figure, report.parent), tfidf)
    plot(rows, tfidf, figure)
    text = (chain + directions_section(results["bidirectional"]) + single_change_sections(results, ablation)
            + subword_section(results["subword"], tfidf) + five_class_section(results["five_class"]))
    logged = ({f"{key}_test_macro_f1": row["_mean"] for key, row in zip(keys, rows, strict=True)}
              | {"tfidf_test_macro_f1": tfidf,
                 "five_class_test_weighted_f1": results["five_class"]["test_weighted_f1_mean"],
                 "last_state_pooling_test_macro_f1": results["pooling"]["test_macro_f1_mean"],
                 "layer_rates_test_macro_f1": results["rates"]["test_macro_f1_mean"],
                 "backward_test_macro_f1": results["bidirectional"]["backward"]["test_macro_f1_mean"],
                 "subword_offsets_test_macro_f1": results["subword"]["subwords_offsets"]["test_macro_f1_mean"]})
    return text, logged
