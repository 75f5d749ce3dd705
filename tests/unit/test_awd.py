"""The AWD-LSTM language model and ULMFiT's classifier on tiny sizes: tied weights, state carried across
windows, the adaptive softmax's loss, the pretrained encoder moved into the classifier, concat pooling that
ignores padding, and the fine-tuning settings (gradual unfreezing, discriminative rates, the schedule)."""

import pytest
import torch

from rnnlab.models.awd import (
    IGNORE,
    AWDEncoder,
    AWDLanguageModel,
    ConcatPoolingClassifier,
    concat_pool,
    embedding_dropout,
)
from rnnlab.training.finetune import (
    discriminative_groups,
    first_trainable,
    freeze_before,
    slanted_triangular,
)
from rnnlab.training.language import stream_batches

V, E, H = 50, 8, 12


def encoder(**kwargs) -> AWDEncoder:
    torch.manual_seed(0)
    return AWDEncoder(V, E, H, num_layers=3, output_size=E, **kwargs)


def test_the_decoder_is_the_embedding_and_one_step_moves_both_together():
    lm = AWDLanguageModel(encoder())
    assert not lm.encoder.embedding.weight[0].any()  # the padding row, zero after the uniform init
    names = [n for n, _ in lm.named_parameters()]
    assert names.count("encoder.embedding.weight") == 1 and not any(n.endswith("output.weight") for n in names)
    tokens = torch.randint(1, V, (4, 6))
    hidden, _ = lm(tokens[:, :-1])
    nll = -lm.target_log_probs(hidden, tokens[:, 1:]).sum()
    logits = hidden @ lm.encoder.embedding.weight.T + lm.output.bias  # (B, T, V): the embedding as the output layer
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), reduction="sum")
    assert torch.allclose(nll, expected, atol=1e-4)
    nll.backward()
    before = lm.encoder.embedding.weight.detach().clone()
    torch.optim.SGD(lm.parameters(), lr=0.1).step()
    assert not torch.equal(before, lm.encoder.embedding.weight)


@pytest.mark.parametrize("cutoffs", [(), (10, 30)])
def test_a_tied_output_layer_needs_the_last_layer_as_wide_as_the_embedding(cutoffs):
    with pytest.raises(ValueError, match="output size \\(12\\) to equal the embedding size \\(8\\)"):
        AWDLanguageModel(AWDEncoder(V, E, H, num_layers=2), cutoffs=cutoffs)


def test_windows_of_a_stream_with_the_state_carried_equal_the_whole_stream_at_once():
    lm = AWDLanguageModel(encoder()).eval()
    stream = torch.randint(1, V, (2 * 12 + 1,))
    batches = stream_batches(stream, batch_size=2, seq_len=4)
    assert [b.carry for b in batches] == [False, True, True]
    state, pieces = None, []
    for batch in batches:
        hidden, state = lm(batch.inputs, state if batch.carry else None)
        pieces.append(hidden)
    whole, _ = lm(torch.cat([b.inputs for b in batches], dim=1))
    assert torch.allclose(torch.cat(pieces, dim=1), whole, atol=1e-6)
    # the targets are the inputs shifted by one, row by row, across window edges
    assert torch.equal(torch.cat([b.targets for b in batches], 1)[:, :-1], torch.cat([b.inputs for b in batches], 1)[:, 1:])


def test_the_adaptive_softmax_gives_each_targets_log_probability_skipping_ignored_ones():
    torch.manual_seed(0)
    lm = AWDLanguageModel(encoder(), cutoffs=[10, 30]).eval()
    for projection in lm.output.projections:  # not the identity they start as
        torch.nn.init.normal_(projection.weight)
    tokens = torch.randint(1, V, (3, 7))
    targets = tokens[:, 1:].clone()
    targets[0, -2:] = IGNORE
    hidden, _ = lm(tokens[:, :-1])
    log_probs = lm.log_probs(hidden.flatten(0, 1))  # (N, V)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(len(log_probs)), atol=1e-5)
    keep = targets.flatten() != IGNORE
    expected = -log_probs[keep].gather(1, targets.flatten()[keep].unsqueeze(1)).sum()
    assert torch.allclose(-lm.target_log_probs(hidden, targets).sum(), expected, atol=1e-4)
    assert (targets >= 10).any() and (targets >= 30).any()  # every tail was scored


def test_the_adaptive_softmax_scores_every_word_by_its_input_embedding():
    lm = AWDLanguageModel(encoder(), cutoffs=[10, 30])
    hidden, _ = lm(torch.randint(1, 10, (2, 5)))  # inputs among the head's words
    nll = -lm.target_log_probs(hidden, torch.arange(20, 30).view(2, 5)).sum()  # targets in the first tail only
    nll.backward()
    grad = lm.encoder.embedding.weight.grad
    assert grad[20:30].abs().sum(1).gt(0).all()  # the targets' rows learn as output vectors
    assert not grad[30:].any() and lm.output.projections[1].weight.grad is None  # an unused tail costs nothing


