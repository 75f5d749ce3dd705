"""Commands read checkpoint paths from dvc.yaml: the stage's outs, a foreach item filled in."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnlab.serving.outputs import model_checkpoint, pipeline_models, stage_outs

ROOT = Path(__file__).resolve().parents[2]
DVC_YAML = ROOT / "dvc.yaml"
CHARS = ROOT / "studies/chars/dvc.yaml"  # a study's stages run from the root (wdir): the same relative paths


def test_a_foreach_stage_gets_its_item_and_a_plain_stage_its_outs():
    assert model_checkpoint("train@lstm", DVC_YAML) == Path("data/models/lstm.pt")
    assert model_checkpoint("names_classify", CHARS) == Path("data/chars/names_classifier.pt")
    assert model_checkpoint("charlm_train", CHARS) == Path("data/chars/charlm.pt")
    assert Path("reports/chars/names_classifier.md") in stage_outs("names_classify", CHARS)


@pytest.mark.parametrize("stage", ["nosuch", "train", "names_classify@x"])
def test_an_unknown_stage_or_a_wrong_item_form_is_named(stage):
    with pytest.raises(KeyError, match="has no stage"):
        stage_outs(stage, DVC_YAML)


def test_a_stage_without_exactly_one_checkpoint_is_an_error():
    with pytest.raises(KeyError, match="declares 0 .pt checkpoints"):
        model_checkpoint("evaluate", DVC_YAML)


def test_a_missing_dvc_yaml_says_where_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run from the repository root"):
        stage_outs("train@lstm", tmp_path / "dvc.yaml")


def test_the_pipeline_models_are_what_the_committed_lock_records():
    # lstm_subword: train_subword@lstm_subword's
    models = {m: Path(f"data/models/{m}.pt") for m in ("rnn", "lstm", "gru", "lstm_subword")}
    assert pipeline_models(ROOT / "dvc.lock") == {"tfidf": Path("data/models/tfidf.pkl"), **models}


def test_without_a_lock_there_are_no_models_yet(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"dvc\.lock not found: run `dvc repro`"):
        pipeline_models(tmp_path / "dvc.lock")
