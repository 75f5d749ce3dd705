"""Stage pretraining_report: ULMFiT's ablation table and figure (reports/pretraining.md), from the navec baseline
to the full recipe, against TF-IDF and the issue's target; logged to MLflow."""

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from rnnlab.config import load_section  # noqa: E402
from rnnlab.data.files import atomic_path, read_json  # noqa: E402
from rnnlab.process import run_stage  # noqa: E402
from rnnlab.tasks.ablation import ablation_rows  # noqa: E402
from rnnlab.tasks.five_class import PUBLISHED  # noqa: E402
from rnnlab.training.reports import markdown_table  # noqa: E402
from rnnlab.training.tracking import mlflow_run  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--zoo-metrics", type=Path, required=True, help="the zoo's folder of one JSON per variant")
    parser.add_argument("--surface-forms", type=Path, required=True, help="stage surface_forms' metrics")
    parser.add_argument("--ablation", type=Path, required=True, help="stage ulmfit_ablation's metrics")
    parser.add_argument("--recipe", type=Path, required=True, help="stage ulmfit's metrics: the full recipe")
    parser.add_argument("--five-class", type=Path, required=True, help="stage ulmfit_5class' metrics")
    parser.add_argument("--pooling", type=Path, required=True, help="stage ulmfit_pooling's metrics: last-state pooling")
    parser.add_argument("--rates", type=Path, required=True, help="stage ulmfit_rates' metrics: ULMFiT's rates")
    parser.add_argument("--bidirectional", type=Path, required=True,
                        help="stage ulmfit_bidirectional's metrics: forward, backward and their average")
    parser.add_argument("--subword", type=Path, required=True,
                        help="the zoo study's stage subword: character n-grams and decision offsets, over seeds")
    parser.add_argument("--test-metrics", type=Path, required=True, help="the main pipeline's metrics/test.json")
    parser.add_argument("--pretrain", type=Path, required=True, help="stage pretrain's metrics")
    parser.add_argument("--finetune", type=Path, required=True, help="stage finetune_lm's metrics")
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--figure", type=Path, required=True)
    args = parser.parse_args()

    ablation = load_section(args.params, "lm.ablation")
    baseline = args.zoo_metrics / f"{ablation.baseline}.json"
    if not baseline.is_file():
        raise FileNotFoundError(f"{baseline}: no zoo metrics for lm.ablation.baseline '{ablation.baseline}'; "
                                "run `dvc repro studies/zoo/dvc.yaml:zoo` first")
    test, steps = read_json(args.test_metrics), read_json(args.ablation)["steps"]
    tfidf = test["tfidf"]["macro_f1"]
    order = list(ablation.steps)
    missing = [name for name in order if name not in steps]
    if missing:
        raise ValueError(f"{args.ablation}: no results for lm.ablation.steps {missing}; rerun stage ulmfit_ablation")
    rows = ablation_rows(read_json(baseline), read_json(args.surface_forms), steps, read_json(args.recipe), order,
                         tfidf)
    bidirectional = read_json(args.bidirectional)
    average = bidirectional["average"]
    rows.append({"step": "+ a backward language model: the forward and backward classifiers' probabilities averaged "
                         "(stage ulmfit_bidirectional)", **spread(average),
                 "change": f"{average['test_macro_f1_mean'] - rows[-1]['_mean']:+.4f}",
                 "vs_tfidf": f"{average['test_macro_f1_mean'] - tfidf:+.4f}",
                 "_mean": average["test_macro_f1_mean"], "_std": average["test_macro_f1_std"]})
    keys = ["navec_baseline", "surface_forms", *order, "ulmfit", "bidirectional"]
    labels = {"forward": "forward: the full recipe, as stage ulmfit trains it",
              "backward": "backward: the same recipe, the backward model, texts reversed",
              "average": "the average of the two's probabilities"}
    change = {name: bidirectional[name]["test_macro_f1_mean"] - bidirectional["forward"]["test_macro_f1_mean"]
              for name in labels}
    direction_rows = [{"classifier": label, **spread(bidirectional[name]),
                       "change": "" if name == "forward" else f"{change[name]:+.4f}"} for name, label in labels.items()]
    best = max(rows, key=lambda r: r["_mean"])
    pretrain, finetune = read_json(args.pretrain), read_json(args.finetune)
    target = tfidf + TARGET
    verdict = (f"reaches the target ({target:.4f})" if best["_mean"] >= target else
               f"falls short of the target ({target:.4f}: TF-IDF + {TARGET}) by {target - best['_mean']:.4f}")
    pooling = read_json(args.pooling)
    concat = next((name for name, step in ablation.steps.items() if step.encoder == "finetuned"), None)
    if concat is None:
        raise ValueError(f"{args.params}: lm.ablation.steps has no step on the fine-tuned encoder for "
                         "concat pooling and the rates to be compared with")
    pooling_rows = versus("head reads", ("the last real step's output (stage ulmfit_pooling)", pooling),
                          (f"[last, max, mean]: concat pooling (step {concat})", steps[concat]))
    rates = read_json(args.rates)
    rates_rows = versus("learning rates", (f"one rate for every layer group, constant (step {concat})", steps[concat]),
                        (f"{rates['rates']['label']} (stage ulmfit_rates)", rates))
    subword = read_json(args.subword)
    chain = [(f"{subword['model']}, words (the zoo study's stage subword)", subword["words"]),
             ("+ character n-gram vectors on every token's word vector", subword["subwords"]),
             ("+ decision offsets fitted on validation macro-F1", subword["subwords_offsets"])]
    subword_rows = [{"classifier": label, **spread(m),
                     "change": "" if i == 0 else f"{m['test_macro_f1_mean'] - chain[i - 1][1]['test_macro_f1_mean']:+.4f}",
                     "vs_tfidf": f"{m['test_macro_f1_mean'] - tfidf:+.4f}"} for i, (label, m) in enumerate(chain)]
    strongest = max(m["test_macro_f1_mean"] for _, m in chain)
    subword_verdict = (f"reaches the target ({target:.4f})" if strongest >= target else
                       f"falls short of the target ({target:.4f}) by {target - strongest:.4f}")
    five = read_json(args.five_class)
    five_rows = [{"model": name, "test_weighted_f1": f"{value:.3f}"} for name, value in PUBLISHED.items()]
    five_rows.append({"model": "ULMFiT recipe (stage ulmfit_5class)",
                      "test_weighted_f1": f"{five['test_weighted_f1_mean']:.4f} ± {five['test_weighted_f1_std']:.4f}",
                      "test_macro_f1": f"{five['test_macro_f1_mean']:.4f} ± {five['test_macro_f1_std']:.4f}"})
    plot(rows, tfidf, args.figure)
    text = (
        "# ULMFiT on RuSentiment: what each step contributes\n\n"
        f"RuSentiment, 3 classes, test macro-F1 as mean ± std over seeds; each row changes one thing from the row "
        f"before (`change`); `vs_tfidf` is the gap to TF-IDF ({tfidf:.4f}, `{args.test_metrics}`). The best row, "
        f"\"{best['step']}\" ({best['_mean']:.4f}), {verdict}.\n\n"
        f"The language model: an AWD-LSTM pretrained for {pretrain['best_step']:,} steps on "
        f"{pretrain['train_tokens']:,} tokens (vocabulary {pretrain['vocab']:,}, navec covers "
        f"{pretrain['embedding_coverage']:.1%} of it), validation perplexity "
        f"{pretrain['val_perplexity']:.1f}; fine-tuned on the target's {finetune['finetune_tokens']:,} training "
        f"tokens, its perplexity there {finetune['val_perplexity_before']:.1f} -> "
        f"{finetune['val_perplexity']:.1f}. Every ULMFiT row pools "
        "[last, max, mean] (concat pooling) and freezes the embedding.\n\n"
        + markdown_table(rows, COLUMNS)
        + f"\n![ablation]({os.path.relpath(args.figure, args.report.parent)})\n\n"
        + "## The forward and backward classifiers\n\n"
        + "Per seed, the full recipe's classifier on the forward language model, the same recipe on the backward "
        + "one (pretrained and fine-tuned on the same texts read from the last token to the first, stages "
        + "pretrain_backward and finetune_backward), and the average of the two classifiers' softmax probabilities "
        + "(ULMFiT's bidirectional ensemble); `change` is from the forward classifier.\n\n"
        + markdown_table(direction_rows, ["classifier", "test_macro_f1", "seeds", "change"]) + "\n"
        + "## Concat pooling on its own\n\n"
        + "The fine-tuned encoder and the same head, settings and seeds, once reading the last real step's output "
        + "alone (ULMFiT's ablation of its pooling) and once [last, max, mean].\n\n"
        + markdown_table(pooling_rows, ["head reads", "test_macro_f1", "seeds", "change"]) + "\n"
        + "## ULMFiT's learning rates on their own\n\n"
        + f"The classifier of step {concat} (same encoder, head, epochs and seeds), once at one constant rate for "
        + f"every layer group and once with discriminative rates (each layer group's rate the one above it / "
        + f"{rates['rates']['decay']:g}, the head's peak {rates['rates']['lr']:g}) under a "
        + f"{rates['rates']['schedule'].replace('_', ' ')} schedule.\n\n"
        + markdown_table(rates_rows, ["learning rates", "test_macro_f1", "seeds", "change"]) + "\n"
        + "## The best recurrent classifier: character n-grams and decision offsets\n\n"
        + "Outside the recipe: the main pipeline's LSTM on lemmas and navec, then the same with character n-gram "
        + "vectors (fastText's construction) and with per-class offsets on its logits fitted on validation macro-F1 "
        + f"(`rnnlab.training.decision`), the zoo study's stage subword over its seeds. Its best row {subword_verdict}; "
        + f"TF-IDF with offsets fitted the same way scores {subword['tfidf_offsets']['test_macro_f1']:.4f}.\n\n"
        + markdown_table(subword_rows, ["classifier", "test_macro_f1", "seeds", "change", "vs_tfidf"]) + "\n"
        + "## The 5-class task\n\n"
        + f"The same recipe on RuSentiment's five labels ({', '.join(five['classes'])}), test weighted F1 on the "
        + f"official test file ({sum(five['rows']['test'].values()):,} posts), beside the published numbers.\n\n"
        + markdown_table(five_rows, ["model", "test_weighted_f1", "test_macro_f1"])
    )
    with atomic_path(args.report) as tmp:
        tmp.write_text(text, encoding="utf-8")
    with mlflow_run("pretraining-report", os.environ, stage="pretraining_report",
                    experiment="rnnlab-pretraining") as tracker:
        tracker.log_metrics({f"{key}_test_macro_f1": row["_mean"] for key, row in zip(keys, rows, strict=True)}
                            | {"tfidf_test_macro_f1": tfidf,
                               "five_class_test_weighted_f1": five["test_weighted_f1_mean"],
                               "last_state_pooling_test_macro_f1": pooling["test_macro_f1_mean"],
                               "layer_rates_test_macro_f1": rates["test_macro_f1_mean"],
                               "backward_test_macro_f1": bidirectional["backward"]["test_macro_f1_mean"],
                               "subword_offsets_test_macro_f1": subword["subwords_offsets"]["test_macro_f1_mean"]})
        tracker.log_artifact(args.report)
        tracker.log_artifact(args.figure)
    print(text)


if __name__ == "__main__":
    run_stage(main)
