"""Scores against values worked out by hand."""

import pytest

from rnnlab.training.metrics import macro_f1, majority_baseline, score

CLASSES = ["neg", "pos"]
# true:  0 0 0 1 1 1
# pred:  0 0 0 1 0 0
# neg: TP 3, FP 2, FN 0 -> P 3/5, R 1,   F1 2*(3/5)/(8/5) = 3/4
# pos: TP 1, FP 0, FN 2 -> P 1,   R 1/3, F1 2*(1/3)/(4/3) = 1/2
Y_TRUE = [0, 0, 0, 1, 1, 1]
Y_PRED = [0, 0, 0, 1, 0, 0]


def test_score_by_hand():
    scores = score(Y_TRUE, Y_PRED, CLASSES)
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["macro_f1"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert scores["per_class"]["neg"] == pytest.approx({"precision": 3 / 5, "recall": 1.0, "f1": 3 / 4, "support": 3})
    assert scores["per_class"]["pos"] == pytest.approx({"precision": 1.0, "recall": 1 / 3, "f1": 1 / 2, "support": 3})
    assert scores["confusion"] == [[3, 0], [2, 1]]  # rows: true class, columns: predicted


def test_score_is_json_ready():
    scores = score(Y_TRUE, Y_PRED, CLASSES)
    assert type(scores["accuracy"]) is float
    assert type(scores["per_class"]["neg"]["support"]) is int
    assert all(type(n) is int for row in scores["confusion"] for n in row)


def test_score_keeps_classes_absent_from_the_data():
    scores = score([0, 0], [0, 0], ["a", "b", "c"])
    assert scores["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert scores["confusion"] == [[2, 0, 0], [0, 0, 0], [0, 0, 0]]


@pytest.mark.parametrize(
    ("y_true", "y_pred", "n_classes", "expected"),
    [
        ([0, 1, 2], [0, 1, 2], 3, 1.0),
        # class 2 never predicted: F1 0; class 1: P 1/2, R 1 -> F1 2/3; class 0: F1 1
        ([0, 1, 2], [0, 1, 1], 3, (1 + 2 / 3 + 0) / 3),
        # class 2 neither true nor predicted still counts, as 0
        ([0, 1], [0, 1], 3, 2 / 3),
        ([0, 0, 1, 1], [1, 1, 0, 0], 2, 0.0),
    ],
)
def test_macro_f1(y_true, y_pred, n_classes, expected):
    assert macro_f1(y_true, y_pred, n_classes) == pytest.approx(expected)


def test_majority_baseline():
    classes = ["a", "b", "c"]
    scores = majority_baseline([2, 2, 1, 0, 2], [0, 2, 2, 1], classes)  # always predicts c
    assert scores["accuracy"] == pytest.approx(2 / 4)
    assert scores["confusion"] == [[0, 0, 1], [0, 0, 1], [0, 0, 2]]
    # c: P 2/4, R 1 -> F1 2/3; a, b: 0
    assert scores["macro_f1"] == pytest.approx((2 / 3) / 3)


def test_majority_baseline_class_missing_from_test():
    scores = majority_baseline([1, 1, 0], [0, 0], ["a", "b"])  # predicts b, test has only a
    assert scores["accuracy"] == 0.0
    assert scores["confusion"] == [[0, 2], [0, 0]]
