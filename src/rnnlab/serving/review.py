"""Review report for a pull request: params, metrics and plots of the workspace against a git revision.

`python -m rnnlab.serving.review --ref main --out reports/review.md` runs in the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from rnnlab.data.files import atomic_dir, atomic_path


def dvc(*args: str) -> str:
    """Run a dvc command of this environment in the current directory; its stdout."""
    done = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`dvc {' '.join(args)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def compare_plots(plots: dict[str, Any]) -> dict[str, list[str]]:
    """Plot ids by status: `changed` (data differ, or exist in one revision only), `same`, `missing` (in neither)."""
    status: dict[str, list[str]] = {"changed": [], "same": [], "missing": []}
    for plot_id, renders in sorted(plots.get("data", {}).items()):
        revisions = {rev for render in renders for rev in render.get("revisions", [])}
        points: dict[str, list[str]] = defaultdict(list)
        for render in renders:
            for point in render.get("content", {}).get("data", {}).get("values", []):
                row = {k: v for k, v in point.items() if k != "rev"}
                points[point.get("rev", "")].append(json.dumps(row, sort_keys=True, default=str))
        distinct = {tuple(sorted(points[rev])) for rev in revisions}
        key = "missing" if not revisions else "changed" if len(distinct) > 1 or len(revisions) < 2 else "same"
        status[key].append(plot_id)
    return status


def pipeline_status() -> str:
    """One line: whether `dvc status` finds stages to rerun (then the metrics below are stale)."""
    stale = json.loads(dvc("status", "--json") or "{}")
    if not stale:
        return "`dvc status`: pipeline up to date, the metrics below are the workspace's results."
    return f"`dvc status`: {len(stale)} stage(s) not reproduced ({', '.join(sorted(stale))}): metrics may be stale."


def plots_section(ref: str, plots_dir: Path, link: str) -> str:
    """Changed plots, and every plot of both revisions rendered to `plots_dir`."""
    status = compare_plots(json.loads(dvc("plots", "diff", ref, "--json") or "{}"))
    with atomic_dir(plots_dir) as tmp:
        dvc("plots", "diff", ref, "-o", str(tmp))
    lines = [f"- `{plot_id}`" for plot_id in status["changed"]] or ["No plot changed."]
    lines += ["", f"{len(status['same'])} plot(s) unchanged, {len(status['missing'])} in neither revision. "
              f"Both revisions, every plot: [{link}/index.html]({link}/index.html)"]
    return "\n".join(lines)


def table_or(markdown: str, empty: str) -> str:
    """A dvc `--md` table, or `empty` when it has no rows (dvc prints a bare header then)."""
    return markdown if len([line for line in markdown.splitlines() if line.startswith("|")]) > 2 else empty


def render_review(ref: str, plots_dir: Path, link: str) -> str:
    """The report's markdown: params diff, metrics diff and changed plots against `ref`."""
    params = table_or(dvc("params", "diff", ref, "--md"), "No params changed.")
    metrics = table_or(dvc("metrics", "diff", ref, "--md"), "No metrics changed.")
    return "\n".join([
        f"# Review: workspace against `{ref}`", "", pipeline_status(), "",
        "## Params", "", params, "", "## Metrics", "", metrics, "",
        "## Plots", "", plots_section(ref, plots_dir, link), "",
    ])


def main(argv: list[str] | None = None) -> int:
    """Write the review markdown (and the rendered plots beside it)."""
    parser = argparse.ArgumentParser(prog="python -m rnnlab.serving.review", description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True, help="git revision to compare with, e.g. main or HEAD~1")
    parser.add_argument("--out", type=Path, required=True, help="the markdown report")
    parser.add_argument("--plots", type=Path, help="folder for the rendered plots (default: <out>_plots)")
    args = parser.parse_args(argv)
    plots_dir = args.plots or args.out.with_name(f"{args.out.stem}_plots")
    try:
        text = render_review(args.ref, plots_dir, Path(os.path.relpath(plots_dir, args.out.parent)).as_posix())
    except RuntimeError as err:
        print(f"review: {err}", file=sys.stderr)
        return 1
    with atomic_path(args.out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"review of the workspace against {args.ref} written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
