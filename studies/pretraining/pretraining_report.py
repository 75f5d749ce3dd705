"""Stage pretraining_report: ULMFiT's ablation table and figure (reports/pretraining.md), from the navec baseline
to the full recipe, against TF-IDF and the issue's target; logged to MLflow."""

import argparse
import os
from pathlib import Path

from rnnlab.data.files import atomic_path, read_json
from rnnlab.params import ConfigError, load_section
from rnnlab.process import run_stage
from rnnlab.studies.pretraining.ablation import AblationConfig
from rnnlab.studies.pretraining.report import INPUTS, pretraining_report
from rnnlab.training.tracking import mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/pretraining/params.yaml")
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

    ablation = load_section(args.params, "lm.ablation", AblationConfig)
    baseline = args.zoo_metrics / f"{ablation.baseline}.json"
    if not baseline.is_file():
        raise ConfigError(f"{baseline}: no zoo metrics for lm.ablation.baseline '{ablation.baseline}'; "
                          "run `dvc repro studies/zoo/dvc.yaml:zoo` first")
    paths = {name: getattr(args, name) for name in INPUTS}
    results = {"baseline": read_json(baseline), **{name: read_json(path) for name, path in paths.items()}}
    text, logged = pretraining_report(results, ablation, paths, args.report, args.figure)
    with atomic_path(args.report) as tmp:
        tmp.write_text(text, encoding="utf-8")
    with mlflow_run("pretraining-report", os.environ, stage="pretraining_report",
                    experiment="rnnlab-pretraining") as tracker:
        tracker.log_metrics(logged)
        tracker.log_artifact(args.report)
        tracker.log_artifact(args.figure)
    print(text)


if __name__ == "__main__":
    run_stage(main)
