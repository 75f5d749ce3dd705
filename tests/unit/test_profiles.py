"""Budget profiles: every key a profile sets is a params.yaml key, and the params it gives still load."""

from __future__ import annotations

import copy
import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import rnnlab
from rnnlab.cli import main
from rnnlab.config import ConfigError, load_section, read_params
from rnnlab.profiles import experiment_command, profile_overrides

from tests.configs import registered_section

ROOT = Path(__file__).resolve().parents[2]
PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))


def apply(params: dict, overrides: dict) -> dict:
    """params with each dotted key set, as `dvc exp run -S` sets it."""
    params = copy.deepcopy(params)
    for key, value in overrides.items():
        *parents, last = key.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[last] = value
    return params


@pytest.mark.parametrize("profile", PROFILES, ids=[p.stem for p in PROFILES])
def test_a_profile_changes_existing_keys_into_params_that_load(profile, tmp_path):
    overrides = profile_overrides(profile, ROOT / "params.yaml")
    assert overrides
    params = apply(read_params(ROOT / "params.yaml"), overrides)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    for module in pkgutil.walk_packages(rnnlab.__path__, "rnnlab."):  # the choices each section is checked against
        importlib.import_module(module.name)
    for key in overrides:  # each changed section still passes its checks (ranges, cross-field rules)
        assert load_section(path, registered_section(key)) != load_section(ROOT / "params.yaml", registered_section(key))


def test_dvc_exp_run_sets_the_profiles_values(tmp_path):
    """The command DVC runs: in a repository whose params.yaml holds nested values, `dvc exp run` with the
    profile's `-S` arguments leaves exactly the profile's values in the experiment's params."""
    (tmp_path / "params.yaml").write_text("seed: 1\nzoo: {trainer: {epochs: 3, lr: 0.002}, overrides: {trainer: {epochs: 4}}}\n"
                                          "tune: {space: {epochs: {choice: [2, 3]}}, label: a b}\n", encoding="utf-8")
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: cp params.yaml out.yaml\n    params: [zoo, tune]\n"
                                       "    outs: [out.yaml]\n", encoding="utf-8")
    profile = tmp_path / "big.yaml"
    changes = {"zoo.trainer.epochs": 5, "zoo.overrides.trainer.epochs": 8, "tune.space.epochs.choice": [4, 6, 8],
               "tune.label": "two words, one: colon"}
    profile.write_text(yaml.safe_dump(changes), encoding="utf-8")
    command = experiment_command(profile, tmp_path / "params.yaml")
    assert command[:6] == ["dvc", "exp", "run", "--all-pipelines", "--name", "profile-big"]
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for step in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                 ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], command):
        done = subprocess.run(step, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    expected = {"seed": 1, "zoo": {"trainer": {"epochs": 5, "lr": 0.002}, "overrides": {"trainer": {"epochs": 8}}},
                "tune": {"space": {"epochs": {"choice": [4, 6, 8]}}, "label": "two words, one: colon"}}
    assert yaml.safe_load((tmp_path / "out.yaml").read_text(encoding="utf-8")) == expected


def test_a_mapping_value_is_refused_since_dvc_would_merge_it(tmp_path):
    profile = tmp_path / "gpu.yaml"
    profile.write_text("subword.overrides.trainer: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"gpu\.yaml: subword\.overrides\.trainer: set the leaves"):
        profile_overrides(profile, ROOT / "params.yaml")


def test_a_misspelt_key_is_refused_naming_the_profile_and_the_key(tmp_path, capsys):
    profile = tmp_path / "gpu.yaml"
    profile.write_text("zoo.trainer.epoch: 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"gpu\.yaml: zoo\.trainer\.epoch: .*params\.yaml has no key 'zoo\.trainer\.epoch'"):
        profile_overrides(profile, ROOT / "params.yaml")
    assert main(["profile", str(profile), "--params", str(ROOT / "params.yaml"), "--dry"]) != 0
    assert "zoo.trainer.epoch" in capsys.readouterr().err
