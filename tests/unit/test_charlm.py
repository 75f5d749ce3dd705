"""Character LM: text cleaning, stream batches, sampling, checkpoints and the `charlm sample` command."""

import os
from pathlib import Path

import pytest
import torch

from rnnlab.cli import main
from rnnlab.data.texts import clean_text, read_corpus_text
from rnnlab.models.language import CharLM
from rnnlab.models.sampling import generate, next_char
from rnnlab.text.vocab import Vocab
from rnnlab.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnnlab.training.language import (
    IGNORE,
    LMBatch,
    evaluate_lm,
    fit_language_model,
    stream_batches,
)
from rnnlab.training.tracking import MemoryTracker
from tests.configs import lm_config, lm_trainer_config

TINY = lm_config(embedding_dim=8, hidden_size=16, num_layers=2, dropout=0.0)
VOCAB = Vocab(("<pad>", "<unk>", "a", "b", "c", " ", "\n"))


def tiny_checkpoint(conditions: tuple[str, ...] = ()) -> Checkpoint:
    torch.manual_seed(0)
    return Checkpoint("char_lm", TINY, CharLM(TINY, len(VOCAB), len(conditions)).eval(), VOCAB, list(conditions),
                      {"corpus": "x"})


# --- stream batches -------------------------------------------------------------------------


@pytest.mark.parametrize("n, batch_size, seq_len", [(101, 4, 5), (1000, 8, 7), (50, 1, 10), (33, 3, 100)])
def test_each_row_continues_where_the_previous_batch_row_stopped(n, batch_size, seq_len):
    batches = stream_batches(torch.arange(n), batch_size, seq_len)
    for before, after in zip(batches, batches[1:]):
        assert after.carry
        assert torch.equal(after.inputs[:, 0], before.inputs[:, -1] + 1)  # ids are positions in the stream
    assert not batches[0].carry


@pytest.mark.parametrize("n, batch_size, seq_len", [(101, 4, 5), (64, 2, 9)])
def test_targets_are_inputs_shifted_by_one(n, batch_size, seq_len):
    for batch in stream_batches(torch.arange(n), batch_size, seq_len):
        assert torch.equal(batch.targets, batch.inputs + 1)


def test_rows_cover_contiguous_disjoint_parts_of_the_stream():
    batches = stream_batches(torch.arange(103), 4, 6)
    rows = torch.cat([b.inputs for b in batches], dim=1)  # (B, R)
    assert torch.equal(rows.flatten(), torch.arange(rows.numel()))


def test_a_stream_too_short_for_the_rows_is_an_error():
    with pytest.raises(ValueError, match="too short"):
        stream_batches(torch.arange(3), 4, 2)


# --- text cleaning --------------------------------------------------------------------------


def test_gutenberg_header_and_footer_are_cut_by_their_markers():
    text = ("The Project Gutenberg eBook\r\nlicence\r\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\r\n"
            "Body line.\r\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\r\nlicence again\r\n")
    assert clean_text(text, "tinyshakespeare") == "Body line.\n"


def test_war_and_peace_blurb_and_notes_are_cut_by_content_not_line_numbers():
    text = ("Лев Толстой\nВойна и мир – 1\n\nАннотация\nРоман ... ВОЙНА И МИР в тексте\n\nЛев Николаевич Толстой\n"
            "ВОЙНА И МИР\n\nТом 1\n\n– Eh bien, mon prince.\nКонец.\n\nПечатные варианты\n\nВ основу текста ...\n")
    assert clean_text(text, "war_and_peace") == "Том 1\n\n– Eh bien, mon prince.\nКонец.\n"


def test_a_corpus_whose_markers_are_missing_is_an_error_not_a_silent_pass():
    with pytest.raises(ValueError, match="war_and_peace: marker"):
        clean_text("no markers here\n", "war_and_peace")


def test_corpora_without_markers_keep_their_whole_text():
    assert clean_text("\ufeffFirst Citizen:\nSpeak.\n\n", "tinyshakespeare") == "First Citizen:\nSpeak.\n"


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("RNNLAB_MIRROR"), reason="needs RNNLAB_MIRROR")
@pytest.mark.parametrize("corpus, head, tail", [
    ("war_and_peace", "Том 1", "другими, мерцающими звездами. Пьеру казалось"),
    ("alice", "CHAPTER I.\nDown the Rabbit-Hole", "remembering her own child-life, and the happy summer\ndays."),
])
def test_real_corpora_lose_their_front_and_back_matter(corpus, head, tail):
    text = read_corpus_text(Path(os.environ["RNNLAB_MIRROR"]), corpus)
    assert text.startswith(head)
    assert tail in text[-1500:]
    assert "Аннотация" not in text and "Печатные варианты" not in text and "Contents" not in text



# --- sampling -------------------------------------------------------------------------------


LOGITS = torch.tensor([9.0, 9.0, 1.0, 2.5, 0.5, 2.0, -1.0, 1.5])  # ids 0 and 1 (<pad>, <unk>) are banned


