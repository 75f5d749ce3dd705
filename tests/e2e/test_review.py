"""Review report for a pull request: `python -m rnnlab.serving.review` on a temporary repository, and the CI workflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnnlab.serving.review import compare_plots

from .conftest import ROOT, run

WORKFLOW = ROOT / ".github" / "workflows" / "pr-review.yml"
STAGE = """\
import json, yaml
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
json.dump({"score": round(1 - lr, 4), "loss": 0.5}, open("metrics.json", "w"))
json.dump([{"epoch": e, "score": round(e * (1 - lr) / 3, 4)} for e in (1, 2, 3)], open("history.json", "w"))
json.dump([{"step": s, "value": s} for s in (1, 2)], open("constant.json", "w"))
"""
DVC_YAML = """\
stages:
  train:
    cmd: {python} train.py
    deps: [train.py]
    params: [train.lr, train.epochs]
    metrics:
      - metrics.json:
          cache: false
    plots:
      - history.json:
          cache: false
          x: epoch
          y: score
      - constant.json:
          cache: false
          x: step
          y: value
"""


def commit(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], repo)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """Two commits: lr 0.1 -> 0.2, each with its reproduced metrics and plots."""
    repo = tmp_path_factory.mktemp("review")
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["dvc", "config", "core.analytics", "false"], repo)
    (repo / "train.py").write_text(STAGE)
    (repo / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
    (repo / "params.yaml").write_text("train:\n  lr: 0.1\n  epochs: 3\n")
    run(["dvc", "repro", "-q"], repo)
    commit(repo, "baseline")
    (repo / "params.yaml").write_text("train:\n  lr: 0.2\n  epochs: 3\n")
    run(["dvc", "repro", "-q"], repo)
    commit(repo, "raise lr")
    return repo


def review(repo: Path, ref: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "rnnlab.serving.review", "--ref", ref, "--out", "reports/review.md"]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True)


def table_rows(markdown: str, section: str) -> list[list[str]]:
    """Cells of the markdown table under `## section` (header and separator skipped)."""
    body = markdown.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def test_review_shows_the_changed_param_metric_and_plot(repo):
    assert review(repo, "HEAD~1").returncode == 0
    report = (repo / "reports" / "review.md").read_text()
    assert table_rows(report, "Params") == [["params.yaml", "train.lr", "0.1", "0.2"]]  # epochs unchanged: absent
    assert table_rows(report, "Metrics") == [["metrics.json", "score", "0.9", "0.8", "-0.1"]]  # loss unchanged
    plots = report.split("## Plots\n", 1)[1]
    assert "- `history.json`" in plots and "`constant.json`" not in plots and "1 plot(s) unchanged" in plots
    assert "pipeline up to date" in report
    assert "review_plots/index.html" in report and (repo / "reports" / "review_plots" / "index.html").is_file()


def test_review_against_the_same_commit_reports_no_change(repo):
    assert review(repo, "HEAD").returncode == 0
    report = (repo / "reports" / "review.md").read_text()
    assert "No params changed." in report and "No metrics changed." in report and "No plot changed." in report


def test_review_of_unknown_revision_fails_with_dvc_message(repo):
    done = review(repo, "no-such-branch")
    assert done.returncode == 1 and "no-such-branch" in done.stderr


def test_ci_workflow_runs_the_makefile_commands():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert "pull_request" in workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as True
    steps = workflow["jobs"]["review"]["steps"]
    makes = [s["run"] for s in steps if s.get("run", "").startswith("make ")]
    # restore from the team's remote before reproducing, publish after
    assert makes == ["make setup", "make run REMOTE_ERROR=warn", "make push", 'make review REF="$BASE_REF"']
    dry = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True)
    assert dry.stdout.index("rnnlab remote restore") < dry.stdout.index("dvc repro"), dry.stdout
    dry = subprocess.run(["make", "-n", "review", "REF=origin/main"], cwd=ROOT, capture_output=True, text=True)
    recipe = "-m rnnlab.serving.review --ref origin/main --out reports/review.md"
    assert dry.returncode == 0 and recipe in dry.stdout, f"the Makefile's `review` target must run {recipe}: {dry}"
    assert "--body-file reports/review.md" in steps[-1]["run"]  # the comment posts the file make writes


def test_compare_plots_sorts_changed_same_new_and_missing():
    def render(revisions, values):
        return [{"type": "vega", "revisions": revisions, "content": {"data": {"values": values}}}]

    both = ["workspace", "main"]
    plots = {"data": {
        "same.json": render(both, [{"x": 1, "rev": "workspace"}, {"x": 1, "rev": "main"}]),
        "changed.json": render(both, [{"x": 1, "rev": "workspace"}, {"x": 2, "rev": "main"}]),
        "new.json": render(["workspace"], [{"x": 1, "rev": "workspace"}]),
        "missing.json": [],
    }}
    assert compare_plots(plots) == {"changed": ["changed.json", "new.json"], "same": ["same.json"],
                                    "missing": ["missing.json"]}
