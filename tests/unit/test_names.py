"""Surnames: reading and splitting, encodings, checkpoints and the `names predict|generate` commands."""

import re
from pathlib import Path

import pytest
import torch

from rnnlab.cli import main
from rnnlab.data.corpora import get_corpus
from rnnlab.data.names import read_names, split_names
from rnnlab.models.classifier import build_model
from rnnlab.models.language import CharLM
from rnnlab.studies.chars.names import (
    BOS_ID,
    EOS_ID,
    classifier_markdown,
    encode_lm,
    encode_names,
    generate_names,
    generator_markdown,
    generator_vocab,
    judge_samples,
    log_probs,
    top_languages,
)
from rnnlab.text.vocab import build_vocab
from rnnlab.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnnlab.training.language import IGNORE
from tests.configs import lm_config, model_config, split_config

LANGUAGES = sorted(Path(f).stem for f in get_corpus("names").files)
STEMS = ["Bar", "Kor", "Mel", "Tan", "Vid", "Sol", "Pek", "Lum", "Dor", "Fin", "Gal", "Hos"]


def write_names(root: Path) -> Path:
    """names/<Language>.txt with 12 made-up surnames each, Arabic repeated, one name in two languages."""
    (root / "names").mkdir(parents=True)
    for k, language in enumerate(LANGUAGES):
        names = [f"{stem}{language[:3].lower()}{k}" for stem in STEMS]
        names += names if language == "Arabic" else []
        names += ["Song"] if language in ("Chinese", "Korean") else []
        (root / "names" / f"{language}.txt").write_text("\n".join(names) + "\n\n", encoding="utf-8")
    return root


def tiny_classifier(classes=LANGUAGES) -> Checkpoint:
    torch.manual_seed(0)
    cfg = model_config(embedding_dim=8, hidden_size=8, bidirectional=True)
    vocab = build_vocab(["Barara", "Kortan", "Song"], max_size=100, min_freq=1)
    model = build_model(cfg, len(vocab), len(classes)).eval()
    return Checkpoint("classifier", cfg, model, vocab, list(classes), {"max_len": 20})


def tiny_generator() -> Checkpoint:
    torch.manual_seed(0)
    vocab = generator_vocab(["Ivanov", "Petrov", "Sato"])
    cfg = lm_config(embedding_dim=8, hidden_size=8, num_layers=1, dropout=0.0)
    return Checkpoint("char_lm", cfg, CharLM(cfg, len(vocab), 2).eval(), vocab, ["Japanese", "Russian"],
                      {"max_length": 12})


def test_read_names_keeps_repeats_strips_blank_lines_and_normalises_unicode(tmp_path):
    root = write_names(tmp_path)
    (root / "names" / "Spanish.txt").write_text("Jose\u0301\n  \nGarcia\n", encoding="utf-8")
    frame = read_names(root)
    assert (frame["language"] == "Arabic").sum() == 24
    assert frame.loc[frame["language"] == "Spanish", "name"].tolist() == ["José", "Garcia"]


def test_split_drops_repeats_and_keeps_a_name_in_one_split(tmp_path):
    frame = split_names(read_names(write_names(tmp_path)), split_config(val_size=0.1, test_size=0.1), seed=0)
    assert not frame.duplicated(["name", "language"]).any()
    assert (frame["language"] == "Arabic").sum() == 12
    assert frame.loc[frame["name"] == "Song", "split"].nunique() == 1
    assert set(frame.loc[frame["split"] == "train", "language"]) == set(LANGUAGES)
    assert frame["split"].value_counts()["test"] == pytest.approx(0.1 * frame["name"].nunique(), abs=2)


def test_split_is_reproducible_for_a_seed(tmp_path):
    raw = read_names(write_names(tmp_path))
    assert split_names(raw, split_config(), 3).equals(split_names(raw, split_config(), 3))


def test_generator_targets_are_inputs_shifted_with_bos_and_eos():
    vocab = generator_vocab(["Ivanov", "Sato"])
    batch = encode_lm(["Sato", "Ivanov"], [1, 0], vocab)
    assert batch.inputs[:, 0].tolist() == [BOS_ID, BOS_ID]
    assert batch.targets[0].tolist() == [*vocab.encode("Sato"), EOS_ID, IGNORE, IGNORE]
    assert torch.equal(batch.inputs[1, 1:], batch.targets[1, :-1])
    assert batch.condition.tolist() == [1, 0]


def test_characters_outside_the_alphabet_become_unk_not_a_crash():
    clf = tiny_classifier()
    split = encode_names(clf, ["Достоевский", ""])
    assert set(split.tokens[0, :11].tolist()) == {1} and split.lengths.tolist() == [11, 1]
    assert torch.isfinite(log_probs(clf, ["Достоевский", "", "Kor"])).all()


def test_top_languages_are_sorted_log_probabilities_of_known_languages():
    tops = top_languages(tiny_classifier(), ["Kortan", "Hinton"], 3)
    for top in tops:
        values = [v for v, _ in top]
        assert len(top) == 3 and values == sorted(values, reverse=True) and all(v <= 0 for v in values)
        assert {language for _, language in top} <= set(LANGUAGES)


