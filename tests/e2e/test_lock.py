"""The committed dvc.lock describes the committed code and params: every committed metric is one a
`dvc repro` of this commit reproduces. Outputs may be missing (a clean clone); nothing may differ."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]


def missing_outputs(path: str, outs: set[str]) -> bool:
    """Whether `path` is, or is a folder holding, pipeline outputs of which some are absent here."""
    produced = [out for out in outs if out == path or out.startswith(path.rstrip("/") + "/")]
    return any(not (ROOT / out).exists() for out in produced)


def test_dvc_status_finds_no_stage_whose_code_params_or_command_changed():
    dvc = Path(sys.executable).parent / "dvc"
    done = subprocess.run([str(dvc), "status", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout.strip().splitlines()[-1])
    locks = [YAML(typ="safe").load(path.read_text(encoding="utf-8"))  # the main pipeline's and the studies'
             for path in [ROOT / "dvc.lock", *ROOT.glob("studies/*/dvc.lock")]]
    outs = {out["path"] for lock in locks for stage in lock["stages"].values() for out in stage.get("outs", [])}
    differing = {}
    for stage, entries in status.items():
        for entry in entries:
            if not isinstance(entry, dict):  # "changed command", "always changed"
                differing.setdefault(stage, []).append(entry)
                continue
            for kind, changes in entry.items():
                if kind == "changed outs":
                    continue  # outputs not pulled or not rebuilt here
                # An upstream output that is missing here reads "deleted" (a file) or "modified" (a folder
                # such as data/models, which git keeps for its .gitignore); code or params differ otherwise.
                found = {path: change for path, change in changes.items()
                         if change != "deleted" and not (isinstance(change, str) and missing_outputs(path, outs))}
                if found:
                    differing.setdefault(stage, []).append({kind: found})
    summary = "\n".join(f"  {stage}: {str(changes)[:300]}" for stage, changes in differing.items())
    assert not differing, f"dvc.lock disagrees with the code or params; rerun these {len(differing)} stages:\n{summary}"
