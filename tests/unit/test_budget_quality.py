"""benchmarks/budget_quality.py: every headline it reports is a number in the committed metrics files, and the
table's change is the workspace's value less the earlier commit's."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("budget_quality", ROOT / "benchmarks" / "budget_quality.py")
budget_quality = importlib.util.module_from_spec(spec)
spec.loader.exec_module(budget_quality)


def test_every_headline_is_a_number_of_a_committed_metrics_file():
    studies = set()
    for study, path, key, _ in budget_quality.HEADLINES:
        assert isinstance(budget_quality.value(json.loads((ROOT / path).read_text(encoding="utf-8")), key), float)
        studies.add(study)
    assert studies == {p.parent.name for p in ROOT.glob("studies/*/dvc.yaml")}  # every study has a headline


def test_the_change_is_the_workspace_less_the_earlier_commit(monkeypatch):
    def halved(ref, path):
        data = json.loads((ROOT / path).read_text(encoding="utf-8"))
        return json.loads(json.dumps(data), parse_float=lambda s: float(s) / 2, parse_int=lambda s: int(s) / 2)

    monkeypatch.setattr(budget_quality, "committed", halved)
    rows = budget_quality.table("abc1234").splitlines()[2:]
    assert len(rows) == len(budget_quality.HEADLINES)
    for row, (_, path, key, _) in zip(rows, budget_quality.HEADLINES, strict=True):
        old, new, change = (float(cell) for cell in row.strip("|").split("|")[2:5])
        now = budget_quality.value(json.loads((ROOT / path).read_text(encoding="utf-8")), key)
        assert (old, new) == (round(now / 2, 4), round(now, 4)) and abs(change - (new - old)) < 2e-4, row
