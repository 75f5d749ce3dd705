"""Budget profiles: params keys changed together, run as one DVC experiment over every pipeline, so the params
files keep the 2-core budgets and a larger run stays an experiment.

A profile (profiles/<name>.yaml) maps each params file, relative to the repository root, to the `dotted.key:
value` leaves it changes there: `params.yaml` for the main pipeline, `studies/<study>/params.yaml` for a study.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnnlab.params import ConfigError, read_params


def profile_overrides(profile: Path, root: Path) -> dict[str, dict[str, Any]]:
    """The profile's `{params file: {dotted.key: value}}`, each file one under `root` and each key one that file holds
    (a typo would add a new key)."""
    overrides = read_params(profile)
    for name, keys in overrides.items():
        if not (root / str(name)).is_file():
            raise ConfigError(f"{profile}: {name}: no such params file under {root}")
        if not isinstance(keys, dict):
            raise ConfigError(f"{profile}: {name}: expected `dotted.key: value` lines, got {keys!r}")
        base = read_params(root / str(name))
        for key, value in keys.items():
            node: Any = base
            for depth, part in enumerate(str(key).split(".")):
                if not isinstance(node, dict) or part not in node:
                    where = ".".join(str(key).split(".")[: depth + 1])
                    raise ConfigError(f"{profile}: {name}: {key}: {name} has no key {where!r}")
                node = node[part]
            if isinstance(value, dict) or isinstance(node, dict):
                # `dvc exp run -S` merges a mapping into the one it replaces, so `{}` would change nothing
                raise ConfigError(f"{profile}: {name}: {key}: set the leaves of a mapping, "
                                  f"one `{key}.<key>: value` each")
    return overrides


def override_value(value: Any) -> str:
    """A leaf value in the Hydra override grammar that `dvc exp run -S` parses (`[4,6,8]`), without spaces."""
    if isinstance(value, list):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    return json.dumps(value)  # numbers, true/false, null and double-quoted strings read the same in Hydra


def experiment_command(profile: Path, root: Path) -> list[str]:
    """`dvc exp run` over every pipeline, named after the profile, with its keys set (`-S file:key=value`)."""
    sets = [f"--set-param={name}:{key}={override_value(value)}"
            for name, keys in profile_overrides(profile, root).items() for key, value in keys.items()]
    return ["dvc", "exp", "run", "--all-pipelines", "--name", f"profile-{profile.stem}", *sets]
