"""A user's mistake reads as one line from a stage, naming the file and key (or row) at fault; a bug keeps its
traceback (`rnnlab.process.run_stage`)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab import UserError
from rnnlab.data.datasets import CorpusError
from rnnlab.data.download import DownloadError
from rnnlab.params import ConfigError
from rnnlab.process import TrainingDiverged
from rnnlab.studies.pretraining.five_class import LeakError
from rnnlab.training.checkpoint import CheckpointError
from rnnlab.training.resume import StageBusy
from tests.unit.test_config import FILES, write_params

ROOT = Path(__file__).resolve().parents[2]


def run_prepare(tmp_path: Path, params: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "stages" / "prepare.py"), "--params", str(write_params(tmp_path, params)),
                           "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "prepared.csv"),
                           "--stats", str(tmp_path / "stats.json")], cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("error", [ConfigError, CorpusError, CheckpointError, TrainingDiverged, StageBusy, DownloadError,
                                   LeakError])
def test_the_projects_errors_are_user_errors(error):
    assert issubclass(error, UserError)


def test_a_misspelt_key_is_one_line_naming_the_file_and_key(tmp_path):
    params = copy.deepcopy(FILES["params.yaml"])
    params["prepare"]["val_sise"] = params["prepare"].pop("val_size")
    done = run_prepare(tmp_path, params)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"prepare: {tmp_path / 'params.yaml'}: prepare.val_sise: unknown key 'val_sise' (known: corpus, label_map, "
        "val_size, local_csv, max_rows_per_split)"]
    assert not (tmp_path / "prepared.csv").exists()


def test_a_csv_in_the_wrong_encoding_is_one_line_naming_the_file_and_the_key_that_fixes_it(tmp_path):
    csv = tmp_path / "posts.csv"
    csv.write_bytes("text,label\nотлично,positive\nплохо,negative\n".encode("cp1251"))
    params = copy.deepcopy(FILES["params.yaml"])
    params["prepare"].update(corpus="local_csv", local_csv={**params["prepare"]["local_csv"], "path": str(csv)})
    done = run_prepare(tmp_path, params)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"prepare: {csv}: cannot parse CSV as utf-8 text") and "prepare.local_csv.encoding" in lines[0]


def test_a_bug_keeps_its_traceback(tmp_path):
    """Not the user's mistake: a stage script whose main raises a plain error shows where."""
    script = tmp_path / "stage.py"
    script.write_text("from rnnlab.process import run_stage\n\ndef main():\n    raise KeyError('oops')\n\n"
                      "run_stage(main)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "Traceback" in done.stderr and "KeyError: 'oops'" in done.stderr
