"""Explanations: prefix probabilities are the model's own outputs, the posts drawn, the text, page and figure."""

import pytest
import torch

from rnnlab.models.attention import build_attention_classifier
from rnnlab.models.classifier import build_model
from rnnlab.studies.zoo.explain import (
    ExplainConfig,
    changes,
    explain,
    explanation_html,
    format_explanation,
    pick_posts,
    plot_explanation,
)
from tests.configs import model_config

IDS = [5, 9, 2, 7, 3, 11]
TOKENS = ["мама", "<b>мыла</b>", "раму", ")))", "не", "плохо"]
CLASSES = ["negative", "neutral", "positive"]


def models():
    torch.manual_seed(0)
    small = dict(embedding_dim=8, hidden_size=6)
    return {
        "attention": build_attention_classifier(model_config(pooling="attention", bidirectional=True, **small), 20, 3),
        "bidirectional max": build_model(model_config(pooling="max", bidirectional=True, **small), 20, 3),
        "gru last": build_model(model_config(cell="gru", pooling="last", **small), 20, 3),
        "unpacked mean": build_model(model_config(pooling="mean", packed=False, **small), 20, 3),
    }


@pytest.mark.parametrize("name", list(models()))
def test_the_probability_after_each_prefix_is_the_models_output_on_that_prefix(name):
    model = models()[name].eval()
    exp = explain(model, IDS, TOKENS, CLASSES)
    assert exp.probabilities.shape == (len(IDS), 3)
    whole = model(torch.tensor([IDS]), torch.tensor([len(IDS)])).softmax(-1)[0]
    assert torch.allclose(exp.probabilities[-1], whole, atol=1e-6)
    third = model(torch.tensor([IDS[:3]]), torch.tensor([3])).softmax(-1)[0]
    assert torch.allclose(exp.probabilities[2], third, atol=1e-6)
    assert exp.hidden.shape[0] == len(IDS)
    assert (exp.attention is not None) == (name == "attention")
    if exp.attention is not None:
        assert float(exp.attention.sum()) == pytest.approx(1.0)


def test_changes_add_up_to_the_final_probability():
    exp = explain(models()["attention"].eval(), IDS, TOKENS, CLASSES)
    assert float(changes(exp).sum()) == pytest.approx(float(exp.predicted_probability()[-1]) - 1 / 3, abs=1e-6)


def test_the_text_and_page_show_every_token_its_numbers_and_escape_markup(tmp_path):
    exp = explain(models()["attention"].eval(), IDS, TOKENS, CLASSES)
    text = format_explanation(exp)
    lines = text.splitlines()
    assert lines[0].startswith(f"-> {CLASSES[exp.predicted]}")
    assert "attention" in lines[1]
    assert [line.split()[0] for line in lines[2:]] == TOKENS
    assert f"{float(exp.attention[3]):.3f}" in lines[5]
    page = explanation_html(["мама <b>мыла</b> раму"], [exp], "m")
    assert "<b>мыла</b>" not in page and "&lt;b&gt;мыла&lt;/b&gt;" in page
    assert page.count("<span") == len(TOKENS)
    plot_explanation(exp, "post", tmp_path / "post.png")
    assert (tmp_path / "post.png").read_bytes()[:4] == b"\x89PNG"


def test_a_model_without_attention_has_no_attention_column():
    exp = explain(models()["gru last"].eval(), IDS, TOKENS, CLASSES)
    assert "attention" not in format_explanation(exp)
    with pytest.raises(ValueError, match="token ids"):
        explain(models()["gru last"], [], [], CLASSES)


def test_posts_are_the_first_right_then_the_first_wrong_in_range():
    lengths = torch.tensor([3, 9, 9, 9, 30, 9, 9])
    tokens = torch.full((7, 30), 4)
    tokens[2, :5] = 1  # mostly unknown words: skipped
    correct = torch.tensor([True, False, True, True, True, True, False])
    cfg = ExplainConfig(right=2, wrong=2, min_tokens=5, max_tokens=20)
    assert pick_posts(lengths, tokens, correct, cfg) == [3, 5, 1, 6]
    with pytest.raises(ValueError, match="only 2 wrong"):
        pick_posts(lengths, tokens, correct, ExplainConfig(right=1, wrong=3, min_tokens=5, max_tokens=20))
    with pytest.raises(ValueError, match="min_tokens"):
        pick_posts(lengths, tokens, correct, ExplainConfig(right=1, wrong=1, min_tokens=21, max_tokens=20))
