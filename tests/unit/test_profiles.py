"""Budget profiles: every key a profile sets is a key of the params file it names, and the params it gives still load."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnnlab.cli import main
from rnnlab.params import ConfigError, load_section, read_params
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
    overrides = profile_overrides(profile, ROOT)
    assert overrides
    for name, keys in overrides.items():
        params = apply(read_params(ROOT / name), keys)
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
        for key in keys:  # each changed section still passes its checks (ranges, cross-field rules), as its stage loads it
            file, section, tp = registered_section(key)
            assert file == name, f"{key}: a stage loads it from {file}, not {name}"
            assert load_section(path, section, tp) != load_section(ROOT / name, section, tp)


def test_dvc_exp_run_sets_the_profiles_values(tmp_path):
    """The command DVC runs: in a repository whose params.yaml holds nested values, `dvc exp run` with the
    profile's `-S` arguments leaves exactly the profile's values in the experiment's params."""
    (tmp_path / "params.yaml").write_text("seed: 1\nzoo: {trainer: {epochs: 3, lr: 0.002}, overrides: {trainer: {epochs: 4}}}\n",
                                          encoding="utf-8")
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "params.yaml").write_text("tune: {space: {epochs: {choice: [2, 3]}}, label: a b}\n", encoding="utf-8")
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: cp params.yaml out.yaml && cp study/params.yaml study.yaml\n"
                                       "    params: [zoo, {study/params.yaml: [tune]}]\n    outs: [out.yaml, study.yaml]\n",
                                       encoding="utf-8")
    profile = tmp_path / "big.yaml"
    changes = {"params.yaml": {"zoo.trainer.epochs": 5, "zoo.overrides.trainer.epochs": 8},
               "study/params.yaml": {"tune.space.epochs.choice": [4, 6, 8], "tune.label": "two words, one: colon"}}
    profile.write_text(yaml.safe_dump(changes), encoding="utf-8")
    command = experiment_command(profile, tmp_path)
    assert command[:6] == ["dvc", "exp", "run", "--all-pipelines", "--name", "profile-big"]
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for step in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                 ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], command):
        done = subprocess.run(step, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    expected = {"seed": 1, "zoo": {"trainer": {"epochs": 5, "lr": 0.002}, "overrides": {"trainer": {"epochs": 8}}}}
    assert yaml.safe_load((tmp_path / "out.yaml").read_text(encoding="utf-8")) == expected
    expected = {"tune": {"space": {"epochs": {"choice": [4, 6, 8]}}, "label": "two words, one: colon"}}
    assert yaml.safe_load((tmp_path / "study.yaml").read_text(encoding="utf-8")) == expected


def test_a_mapping_value_is_refused_since_dvc_would_merge_it(tmp_path):
    profile = tmp_path / "gpu.yaml"
    profile.write_text("studies/zoo/params.yaml: {subword.overrides.trainer: {}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"gpu\.yaml: studies/zoo/params\.yaml: subword\.overrides\.trainer: set the leaves"):
        profile_overrides(profile, ROOT)


def test_a_misspelt_key_is_refused_naming_the_profile_and_the_key(tmp_path, capsys):
    profile = tmp_path / "gpu.yaml"
    profile.write_text("studies/zoo/params.yaml: {zoo.trainer.epoch: 5}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"gpu\.yaml: .*zoo\.trainer\.epoch: .*params\.yaml has no key 'zoo\.trainer\.epoch'"):
        profile_overrides(profile, ROOT)
    assert main(["profile", str(profile), "--root", str(ROOT), "--dry"]) != 0
    assert "zoo.trainer.epoch" in capsys.readouterr().err


def test_a_key_in_the_wrong_params_file_is_refused(tmp_path):
    """zoo's keys live in the zoo study's file: set in params.yaml they would add a key no stage reads."""
    profile = tmp_path / "gpu.yaml"
    profile.write_text("params.yaml: {zoo.trainer.epochs: 5}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"params\.yaml: zoo\.trainer\.epochs: params\.yaml has no key 'zoo'"):
        profile_overrides(profile, ROOT)
