"""The character seq2seq model: feeding back with probability 0 is teacher forcing and with 1 its own
predictions; attention is a distribution over the real characters; beam width 1 is greedy; the schedules."""

import pytest
import torch

from rnnlab.data.conllu import Sentence
from rnnlab.models.seq2seq import BOS, EOS, CharSeq2Seq
from rnnlab.studies.tagger.lemmatizer import (
    alphabet_of,
    encode_pairs,
    exact_match,
    feed_back,
    pymorphy3_lemmas,
    triples,
)


def model_and_batch(seed: int = 0):
    torch.manual_seed(seed)
    model = CharSeq2Seq(n_chars=12, n_tags=3, char_embedding_dim=6, tag_embedding_dim=4, hidden_size=8, dropout=0.0)
    model.eval()
    source = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0], [10, 0, 0, 0]])
    lengths = torch.tensor([4, 2, 1])
    tags = torch.tensor([0, 1, 2])
    target = torch.tensor([[4, 5, 11, EOS], [8, EOS, 0, 0], [10, 10, 6, EOS]])
    return model, source, lengths, tags, target


def decode_by_hand(model, source, lengths, tags, target, own: bool) -> torch.Tensor:
    memory, keys, mask, state = model.encode(source, lengths, tags)
    previous, out = torch.full((3,), BOS), []
    for t in range(target.size(1)):
        logits, state, _ = model.step(previous, state, memory, keys, mask)
        out.append(logits)
        previous = logits.argmax(-1) if own else target[:, t]
    return torch.stack(out, 1)


@pytest.mark.parametrize(("p", "own"), [(0.0, False), (1.0, True)])
def test_feeding_back_with_probability_0_is_teacher_forcing_and_with_1_the_models_own_predictions(p, own):
    model, source, lengths, tags, target = model_and_batch()
    logits = model(source, lengths, tags, target, feed_back=p, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(logits, decode_by_hand(model, source, lengths, tags, target, own), atol=1e-6)
    other = decode_by_hand(model, source, lengths, tags, target, not own)
    assert not torch.allclose(logits, other, atol=1e-4)  # the two feeds really differ on this batch


def test_attention_sums_to_one_over_the_real_characters_and_is_zero_on_padding():
    model, source, lengths, tags, _ = model_and_batch()
    memory, keys, mask, state = model.encode(source, lengths, tags)
    _, _, weights = model.step(torch.full((3,), BOS), state, memory, keys, mask)
    assert torch.allclose(weights.sum(1), torch.ones(3))
    assert (weights[source == 0] == 0).all() and (weights[source != 0] > 0).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_of_width_one_is_greedy(seed):
    model, source, lengths, tags, _ = model_and_batch(seed)
    assert model.beam(source, lengths, tags, width=1, max_len=7) == model.greedy(source, lengths, tags, max_len=7)


def test_schedules_go_from_teacher_forcing_toward_free_running():
    assert feed_back("teacher_forcing", 500, 1000, 100) == 0.0 and feed_back("free_running", 0, 1000, 100) == 1.0
    assert [feed_back("linear", s, 11, 100) for s in (0, 5, 10)] == [0.0, 0.5, 1.0]
    curve = [feed_back("inverse_sigmoid", s, 3000, 300) for s in range(0, 3000, 100)]
    assert curve[0] < 0.01 and curve[-1] > 0.9 and curve == sorted(curve)
    assert feed_back("inverse_sigmoid", 1711, 3000, 300) == pytest.approx(0.5, abs=0.01)  # k e^(s/k) = k


def test_pairs_are_the_distinct_triples_and_lemmas_end_with_eos():
    sentences = [Sentence(("Кошки", "спят"), ("NOUN", "VERB"), ("кошка", "спать")),
                 Sentence(("Кошки",), ("NOUN",), ("кошка",))]
    pairs = triples(sentences)
    assert pairs == [("Кошки", "NOUN", "кошка"), ("спят", "VERB", "спать")]
    alphabet = alphabet_of(pairs)
    assert alphabet.itos[:4] == ("<pad>", "<unk>", "<s>", "</s>")
    split = encode_pairs(pairs, alphabet, max_len=4)
    assert alphabet.decode(split.source[0].tolist()) == list("Кошк")  # cut to max_len
    assert split.target[1].tolist()[-1] == EOS and split.lengths.tolist() == [4, 4]


def test_pymorphy3_reads_the_part_of_speech_and_matches_compare_lowercased():
    words = [("стали", "VERB"), ("стали", "NOUN"), ("Москве", "PROPN")]
    assert pymorphy3_lemmas(words) == ["стать", "сталь", "москва"]
    gold = [("стали", "VERB", "стать"), ("стали", "NOUN", "сталь"), ("Москве", "PROPN", "Москва")]
    scores = exact_match(gold, ["стать", "стать", "москва"], known={"стали"})
    assert scores == {"accuracy": 2 / 3, "unseen_accuracy": 1.0, "tokens": 3, "unseen_tokens": 1}
