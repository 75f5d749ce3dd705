"""Atomic writes and JSON: a failed write leaves the previous file; NaN never reaches a JSON file."""

import json
import math

import pytest

from rnnlab.data.files import atomic_path, write_json


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    write_json(path, {"score": 0.5})
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed halfway")
    assert json.loads(path.read_text()) == {"score": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_json_refuses_non_finite_numbers_and_keeps_the_previous_file(tmp_path, value):
    path = tmp_path / "history.json"
    write_json(path, [{"epoch": 1, "train_loss": 0.7}])
    with pytest.raises(ValueError, match="Out of range float"):
        write_json(path, [{"epoch": 1, "train_loss": value}])
    assert json.loads(path.read_text()) == [{"epoch": 1, "train_loss": 0.7}]
