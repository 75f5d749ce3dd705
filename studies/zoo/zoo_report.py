"""Stage zoo_report: compare the zoo variants (mean and spread over seeds) with the baseline."""

import argparse
import os
from pathlib import Path

from rnnlab.data.files import atomic_path, read_json
from rnnlab.process import run_stage
from rnnlab.studies.zoo.zoo import report_rows
from rnnlab.training.reports import markdown_table, plot_variants
from rnnlab.training.tracking import mlflow_run

COLUMNS = ["variant", "test_macro_f1", "test_accuracy", "n_parameters", "seeds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zoo-metrics", type=Path, nargs="+", required=True,
                        help="folders of one JSON per variant (the zoo's, the attention classifier's)")
    parser.add_argument("--test-metrics", type=Path, required=True, help="the main pipeline's metrics/test.json")
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--figure", type=Path, required=True)
    args = parser.parse_args()

    summaries = sorted((read_json(p) for folder in args.zoo_metrics for p in folder.glob("*.json")),
                       key=lambda s: -s["test_macro_f1"]["mean"])
    test = read_json(args.test_metrics)
    tfidf = test["tfidf"]["macro_f1"]
    best = summaries[0]

    def verdict(f1: float) -> str:
        return "reaches or beats it" if f1 >= tfidf else f"falls short of it by {tfidf - f1:.4f}"

    main_name, main_f1 = max(((k, v["macro_f1"]) for k, v in test.items() if k not in ("tfidf", "majority")),
                             key=lambda item: item[1])
    plot_variants(summaries, args.figure, reference=tfidf)
    text = (
        "# Model zoo on RuSentiment\n\n"
        f"Each variant trained with seeds {[r['seed'] for r in best['runs']]}; test macro-F1 and accuracy as mean ± std.\n"
        "Epoch times are in each variant's run record, beside its MLflow run ids (`make bench` measures speed in\n"
        "controlled, interleaved runs).\n"
        f"TF-IDF baseline test macro-F1 (same data and split): {tfidf:.4f}. The best variant, `{best['variant']}` "
        f"({best['test_macro_f1']['mean']:.4f}), {verdict(best['test_macro_f1']['mean'])}; the main pipeline's best "
        f"model, `{main_name}` ({main_f1:.4f}, `{args.test_metrics}`), {verdict(main_f1)}.\n"
        "What was tried: every variant below (cells, depth and direction, pooling (attention included), padding/packing/bucketing, three "
        "recurrent dropouts on top of the base's embedding and output dropout, five initialisations besides PyTorch's "
        "default, learned initial state, navec embeddings frozen or fine-tuned), each on the same base and budget; in the main pipeline, bidirectional RNN, LSTM and GRU on fine-tuned navec vectors with max "
        "pooling, class weights and early stopping.\n\n"
        + markdown_table(report_rows(summaries), COLUMNS)
        + f"\n![zoo]({os.path.relpath(args.figure, args.report.parent)})\n"
    )
    with atomic_path(args.report) as tmp:
        tmp.write_text(text, encoding="utf-8")
    with mlflow_run("zoo-report", os.environ, stage="zoo_report", experiment="rnnlab-zoo") as tracker:
        tracker.log_metrics({"best_test_macro_f1": best["test_macro_f1"]["mean"], "tfidf_test_macro_f1": tfidf})
        tracker.log_artifact(args.report)
        tracker.log_artifact(args.figure)
    print(text)


if __name__ == "__main__":
    run_stage(main)
