"""Stage explain: what the attention classifier reads in a fixed set of test posts, some right and some wrong:
one figure per post (class probabilities after each prefix, hidden units over time, attention) and a page."""

import argparse
import os
from pathlib import Path

import torch

from rnnlab.data.files import atomic_path
from rnnlab.params import load_section
from rnnlab.process import run_stage
from rnnlab.studies.zoo.explain import (
    ExplainConfig,
    explain,
    explanation_html,
    pick_posts,
    plot_explanation,
)
from rnnlab.text.features import load_features
from rnnlab.training.attention import KIND
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.classification import predict_logits
from rnnlab.training.tracking import mlflow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="studies/zoo/params.yaml")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the zoo_attention stage's model")
    parser.add_argument("--tensors", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder: a PNG per post and posts.html")
    args = parser.parse_args()

    cfg = load_section(args.params, "explain", ExplainConfig)
    torch.set_num_threads(1)
    clf = load_checkpoint(args.checkpoint, kind=KIND)
    test = load_features(args.tensors)[0]["test"]
    predicted = predict_logits(clf.model, test, 512, "cpu").argmax(1)
    posts = pick_posts(test.lengths, test.tokens, predicted == test.labels, cfg)
    args.out.mkdir(parents=True, exist_ok=True)
    texts, explanations, figures = [], [], []
    for k, row in enumerate(posts, 1):
        ids = test.tokens[row, : test.lengths[row]].tolist()
        exp = explain(clf.model, ids, [clf.vocab.itos[i] for i in ids], clf.classes)
        gold, verdict = clf.classes[int(test.labels[row])], "right" if exp.predicted == test.labels[row] else "wrong"
        title = (f"{clf.meta['name']}, test post {row}: gold {gold}, predicted {clf.classes[exp.predicted]} "
                 f"({verdict})")
        figures.append(args.out / f"post{k}-{verdict}.png")
        plot_explanation(exp, title, figures[-1])
        texts.append(f"test post {row} (gold {gold}, {verdict})")
        explanations.append(exp)
    page = args.out / "posts.html"
    with atomic_path(page) as tmp:
        tmp.write_text(explanation_html(texts, explanations, clf.meta["name"]), encoding="utf-8")
    with mlflow_run("explain", os.environ, stage="explain", experiment="rnnlab-zoo") as tracker:
        for path in [*figures, page]:
            tracker.log_artifact(path, "explain")
    print(f"{len(figures)} posts explained into {args.out}")


if __name__ == "__main__":
    run_stage(main)
