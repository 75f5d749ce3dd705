"""Where the pipeline writes its models, read from dvc.yaml: the commands take no second spelling of a path."""

from __future__ import annotations

import re
from pathlib import Path

from ruamel.yaml import YAML

from rnnlab.config import read_params


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


def trained_models(params: Path = Path("params.yaml")) -> list[str]:
    """The sentiment models the pipeline trains: the entries of `train` in params.yaml (stages train@<name>)."""
    return list(read_params(params).get("train", {}))