def test_classifier_checkpoint_round_trip_gives_the_same_log_probabilities(tmp_path):
    clf = tiny_classifier()
    save_checkpoint(tmp_path / "clf.pt", clf)
    loaded = load_checkpoint(tmp_path / "clf.pt", kind="classifier")
    assert (loaded.classes, loaded.vocab, loaded.meta) == (clf.classes, clf.vocab, clf.meta)
    assert torch.allclose(log_probs(loaded, ["Kortan", "Zz"]), log_probs(clf, ["Kortan", "Zz"]))


def test_generated_names_start_with_the_requested_letter():
    names = generate_names(tiny_generator(), "Russian", 20, 1.0, seed=0, first_letter="P")
    assert len(names) == 20 and all(n.startswith("P") and len(n) <= 13 for n in names)
    assert all(set(n) <= set("IvanoPetrSo") for n in names)


@pytest.mark.parametrize("language, letter, message", [
    ("Klingon", "", "unknown language 'Klingon' (known: Japanese, Russian)"),
    ("Russian", "Ж", "first letter 'Ж'"),
    ("Russian", "Pe", "first letter 'Pe'"),
])
def test_generation_rejects_unknown_languages_and_letters(language, letter, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_names(tiny_generator(), language, 1, 1.0, seed=0, first_letter=letter)


def test_judging_counts_novel_and_accepted_samples():
    clf = tiny_classifier()
    samples = {"Chinese": ["Song", "Kortan", "Barbar", "Song"]}
    verdict = judge_samples(samples, {"Song"}, clf)["Chinese"]
    predicted = [clf.classes[i] for i in log_probs(clf, samples["Chinese"]).argmax(1).tolist()]
    assert verdict["novel"] == 0.5
    assert verdict["accepted"] == predicted.count("Chinese") / 4


def test_predict_command_prints_top_three_per_name(tmp_path, capsys):
    save_checkpoint(tmp_path / "clf.pt", tiny_classifier())
    assert main(["names", "predict", "Hinton", "Достоевский", "--checkpoint", str(tmp_path / "clf.pt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Hinton" and lines[4] == "Достоевский" and len(lines) == 8
    assert all(re.fullmatch(r"  \(-?\d+\.\d\d\) [A-Z][a-z]+", line) for line in lines[1:4] + lines[5:])


def test_generate_command_prints_n_names(tmp_path, capsys):
    save_checkpoint(tmp_path / "gen.pt", tiny_generator())
    args = ["--language", "Japanese", "--first-letter", "S", "--temperature", "0.5", "-n", "4"]
    assert main(["names", "generate", *args, "--checkpoint", str(tmp_path / "gen.pt")]) == 0
    names = capsys.readouterr().out.splitlines()
    assert len(names) == 4 and all(n.startswith("S") for n in names)


@pytest.mark.parametrize("args, message", [
    (["generate", "--language", "Klingon"], "unknown language 'Klingon'"),
    (["generate", "--language", "Russian", "-n", "0"], "-n must be >= 1"),
    (["generate", "--language", "Russian", "--first-letter", "Ж"], "first letter 'Ж'"),
    (["predict", "Hinton", "--top", "0"], "--top must be >= 1"),
])
def test_commands_reject_bad_input_with_a_clear_message(tmp_path, capsys, args, message):
    save_checkpoint(tmp_path / "gen.pt", tiny_generator())
    save_checkpoint(tmp_path / "clf.pt", tiny_classifier())
    checkpoint = tmp_path / ("gen.pt" if args[0] == "generate" else "clf.pt")
    assert main(["names", *args, "--checkpoint", str(checkpoint)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", [["predict", "Hinton"], ["generate", "--language", "Russian"]])
def test_commands_with_a_missing_checkpoint_are_a_clear_error(tmp_path, capsys, command):
    assert main(["names", *command, "--checkpoint", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err
    assert "checkpoint not found" in err and "dvc repro" in err


def test_a_generator_checkpoint_is_not_taken_for_a_classifier(tmp_path, capsys):
    save_checkpoint(tmp_path / "gen.pt", tiny_generator())
    assert main(["names", "predict", "Hinton", "--checkpoint", str(tmp_path / "gen.pt")]) == 2
    assert "gen.pt: a char_lm checkpoint, not a classifier" in capsys.readouterr().err


def test_reports_show_scores_per_language_and_samples():
    greek = {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 4}
    scores = {"accuracy": 0.8123, "macro_f1": 0.5, "per_class": {"Greek": greek}}
    text = classifier_markdown(scores, {"accuracy": 0.5, "macro_f1": 0.04}, "confusion.png")
    assert "Accuracy 0.8123, macro-F1 0.5000" in text and "| Greek | 1.0000 | 0.5000 | 0.6667 | 4 |" in text
    assert "(confusion.png)" in text
    report = {"Russian": {"novel": 0.75, "accepted": 1.0, "samples": ["Ivanov", "Petrov"]}}
    assert "| Russian | 0.7500 | 1.0000 | Ivanov, Petrov |" in generator_markdown(report, 0.5)