@pytest.mark.parametrize("temperature", [0.0, 1e-3, 0.02])
def test_temperature_towards_zero_gives_the_argmax(temperature):
    draws = {next_char(LOGITS, temperature, 0, torch.Generator().manual_seed(s)) for s in range(200)}
    assert draws == {3}  # the best allowed id


def test_high_temperature_spreads_the_samples():
    generator = torch.Generator().manual_seed(0)
    assert len({next_char(LOGITS, 3.0, 0, generator) for _ in range(300)}) >= 5


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_top_k_never_emits_a_character_outside_the_top_k(top_k):
    generator = torch.Generator().manual_seed(1)
    draws = {next_char(LOGITS, 5.0, top_k, generator) for _ in range(500)}
    allowed = set(torch.tensor([-1e9, -1e9, *LOGITS[2:].tolist()]).topk(top_k).indices.tolist())
    assert draws == allowed


def test_banned_ids_are_never_sampled_even_when_likeliest():
    generator = torch.Generator().manual_seed(2)
    assert not {next_char(LOGITS, 10.0, 0, generator) for _ in range(500)} & {0, 1}


def test_generation_stops_at_the_stop_id_and_never_longer_than_asked():
    ckpt = tiny_checkpoint()
    out = generate(ckpt.model, [2], 40, 1.0, 0, torch.Generator().manual_seed(0))
    assert len(out) == 40 and set(out) <= set(range(2, len(VOCAB)))
    stopped = generate(ckpt.model, [2], 200, 5.0, 0, torch.Generator().manual_seed(0), stop=5)
    assert 5 not in stopped and len(stopped) < 200


# --- checkpoints ----------------------------------------------------------------------------


@pytest.mark.parametrize("conditions", [(), ("English", "Russian")])
def test_checkpoint_round_trip_gives_the_same_logits_vocab_and_conditions(tmp_path, conditions):
    ckpt = tiny_checkpoint(conditions)
    save_checkpoint(tmp_path / "lm.pt", ckpt)
    loaded = load_checkpoint(tmp_path / "lm.pt", kind="char_lm")
    tokens = torch.tensor([[2, 3, 4, 5]])
    condition = torch.tensor([1]) if conditions else None
    assert torch.equal(loaded.model(tokens, None, condition)[0], ckpt.model(tokens, None, condition)[0])
    assert (loaded.vocab, loaded.config, loaded.classes) == (VOCAB, TINY, list(conditions))
    assert loaded.meta == {"corpus": "x"}


# --- training -------------------------------------------------------------------------------


def test_state_is_carried_detached_so_many_batches_backpropagate_once_each():
    torch.manual_seed(0)
    model = CharLM(TINY, len(VOCAB))
    ids = torch.randint(2, len(VOCAB), (400,))
    batches = stream_batches(ids, 4, 10)
    tracker = MemoryTracker()
    cfg = lm_trainer_config(device="cpu", steps=len(batches), eval_every=3)
    result = fit_language_model(model, iter(batches * 2), batches[:3], cfg, tracker)
    assert result.best_position > 0 and all(torch.isfinite(torch.tensor(r["val_loss"])) for r in result.history)
    assert [step for step, _ in tracker.metrics] == [r["step"] for r in result.history]


def test_padding_targets_are_ignored_by_the_loss():
    torch.manual_seed(0)
    model = CharLM(TINY, len(VOCAB))
    inputs = torch.tensor([[2, 3, 4, 0]])
    full = LMBatch(inputs, torch.tensor([[3, 4, 5, IGNORE]]), carry=False)
    cut = LMBatch(inputs[:, :3], torch.tensor([[3, 4, 5]]), carry=False)
    device = torch.device("cpu")
    assert evaluate_lm(model, [full], device) == pytest.approx(evaluate_lm(model, [cut], device))


# --- the command ----------------------------------------------------------------------------


def test_sample_command_writes_the_prime_then_the_sample(tmp_path, capsys):
    save_checkpoint(tmp_path / "lm.pt", tiny_checkpoint())
    code = main(["charlm", "sample", "--checkpoint", str(tmp_path / "lm.pt"), "--prime", "ab", "--length", "30",
                 "--top-k", "3", "--temperature", "0.8"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("ab") and len(out) == 2 + 30 + 1  # prime, sample, print's newline
    assert set(out) <= set("abc \n")


@pytest.mark.parametrize("args, message", [
    (["--prime", ""], "prime is empty"),
    (["--prime", "aЖz"], "not in the model's alphabet: ['z', 'Ж']"),
    (["--prime", "a", "--length", "0"], "--length must be >= 1"),
    (["--prime", "a", "--temperature", "-1"], "--temperature >= 0"),
])
def test_sample_command_rejects_bad_input_with_a_clear_message(tmp_path, capsys, args, message):
    save_checkpoint(tmp_path / "lm.pt", tiny_checkpoint())
    assert main(["charlm", "sample", "--checkpoint", str(tmp_path / "lm.pt"), *args]) == 2
    assert message in capsys.readouterr().err


def test_sample_command_with_a_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["charlm", "sample", "--checkpoint", str(tmp_path / "none.pt"), "--prime", "a"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint not found" in err and "Traceback" not in err