def test_adaptive_cutoffs_must_increase_inside_the_vocabulary():
    with pytest.raises(ValueError, match="cutoffs must increase"):
        AWDLanguageModel(encoder(), cutoffs=[30, 10])


def test_the_pretrained_encoder_moves_into_the_classifier_with_equal_weights_and_outputs():
    lm = AWDLanguageModel(encoder())
    torch.nn.init.normal_(lm.encoder.layers[1].lstm.bias_ih_l0)  # not the fresh encoder's values
    classifier = ConcatPoolingClassifier(encoder(), num_classes=3)
    classifier.encoder.load_state_dict(lm.encoder.state_dict())
    ours, theirs = classifier.encoder.state_dict(), lm.encoder.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    tokens = torch.randint(1, V, (2, 5))
    assert torch.equal(classifier.eval().encoder(tokens)[0], lm.eval().encoder(tokens)[0])


def test_concat_pooling_reads_only_the_real_tokens():
    out = torch.arange(2 * 4 * 3, dtype=torch.float).view(2, 4, 3)
    out[1, 2:] = 1e6  # padding after a 2-token text
    pooled = concat_pool(out, torch.tensor([4, 2]))
    assert torch.equal(pooled[1], torch.cat([out[1, 1], out[1, 1], out[1, :2].mean(0)]))
    assert torch.equal(pooled[0], torch.cat([out[0, 3], out[0, 3], out[0].mean(0)]))
    classifier = ConcatPoolingClassifier(encoder(), num_classes=3).eval()
    text = torch.randint(1, V, (1, 3))
    padded = torch.cat([text, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    assert torch.allclose(classifier(text, torch.tensor([3])), classifier(padded, torch.tensor([3])), atol=1e-6)


def test_embedding_dropout_drops_whole_words_and_is_off_in_eval():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(V, E)
    tokens = torch.arange(V).repeat(3, 1)  # every word three times
    dropped = embedding_dropout(emb, tokens, 0.5, training=True)  # (3, V, E)
    zero = (dropped == 0).all(-1)  # (3, V)
    assert zero.any() and torch.equal(zero[0], zero[1]) and torch.equal(zero[0], zero[2])
    assert torch.allclose(dropped[0][~zero[0]], 2 * emb.weight[~zero[0]])
    assert torch.equal(embedding_dropout(emb, tokens, 0.5, training=False), emb(tokens))


def test_frozen_layer_groups_receive_no_gradient_and_do_not_move():
    classifier = ConcatPoolingClassifier(encoder(), num_classes=3)
    groups = classifier.layer_groups()  # embedding, 3 layers, head
    first = first_trainable(epoch=2, n_groups=len(groups), gradual=True)
    assert first == 3 and first_trainable(1, 5, True) == 4 and first_trainable(9, 5, True) == 0
    assert first_trainable(1, 5, gradual=False) == 0
    freeze_before(groups, first)
    before = {n: p.detach().clone() for n, p in classifier.named_parameters()}
    optimizer = torch.optim.Adam([p for p in classifier.parameters() if p.requires_grad], lr=0.1)
    logits = classifier(torch.randint(1, V, (4, 6)), torch.tensor([6, 5, 3, 1]))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).backward()
    optimizer.step()
    frozen = [p for g in groups[:first] for p in g.parameters()]
    assert all(p.grad is None for p in frozen)
    assert all(p.grad is not None for g in groups[first:] for p in g.parameters())
    moved = {n for n, p in classifier.named_parameters() if not torch.equal(before[n], p)}
    assert moved and all(n.startswith(("encoder.layers.2.", "head.")) for n in moved)


def test_discriminative_rates_fall_by_the_decay_from_the_head_down():
    groups = ConcatPoolingClassifier(encoder(), num_classes=3).layer_groups()
    rates = [g["lr"] for g in discriminative_groups(groups, 0.01, 2.6)]
    assert rates[-1] == 0.01 and all(abs(rates[i + 1] / rates[i] - 2.6) < 1e-9 for i in range(len(rates) - 1))
    assert sum(len(g["params"]) for g in discriminative_groups(groups, 0.01, 1.0)) == len(list(
        ConcatPoolingClassifier(encoder(), num_classes=3).parameters()))
    with pytest.raises(ValueError, match="at least 1"):
        discriminative_groups(groups, 0.01, 0.5)


def test_the_slanted_triangular_schedule_rises_to_the_peak_at_the_cut_then_decays():
    factors = [slanted_triangular(step, 100, cut_frac=0.1, ratio=32) for step in range(100)]
    assert factors[0] == pytest.approx(1 / 32) and factors[10] == pytest.approx(1.0)
    assert max(factors) == factors[10]
    assert all(a < b for a, b in zip(factors[:10], factors[1:11], strict=True))
    assert all(a > b for a, b in zip(factors[10:-1], factors[11:], strict=True))
    assert factors[-1] == pytest.approx((1 + 1 / 90 * 31) / 32)
