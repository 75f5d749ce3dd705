"""A few training steps of each character-level task on CPU, and save -> load -> evaluate round trips."""

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import torch

from rnnlab.data.corpora import get_corpus
from rnnlab.data.names import read_names, split_names
from rnnlab.studies.chars.charlm import CharLMConfig, train_charlm
from rnnlab.studies.chars.names import (
    evaluate_classifier,
    generate_names,
    train_classifier,
    train_generator,
)
from rnnlab.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnnlab.training.language import evaluate_lm, stream_batches
from rnnlab.training.tracking import MemoryTracker
from tests.configs import (
    classifier_config,
    generator_config,
    lm_config,
    lm_trainer_config,
    model_config,
    split_config,
    trainer_config,
)

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = sorted(Path(f).stem for f in get_corpus("names").files)
TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 80
TINY_LM = lm_config(embedding_dim=16, hidden_size=32, num_layers=1, dropout=0.0)


def names_frame(tmp_path: Path):
    """Each language's made-up surnames share an ending, so a classifier can learn them."""
    (tmp_path / "names").mkdir()
    for k, language in enumerate(LANGUAGES):
        names = [f"{stem}{language[:2].lower()}{'xyzq'[k % 4]}" for stem in ("Ba", "Ko", "Me", "Ta", "Vi", "So", "Pe",
                                                                               "Lu", "Do", "Fi", "Ga", "Ho")]
        (tmp_path / "names" / f"{language}.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    return split_names(read_names(tmp_path), split_config(), seed=0)


def test_char_lm_learns_a_repetitive_text_and_its_checkpoint_evaluates_the_same(tmp_path):
    torch.manual_seed(0)
    cfg = CharLMConfig(corpus="tinyshakespeare", val_fraction=0.1, batch_size=4, seq_len=20, model=TINY_LM,
                       trainer=lm_trainer_config(device="cpu", steps=120, lr=0.01, eval_every=40))
    model, vocab, result = train_charlm(TEXT, cfg, MemoryTracker(), seed=0)
    bpc = [row["val_bpc"] for row in result.history]
    assert all(math.isfinite(b) for b in bpc) and min(bpc) < 0.5 * math.log2(len(vocab))
    assert result.best["val_loss"] == min(row["val_loss"] for row in result.history)

    save_checkpoint(tmp_path / "lm.pt", Checkpoint("char_lm", TINY_LM, model, vocab, [], {}))
    val = stream_batches(torch.tensor(vocab.encode(TEXT[int(len(TEXT) * 0.9):])), 4, 20)
    loaded = load_checkpoint(tmp_path / "lm.pt")
    cpu = torch.device("cpu")
    assert evaluate_lm(loaded.model, val, cpu) == evaluate_lm(model, val, cpu) == result.best["val_loss"]


def test_name_classifier_trains_and_its_checkpoint_scores_the_same(tmp_path):
    frame = names_frame(tmp_path)
    cfg = classifier_config(model=model_config(embedding_dim=16, hidden_size=16, bidirectional=True),
                            trainer=trainer_config(device="cpu", epochs=3, batch_size=16, class_weight="balanced"))
    torch.manual_seed(0)
    clf, result = train_classifier(frame, cfg, MemoryTracker(), seed=0)
    assert all(math.isfinite(r["train_loss"]) and math.isfinite(r["val_loss"]) for r in result.history)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    save_checkpoint(tmp_path / "clf.pt", clf)
    test = frame[frame["split"] == "test"]
    assert evaluate_classifier(load_checkpoint(tmp_path / "clf.pt"), test) == evaluate_classifier(clf, test)


def test_generator_trains_with_teacher_forcing_and_samples_each_language(tmp_path):
    frame = names_frame(tmp_path)
    cfg = generator_config(batch_size=16, model=TINY_LM, trainer=lm_trainer_config(device="cpu", steps=60, lr=0.01,
                                                                                    eval_every=20))
    torch.manual_seed(0)
    ckpt, result = train_generator(frame, cfg, MemoryTracker(), seed=0)
    losses = [row["val_loss"] for row in result.history]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    save_checkpoint(tmp_path / "gen.pt", ckpt)
    loaded = load_checkpoint(tmp_path / "gen.pt")
    assert loaded.classes == LANGUAGES
    for language in ("Russian", "Japanese"):
        names = generate_names(loaded, language, 5, 0.5, seed=0)
        assert names == generate_names(ckpt, language, 5, 0.5, seed=0)
        assert all(len(n) <= cfg.max_length for n in names)


def test_charlm_stages_train_then_sample_from_params(tmp_path):
    raw = tmp_path / "raw" / "tinyshakespeare"
    raw.mkdir(parents=True)
    (raw / "input.txt").write_text(TEXT, encoding="utf-8")
    trainer = dataclasses.asdict(lm_trainer_config(device="cpu", steps=20, eval_every=10, num_threads=1))
    params = {"seed": 1, "charlm": {
        "train": {"corpus": "tinyshakespeare", "val_fraction": 0.1, "batch_size": 4, "seq_len": 20,
                  "model": dataclasses.asdict(TINY_LM), "trainer": trainer},
        "sample": {"prime": "the ", "length": 40, "temperature": 0.5, "top_k": 3}}}
    (tmp_path / "params.yaml").write_text(json.dumps(params))  # JSON is YAML
    # a file store: creating a fresh sqlite database runs migrations for tens of seconds
    env = {**os.environ, "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true"}

    def stage(name, *args):
        cmd = [sys.executable, str(ROOT / "studies" / "chars" / f"{name}.py"), "--params", str(tmp_path / "params.yaml"), *args]
        subprocess.run(cmd, check=True, env=env, cwd=tmp_path, capture_output=True, text=True)

    stage("charlm_train", "--raw", str(tmp_path / "raw"), "--checkpoint", str(tmp_path / "lm.pt"),
          "--metrics", str(tmp_path / "m.json"), "--history", str(tmp_path / "h.json"),
          "--run-record", str(tmp_path / "runs" / "charlm.json"), "--state-dir", str(tmp_path / "state"))
    stage("charlm_sample", "--checkpoint", str(tmp_path / "lm.pt"), "--out", str(tmp_path / "sample.txt"))
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["corpus"] == "tinyshakespeare" and math.isfinite(metrics["val_bpc"])
    assert [row["step"] for row in json.loads((tmp_path / "h.json").read_text())] == [10, 20]
    sample = (tmp_path / "sample.txt").read_text().splitlines(keepends=True)
    assert sample[0].startswith("# corpus tinyshakespeare") and "".join(sample[1:]).startswith("the ")
    assert len("".join(sample[1:])) == 4 + 40
    record = json.loads((tmp_path / "runs" / "charlm.json").read_text())
    assert record["stage"] == "charlm_train" and [t["step"] for t in record["timings"]] == [10, 20]
    assert all(t["seconds"] > 0 for t in record["timings"])
