"""ULMFiT's backward language model on tiny data: texts reversed token by token (and refused where that would not
tokenize back), the same vocabulary as the forward model, and stages pretrain_backward and finetune_backward end to
end into checkpoints marked backward, metrics and MLflow runs of their own."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch

from rnnlab.studies.pretraining import backward
from rnnlab.studies.pretraining.backward import DIRECTION, reverse_texts
from rnnlab.studies.pretraining.lm import BOS, LMVocabConfig, documents_tokens, pretrain
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.tracking import MemoryTracker
from tests.integration.test_pretraining import MODEL, SENTIMENT, TEXT, corpus, stage
from tests.unit.test_config import REPO, write_params

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["кот сидит на ковре", "Ну и погода сегодня )))", "Смотри http://example.ru @user, 25 раз :)",
         "не ХОРОШО, но и не плохо!!!"]


def test_each_text_becomes_its_tokens_backwards():
    assert reverse_texts(["кот сидит на ковре"], TEXT) == ["ковре на сидит кот"]
    forward, reversed_docs = documents_tokens(TEXTS, TEXT), documents_tokens(reverse_texts(TEXTS, TEXT), TEXT)
    for doc, back in zip(forward, reversed_docs, strict=True):
        assert back[0] == BOS and back[1:] == doc[1:][::-1] and len(doc) > 3


def test_a_text_that_would_not_tokenize_back_is_refused_by_position(monkeypatch):
    def appends_a_token_to_the_second(texts, cfg):  # not idempotent on text 1
        return [[BOS, *t.split(), *(["лишний"] if i == 1 else [])] for i, t in enumerate(texts)]

    monkeypatch.setattr(backward, "documents_tokens", appends_a_token_to_the_second)
    with pytest.raises(ValueError, match="text 1: "):
        reverse_texts(["а б", "в г", "д е"], TEXT)


def test_the_backward_model_has_the_forward_vocabulary_and_learns():
    vocab = LMVocabConfig(max_size=100, min_freq=1)
    documents = corpus()
    torch.manual_seed(0)
    forward, _ = pretrain(documents, TEXT, vocab, MODEL, stage(3), MemoryTracker(), seed=0)
    torch.manual_seed(0)
    reversed_corpus = documents.assign(text=reverse_texts(documents["text"].tolist(), TEXT))
    ckpt, result = pretrain(reversed_corpus, TEXT, vocab, MODEL, stage(90), MemoryTracker(), seed=0)
    assert ckpt.vocab == forward.vocab  # the same tokens, counted the same
    perplexity = [row["val_perplexity"] for row in result.history]
    assert perplexity[-1] < perplexity[0] / 2


def run(script: str, params: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, f"studies/pretraining/{script}", "--params", str(params), *args], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_backward_stages_write_checkpoints_marked_backward_and_their_own_mlflow_runs(tmp_path):
    params = copy.deepcopy(REPO)
    lm = params["lm"]
    lm["model"] = {**lm["model"], "embeddings": "scratch", "embedding_dim": 16, "hidden_size": 24, "num_layers": 2,
                   "cutoffs": [12]}
    lm["vocab"] = {"max_size": 100, "min_freq": 1}
    for name in ("pretrain", "finetune"):
        lm[name] = {"batch_size": 4, "seq_len": 8, "trainer": {**lm[name]["trainer"], "steps": 6, "eval_every": 3}}
    path = write_params(tmp_path, params)
    corpus().to_csv(tmp_path / "corpus.csv", index=False)
    prepared = [{"text": text, "label": label, "split": split} for label, text in SENTIMENT.items()
                for split in ["train"] * 20 + ["val", "test"]]
    pd.DataFrame(prepared).to_csv(tmp_path / "prepared.csv", index=False)
    out = {name: tmp_path / name for name in ("pre.pt", "pre.json", "pre_history.json", "pre_run.json", "ft.pt",
                                               "ft.json", "ft_history.json", "ft_run.json")}
    state = ["--state-dir", str(tmp_path / "state")]
    run("pretrain.py", path, "--direction", "backward", "--corpus", str(tmp_path / "corpus.csv"), "--checkpoint", str(out["pre.pt"]),
        "--metrics", str(out["pre.json"]), "--history", str(out["pre_history.json"]), "--run-record",
        str(out["pre_run.json"]), *state)
    run("finetune_lm.py", path, "--direction", "backward", "--pretrained", str(out["pre.pt"]), "--prepared", str(tmp_path / "prepared.csv"),
        "--checkpoint", str(out["ft.pt"]), "--metrics", str(out["ft.json"]), "--history", str(out["ft_history.json"]),
        "--run-record", str(out["ft_run.json"]), *state)

    pre, tuned = load_checkpoint(out["pre.pt"], kind="awd_lm"), load_checkpoint(out["ft.pt"], kind="awd_lm")
    assert pre.meta[DIRECTION] == tuned.meta[DIRECTION] == "backward" and tuned.vocab == pre.vocab
    metrics = json.loads(out["ft.json"].read_text(encoding="utf-8"))
    assert metrics[DIRECTION] == "backward" and metrics["pretrained"]["val_perplexity"] == pre.meta["val_perplexity"]
    assert not any((tmp_path / "state" / name).exists() for name in ("pretrain_backward", "finetune_backward"))
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["rnnlab-pretraining"], output_format="list")
    assert sorted(r.info.run_name for r in runs) == ["finetune-backward", "pretrain-backward"]
    assert all(r.data.params[DIRECTION] == "backward" for r in runs)


def test_a_forward_checkpoint_is_refused_by_the_backward_fine_tuning(tmp_path):
    ckpt, _ = pretrain(corpus(), TEXT, LMVocabConfig(max_size=100, min_freq=1), MODEL, stage(3), MemoryTracker(), 0)
    save_checkpoint(tmp_path / "forward.pt", ckpt)
    done = subprocess.run([sys.executable, "studies/pretraining/finetune_lm.py", "--direction", "backward",
                           "--pretrained", str(tmp_path / "forward.pt"),
                           "--prepared", str(tmp_path / "none.csv"), "--checkpoint", str(tmp_path / "ft.pt"),
                           "--metrics", str(tmp_path / "m.json"), "--history", str(tmp_path / "h.json"),
                           "--run-record", str(tmp_path / "r.json"), "--state-dir", str(tmp_path / "state")],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode != 0 and "forward.pt" in done.stderr and "a forward language model, not a backward one" in done.stderr
    assert not (tmp_path / "ft.pt").exists()
