"""Where the pipeline writes its models, read from dvc.yaml and dvc.lock: the commands take no second spelling of a path."""

from __future__ import annotations

import re
from pathlib import Path

from ruamel.yaml import YAML


def stage_outs(stage: str, dvc_yaml: Path = Path("dvc.yaml")) -> list[Path]:
    """The declared outs of `stage` (`name` or, for a foreach stage, `name@item`) as dvc.yaml states them."""
    if not dvc_yaml.is_file():
        raise FileNotFoundError(f"{dvc_yaml} not found: run from the repository root, or give the path")
    stages = YAML(typ="safe").load(dvc_yaml.read_text(encoding="utf-8"))["stages"]
    name, _, item = stage.partition("@")
    if name not in stages or bool(item) != ("foreach" in stages[name]):
        raise KeyError(f"{dvc_yaml} has no stage {stage!r}")
    definition = stages[name].get("do", stages[name])
    outs = [next(iter(out)) if isinstance(out, dict) else out for out in definition.get("outs", [])]
    return [Path(re.sub(r"\$\{\s*key\s*\}", item, out)) for out in outs]


def model_checkpoint(stage: str, dvc_yaml: Path = Path("dvc.yaml")) -> Path:
    """The one `.pt` checkpoint among a stage's outs."""
    found = [out for out in stage_outs(stage, dvc_yaml) if out.suffix == ".pt"]
    if len(found) != 1:
        raise KeyError(f"{dvc_yaml}: stage {stage!r} declares {len(found)} .pt checkpoints, expected one")
    return found[0]


def pipeline_models(dvc_lock: Path = Path("dvc.lock")) -> dict[str, Path]:
    """The sentiment models the current dvc.lock records (stages train@<name>, train_subword@<name> and
    tfidf): name -> model file.

    Files that no stage of the lock produced (a leftover of an earlier corpus or params) are not models.
    """
    if not dvc_lock.is_file():
        raise FileNotFoundError(f"{dvc_lock} not found: run `dvc repro` (or `dvc pull`) from the repository root")
    stages = YAML(typ="safe").load(dvc_lock.read_text(encoding="utf-8")).get("stages", {})
    models = {}
    for stage, entry in stages.items():
        prefix = next((p for p in ("train@", "train_subword@") if stage.startswith(p)), None)
        name = stage.removeprefix(prefix) if prefix else stage if stage == "tfidf" else None
        found = [Path(out["path"]) for out in entry.get("outs", []) if Path(out["path"]).suffix in (".pt", ".pkl")]
        if name is not None and len(found) == 1:
            models[name] = found[0]
    return models
