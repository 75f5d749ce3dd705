"""Budget profiles: params.yaml keys changed together (profiles/<name>.yaml, `dotted.key: value`), run as one DVC
experiment over every pipeline, so params.yaml keeps the 2-core budgets and a larger run stays an experiment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnnlab.config import ConfigError, read_params


def profile_overrides(profile: Path, params: Path) -> dict[str, Any]:
    """The profile's `dotted.key: value` pairs, each key one that `params` holds (a typo would add a new key)."""
    overrides = read_params(profile)
    base = read_params(params)
    for key in overrides:
        node: Any = base
        for depth, part in enumerate(str(key).split(".")):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(str(key).split(".")[: depth + 1])
                raise ConfigError(f"{profile}: {key}: {params} has no key {where!r}")
            node = node[part]
        if isinstance(overrides[key], dict) or isinstance(node, dict):
            # `dvc exp run -S` merges a mapping into the one it replaces, so `{}` would change nothing
            raise ConfigError(f"{profile}: {key}: set the leaves of a mapping, one `{key}.<key>: value` each")
    return overrides


def override_value(value: Any) -> str:
    """A leaf value in the Hydra override grammar that `dvc exp run -S` parses (`[4,6,8]`), without spaces."""
    if isinstance(value, list):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    return json.dumps(value)  # numbers, true/false, null and double-quoted strings read the same in Hydra


def experiment_command(profile: Path, params: Path) -> list[str]:
    """`dvc exp run` over every pipeline, named after the profile, with its keys set (`-S key=value`)."""
    sets = [f"--set-param={key}={override_value(value)}" for key, value in profile_overrides(profile, params).items()]
    return ["dvc", "exp", "run", "--all-pipelines", "--name", f"profile-{profile.stem}", *sets]
