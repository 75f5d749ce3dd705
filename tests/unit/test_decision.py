"""Decision offsets (`rnnlab.training.decision`): macro-F1 as scikit-learn computes it, offsets that never score
below argmax on the data they are fitted on and recover a class argmax never predicts, and probabilities that
change by the offsets' priors only."""

import pytest
import torch
from sklearn.metrics import f1_score

from rnnlab.training.decision import apply_offsets, fit_offsets, macro_f1


def test_macro_f1_is_scikit_learns_including_a_class_never_predicted():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (300,), generator=generator)
    for predicted in (torch.randint(0, 4, (300,), generator=generator), torch.randint(0, 3, (300,), generator=generator)):
        assert macro_f1(labels, predicted, 4) == pytest.approx(f1_score(labels, predicted, average="macro"), abs=1e-12)
    assert macro_f1(torch.tensor([0, 0]), torch.tensor([0, 0]), 3) == pytest.approx(1 / 3)  # sklearn's labels=[0,1,2]


def skewed(n=600, seed=0):
    """Three separable classes whose logits favour class 0 by 2 nats: argmax over-predicts it."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    logits = 3.0 * torch.nn.functional.one_hot(labels, 3) + torch.randn(n, 3, generator=generator)
    logits[:, 0] += 2.0
    return logits, labels


def test_offsets_undo_a_skew_and_never_score_below_argmax_where_fitted():
    logits, labels = skewed()
    offsets = fit_offsets(logits, labels)
    before = macro_f1(labels, logits.argmax(1), 3)
    after = macro_f1(labels, apply_offsets(logits, offsets).argmax(1), 3)
    assert offsets[0] == 0.0 and offsets[1] > 1 and offsets[2] > 1  # the other classes lifted by about the skew
    assert after > before + 0.1
    fresh, fresh_labels = skewed(seed=1)  # and they carry over to new rows of the same kind
    assert macro_f1(fresh_labels, apply_offsets(fresh, offsets).argmax(1), 3) > macro_f1(
        fresh_labels, fresh.argmax(1), 3) + 0.1
    assert fit_offsets(logits, labels) == offsets  # deterministic


def test_a_perfect_argmax_keeps_zero_offsets_and_bad_input_is_refused():
    labels = torch.tensor([0, 1, 2, 1])
    logits = 5.0 * torch.nn.functional.one_hot(labels, 3).float()
    assert fit_offsets(logits, labels.tolist()) == [0.0, 0.0, 0.0]  # ties go to the offset nearest 0
    with pytest.raises(ValueError, match="4 rows of logits but 3 labels"):
        fit_offsets(logits, [0, 1, 2])
    with pytest.raises(ValueError, match="2 offsets for 3 classes"):
        apply_offsets(logits, [0.0, 1.0])


def test_offsets_change_the_probabilities_by_the_class_priors_only():
    logits = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(apply_offsets(logits, None), logits.softmax(1))
    probabilities = apply_offsets(logits, [0.0, 0.5, -1.0])
    assert torch.allclose(probabilities.sum(1), torch.ones(5))
    ratio = (probabilities / logits.softmax(1)) / (probabilities[:, :1] / logits.softmax(1)[:, :1])
    assert torch.allclose(ratio, torch.tensor([0.0, 0.5, -1.0]).exp().expand(5, 3), atol=1e-5)
