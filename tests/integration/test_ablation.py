"""ULMFiT's ablation on tiny data: the untrained encoder, the stages surface_forms and ulmfit_ablation run from a
params file, and the report's rows."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch
import yaml

from rnnlab.config import ModelConfig, TrainerConfig, Variant
from rnnlab.params import Seeds, load_section
from rnnlab.studies.pretraining.ablation import (
    AblationConfig,
    AblationStep,
    SurfaceFormsConfig,
    ablation_rows,
    step_config,
    untrained_lm,
)
from rnnlab.studies.pretraining.lm import LMVocabConfig, pretrain
from rnnlab.studies.pretraining.pooling import LastStateClassifier, train_last_state
from rnnlab.studies.pretraining.rates import train_with_rates
from rnnlab.studies.pretraining.ulmfit import build_awd_classifier, encode_target
from rnnlab.studies.shared import variant_configs
from rnnlab.training.checkpoint import save_checkpoint
from rnnlab.training.rates import RatesConfig
from rnnlab.training.tracking import MemoryTracker
from tests.integration.test_pretraining import (
    MODEL,
    TEXT,
    classifier_config,
    corpus,
    labelled,
    stage,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lms():
    torch.manual_seed(0)
    vocab = LMVocabConfig(max_size=100, min_freq=1)
    first, _ = pretrain(corpus(), TEXT, vocab, MODEL, stage(30), MemoryTracker(), seed=0)
    other, _ = pretrain(corpus(60), TEXT, LMVocabConfig(max_size=20, min_freq=1), MODEL, stage(6), MemoryTracker(),
                        seed=0)
    return first, other


def test_the_untrained_encoder_has_the_language_models_vocabulary_and_seeded_fresh_weights(lms):
    lm = lms[0]
    fresh, again, other = untrained_lm(lm, 1), untrained_lm(lm, 1), untrained_lm(lm, 2)
    assert fresh.vocab == lm.vocab and fresh.config == lm.config and fresh.meta["text"] == lm.meta["text"]
    weights = {name: value for name, value in fresh.model.encoder.state_dict().items()}
    assert all(torch.equal(value, again.model.encoder.state_dict()[name]) for name, value in weights.items())
    assert not torch.equal(weights["layers.0.lstm.weight_ih_l0"], other.model.encoder.state_dict()["layers.0.lstm.weight_ih_l0"])
    assert not torch.equal(weights["layers.0.lstm.weight_ih_l0"], lm.model.encoder.state_dict()["layers.0.lstm.weight_ih_l0"])


def test_a_step_changes_only_gradual_unfreezing():
    cfg = classifier_config(gradual_unfreezing=True)
    changed = step_config(cfg, AblationStep("x", "finetuned", gradual_unfreezing=False))
    assert changed.gradual_unfreezing is False and changed == classifier_config(gradual_unfreezing=False)


def test_the_surface_forms_baseline_is_the_zoos_navec_variant_as_committed():
    """lm.surface_forms declares the zoo's lm.ablation.baseline variant in the study's own params (no study reads
    another's): it must stay the zoo's base with that variant's overrides, and at the zoo's seeds."""
    zoo, pretraining = ROOT / "studies/zoo/params.yaml", ROOT / "studies/pretraining/params.yaml"
    name = load_section(pretraining, "lm.ablation", AblationConfig).baseline
    model, trainer = variant_configs(load_section(zoo, "zoo.base", ModelConfig), load_section(zoo, "zoo.trainer", TrainerConfig),
                                     load_section(zoo, f"zoo.variants.{name}", Variant), name)
    declared = load_section(pretraining, "lm.surface_forms", SurfaceFormsConfig)
    assert (declared.model, declared.trainer, declared.seeds) == (model, trainer, load_section(zoo, "zoo.seeds", Seeds))


def test_the_rows_give_each_steps_change_and_its_gap_to_tfidf():
    zoo = {"test_macro_f1": {"mean": 0.68, "std": 0.01}, "runs": [{}, {}, {}]}

    def summary(mean):
        return {"label": f"step {mean}", "test_macro_f1_mean": mean, "test_macro_f1_std": 0.02, "seeds": [{}] * 3}

    rows = ablation_rows(zoo, summary(0.66), {"a": summary(0.6), "b": summary(0.65)}, summary(0.64), ["b", "a"], 0.7)
    assert [r["_mean"] for r in rows] == [0.68, 0.66, 0.65, 0.6, 0.64]  # in the steps' order, the recipe last
    assert [r["change"] for r in rows] == ["", "-0.0200", "-0.0100", "-0.0500", "+0.0400"]
    assert rows[0]["vs_tfidf"] == "-0.0200" and rows[2]["step"] == "step 0.65" and rows[0]["seeds"] == 3


def tiny_classifier_params() -> dict:
    """The repository's params with lm.classifier at seeds 1 and 2, 2 epochs of batch 8 on one CPU thread."""
    params = yaml.safe_load((ROOT / "studies/pretraining/params.yaml").read_text(encoding="utf-8"))
    trainer = {**params["lm"]["classifier"]["trainer"], "device": "cpu", "epochs": 2, "batch_size": 8, "num_threads": 1}
    params["lm"]["classifier"] = {**params["lm"]["classifier"], "seeds": [1, 2], "max_len": 20, "trainer": trainer}
    return params


@pytest.fixture(scope="module")
def stage_files(lms, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ablation")
    finetuned, _ = pretrain(corpus(), TEXT, LMVocabConfig(max_size=100, min_freq=1), MODEL, stage(15),
                            MemoryTracker(), seed=5)  # same vocabulary, other weights
    save_checkpoint(folder / "pretrained.pt", lms[0])
    save_checkpoint(folder / "finetuned.pt", finetuned)
    save_checkpoint(folder / "other.pt", lms[1])
    labelled().to_csv(folder / "corpus.csv", index=False)
    params = tiny_classifier_params()
    baseline = params["lm"]["surface_forms"]
    baseline["seeds"] = [1, 2]
    baseline["trainer"] = {**baseline["trainer"], "device": "cpu", "epochs": 2, "batch_size": 8}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def run_stage(name, folder, *args):
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}")
    return subprocess.run([sys.executable, str(ROOT / "studies" / "pretraining" / f"{name}.py"), "--params", str(folder / "params.yaml"),
                           "--prepared", str(folder / "corpus.csv"), "--metrics", str(folder / f"{name}.json"),
                           "--run-record", str(folder / f"{name}_runs.json"), "--state-dir", str(folder / "state"),
                           *args], cwd=folder, env=env, capture_output=True, text=True)


def test_the_ablation_stage_trains_every_step_at_every_seed(stage_files):
    folder = stage_files
    proc = run_stage("ulmfit_ablation", folder, "--pretrained", str(folder / "pretrained.pt"),
                     "--finetuned", str(folder / "finetuned.pt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((folder / "ulmfit_ablation.json").read_text())
    steps = load_section(folder / "params.yaml", "lm.ablation", AblationConfig).steps
    assert list(metrics["steps"]) == list(steps) == ["navec", "pretrained", "finetuned"]
    for name, summary in metrics["steps"].items():
        assert summary["label"] == steps[name].label and [r["seed"] for r in summary["seeds"]] == [1, 2]
        assert all(0 <= r["test_macro_f1"] <= 1 for r in summary["seeds"])
    records = json.loads((folder / "ulmfit_ablation_runs.json").read_text())["runs"]
    assert [(r["step"], r["seed"]) for r in records] == [(s, seed) for s in steps for seed in (1, 2)]
    assert len({r["run_id"] for r in records}) == 6 and not (folder / "state" / "ulmfit_ablation").exists()
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["rnnlab-pretraining"], output_format="list")
    logged = sorted((r.data.tags["ablation.step"], r.data.params["encoder"], r.data.params["seed"]) for r in runs)
    assert logged == sorted((name, step.encoder, str(seed)) for name, step in steps.items() for seed in (1, 2))


def test_the_ablation_stage_refuses_a_language_model_fine_tuned_from_another(stage_files):
    folder = stage_files
    proc = run_stage("ulmfit_ablation", folder, "--pretrained", str(folder / "pretrained.pt"),
                     "--finetuned", str(folder / "other.pt"))
    assert proc.returncode != 0 and "other.pt was not fine-tuned from" in proc.stderr


def test_the_surface_forms_stage_trains_the_zoo_baseline_on_the_language_models_tokens(stage_files):
    folder = stage_files
    proc = run_stage("surface_forms", folder, "--lm", str(folder / "pretrained.pt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((folder / "surface_forms.json").read_text())
    assert metrics["baseline"] == "lstm_navec_finetuned" and [r["seed"] for r in metrics["seeds"]] == [1, 2]
    assert metrics["classes"] == ["negative", "neutral", "positive"]
    assert 0 <= metrics["test_macro_f1_mean"] <= 1 and not (folder / "state" / "surface_forms").exists()


def test_the_pooling_stage_trains_the_last_state_head_at_every_seed(stage_files):
    folder = stage_files
    proc = run_stage("ulmfit_pooling", folder, "--lm", str(folder / "finetuned.pt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((folder / "ulmfit_pooling.json").read_text())
    assert metrics["pooling"] == "last" and [r["seed"] for r in metrics["seeds"]] == [1, 2]
    assert 0 <= metrics["test_macro_f1_mean"] <= 1 and not (folder / "state" / "ulmfit_pooling").exists()
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["rnnlab-pretraining"],
                              filter_string="tags.`dvc.stage` = 'ulmfit_pooling'", output_format="list")
    logged = sorted((r.data.params["pooling"], r.data.params["gradual_unfreezing"]) for r in runs)
    assert logged == [("last", "False")] * 2


def test_the_rates_stage_trains_with_lm_rates_at_every_seed(stage_files):
    folder = stage_files
    proc = run_stage("ulmfit_rates", folder, "--lm", str(folder / "finetuned.pt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((folder / "ulmfit_rates.json").read_text())
    rates = load_section(folder / "params.yaml", "lm.rates", RatesConfig)
    assert metrics["rates"]["decay"] == rates.decay and [r["seed"] for r in metrics["seeds"]] == [1, 2]
    assert 0 <= metrics["test_macro_f1_mean"] <= 1 and not (folder / "state" / "ulmfit_rates").exists()
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["rnnlab-pretraining"],
                              filter_string="tags.`dvc.stage` = 'ulmfit_rates'", output_format="list")
    logged = sorted((r.data.params["trainer.lr"], r.data.params["rates.schedule"]) for r in runs)
    assert logged == [(str(rates.lr), rates.schedule)] * 2


def test_a_decay_slows_the_lowest_layer_against_one_rate(lms):
    """One epoch from the same start: with decay 4 the first of three recurrent layers trains at 1/64 of the head's
    rate, so it moves far less than at one rate (an Adam step is about the rate in size)."""
    lm, cfg = lms[0], classifier_config(gradual_unfreezing=False)
    splits, classes = encode_target(labelled(), lm, 20)

    def moves(decay):
        start = build_awd_classifier(lm, cfg, len(classes)).encoder.state_dict()
        rates = RatesConfig("r", cfg.trainer.lr, decay, "constant", 0.1, 32.0)
        model, _, _ = train_with_rates(lm, splits, classes, dataclasses.replace(
            cfg, trainer=dataclasses.replace(cfg.trainer, epochs=1, patience=1)), rates, 1, MemoryTracker())
        key = "layers.0.lstm.weight_ih_l0"
        return float((model.encoder.state_dict()[key] - start[key]).abs().mean())

    assert moves(4.0) < moves(1.0) / 4


def test_the_last_state_head_reads_the_last_real_step_alone(lms):
    lm = lms[0]
    cfg = classifier_config(gradual_unfreezing=False)
    torch.manual_seed(0)
    model = LastStateClassifier(build_awd_classifier(lm, cfg, 3).encoder, 3, 8, 0.0).eval()
    tokens = torch.tensor([[2, 5, 6, 7, 0, 0], [2, 5, 6, 7, 9, 9]])
    lengths = torch.tensor([4, 4])
    logits = model(tokens, lengths)  # what follows the 4th token (padding or words) is never read
    assert torch.allclose(logits[0], logits[1]) and logits.shape == (2, 3)
    out, _ = model.encoder(tokens[:1, :4])
    assert torch.allclose(logits[0], model.head(out[0, -1]))
    assert model.head[2].in_features == lm.config.embedding_dim  # one step's output, not three
    with pytest.raises(ValueError, match="without gradual unfreezing"):
        train_last_state(lm, {}, [], classifier_config(gradual_unfreezing=True), 1, MemoryTracker())


def ulmfit_summary(mean, label=None):
    seeds = [{"seed": s, "test_macro_f1": mean, "test_accuracy": 0.7} for s in (1, 2, 3)]
    return {**({"label": label} if label else {}), "test_macro_f1_mean": mean, "test_macro_f1_std": 0.01,
            "test_accuracy_mean": 0.7, "seeds": seeds}


def write_report_inputs(folder, steps):
    files = {
        "zoo/lstm_navec_finetuned.json": {"test_macro_f1": {"mean": 0.69, "std": 0.01}, "runs": [{}, {}, {}]},
        "surface_forms.json": ulmfit_summary(0.67),
        "ulmfit_ablation.json": {"steps": steps},
        "ulmfit.json": ulmfit_summary(0.64),
        "bidirectional.json": {"forward": ulmfit_summary(0.64), "backward": ulmfit_summary(0.63),
                               "average": ulmfit_summary(0.655)},
        "pooling.json": {**ulmfit_summary(0.645), "pooling": "last"},
        "rates.json": {**ulmfit_summary(0.675), "rates": {"label": "rates", "lr": 0.002, "decay": 2.6,
                                                          "schedule": "slanted_triangular"}},
        "five.json": {**ulmfit_summary(0.6), "classes": ["negative", "neutral", "positive", "skip", "speech"],
                      "rows": {"test": {"negative": 2, "neutral": 3}}, "test_weighted_f1_mean": 0.7123,
                      "test_weighted_f1_std": 0.0045},
        "subword.json": {"model": "lstm", "words": ulmfit_summary(0.675), "subwords": ulmfit_summary(0.70),
                         "subwords_offsets": ulmfit_summary(0.73), "tfidf_offsets": {"test_macro_f1": 0.7161}},
        "test.json": {"tfidf": {"macro_f1": 0.7152}, "rnn": {"macro_f1": 0.698}},
        "pretrain.json": {"best_step": 2800, "train_tokens": 2358355, "vocab": 30000, "embedding_coverage": 0.88,
                          "val_perplexity": 153.8},
        "finetune.json": {"finetune_tokens": 269944, "val_perplexity_before": 188.1, "val_perplexity": 160.5},
    }
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(content), encoding="utf-8")


def run_report(folder):
    args = ["--zoo-metrics", "zoo", "--surface-forms", "surface_forms.json", "--ablation", "ulmfit_ablation.json",
            "--recipe", "ulmfit.json", "--five-class", "five.json", "--pooling", "pooling.json",
            "--rates", "rates.json", "--bidirectional", "bidirectional.json", "--subword", "subword.json", "--test-metrics", "test.json",
            "--pretrain", "pretrain.json",
            "--finetune", "finetune.json", "--report", "reports/pretraining.md", "--figure", "reports/ablation.png"]
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}")
    return subprocess.run([sys.executable, str(ROOT / "studies" / "pretraining" / "pretraining_report.py"), "--params",
                           str(ROOT / "studies/pretraining/params.yaml"), *args], cwd=folder, env=env, capture_output=True, text=True)


def test_the_report_tables_every_step_in_order_against_tfidf_and_the_target(tmp_path):
    steps = {name: ulmfit_summary(mean, f"label {name}")
             for name, mean in (("finetuned", 0.66), ("navec", 0.62), ("pretrained", 0.65))}
    write_report_inputs(tmp_path, steps)
    proc = run_report(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "reports" / "pretraining.md").read_text(encoding="utf-8")
    ablation, pooling = text.split("## The 5-class task")[0].split("## Concat pooling on its own")
    ablation, directions = ablation.split("## The forward and backward classifiers")
    pooling, rates = pooling.split("## ULMFiT's learning rates on their own")
    lines = [line for line in ablation.splitlines() if line.startswith("| ") and "step" not in line]
    assert [line.split(" | ")[1] for line in lines] == ["0.6900 ± 0.0100", "0.6700 ± 0.0100", "0.6200 ± 0.0100",
                                                        "0.6500 ± 0.0100", "0.6600 ± 0.0100", "0.6400 ± 0.0100",
                                                        "0.6550 ± 0.0100"]
    assert lines[-1].endswith("(stage ulmfit_bidirectional) | 0.6550 ± 0.0100 | +0.0150 | -0.0602 | 3 |")
    assert "| forward: the full recipe, as stage ulmfit trains it | 0.6400 ± 0.0100 | 3 |  |" in directions
    assert "texts reversed | 0.6300 ± 0.0100 | 3 | -0.0100 |" in directions
    assert "| the average of the two's probabilities | 0.6550 ± 0.0100 | 3 | +0.0150 |" in directions
    assert "label navec | 0.6200 ± 0.0100 | -0.0500 | -0.0952 |" in text
    assert "falls short of the target (0.7252: TF-IDF + 0.01) by 0.0352" in text and "88.0% of it), validation perplexity 153.8" in text
    assert "| the last real step's output (stage ulmfit_pooling) | 0.6450 ± 0.0100 | 3 |  |" in pooling
    assert "| [last, max, mean]: concat pooling (step finetuned) | 0.6600 ± 0.0100 | 3 | +0.0150 |" in pooling
    assert "| one rate for every layer group, constant (step finetuned) | 0.6600 ± 0.0100 | 3 |  |" in rates
    assert "| rates (stage ulmfit_rates) | 0.6750 ± 0.0100 | 3 | +0.0150 |" in rates
    assert "/ 2.6, the head's peak 0.002" in rates
    rates, subword = rates.split("## The best recurrent classifier")
    assert "| lstm, words (the zoo study's stage subword) | 0.6750 ± 0.0100 | 3 |  | -0.0402 |" in subword
    assert "| + character n-gram vectors on every token's word vector | 0.7000 ± 0.0100 | 3 | +0.0250 | -0.0152 |" in subword
    assert "| + decision offsets fitted on validation macro-F1 | 0.7300 ± 0.0100 | 3 | +0.0300 | +0.0148 |" in subword
    assert "Its best row reaches the target (0.7252)" in subword and "offsets fitted the same way scores 0.7161" in subword
    assert "| ULMFiT recipe (stage ulmfit_5class) | 0.7123 ± 0.0045 | 0.6000 ± 0.0100 |" in text
    assert "| logistic regression (corpus paper) | 0.688 |" in text and "official test file (5 posts)" in text
    assert (tmp_path / "reports" / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run] = mlflow.search_runs(experiment_names=["rnnlab-pretraining"], output_format="list")
    assert run.data.metrics["navec_test_macro_f1"] == 0.62 and run.data.metrics["tfidf_test_macro_f1"] == 0.7152
    assert run.data.metrics["last_state_pooling_test_macro_f1"] == 0.645
    assert run.data.metrics["layer_rates_test_macro_f1"] == 0.675
    assert run.data.metrics["bidirectional_test_macro_f1"] == 0.655
    assert run.data.metrics["backward_test_macro_f1"] == 0.63
    assert run.data.metrics["subword_offsets_test_macro_f1"] == 0.73


def test_the_report_names_a_step_the_ablation_did_not_run(tmp_path):
    write_report_inputs(tmp_path, {"navec": ulmfit_summary(0.62, "navec")})
    proc = run_report(tmp_path)
    assert proc.returncode != 0 and "ulmfit_ablation.json: no results for lm.ablation.steps ['pretrained', 'finetuned']" in proc.stderr
    assert not (tmp_path / "reports" / "pretraining.md").exists()
