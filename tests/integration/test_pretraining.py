"""ULMFiT on tiny data: the AWD language model pretrains through the one loop and its checkpoint evaluates the
same, fine-tuning on the target's texts keeps the vocabulary and lowers their perplexity, and the classifier
starts from the language model's encoder."""

import math

import pandas as pd
import pytest
import torch

from rnnlab.models.awd import ConcatPoolingClassifier
from rnnlab.studies.pretraining.lm import (
    BOS,
    AWDConfig,
    LMStageConfig,
    LMVocabConfig,
    documents_tokens,
    evaluate_awd,
    finetune,
    pretrain,
    stream,
)
from rnnlab.studies.pretraining.ulmfit import (
    AWDClassifierConfig,
    UnfreezingObjective,
    build_awd_classifier,
    encode_target,
    train_awd_classifier,
    trainable_groups,
)
from rnnlab.studies.shared import summary
from rnnlab.text.vocab import build_vocab
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.language import stream_batches
from rnnlab.training.loop import set_seed
from rnnlab.training.tracking import MemoryTracker
from tests.configs import lm_trainer_config, text_config, trainer_config

TEXT = text_config(normalize="none")
PHRASES = ["кот сидит на ковре", "собака лежит у двери", "мы идём домой вечером", "ну и погода сегодня )))"]
SENTIMENT = {"positive": "очень хорошо , спасибо", "negative": "ужасно плохо , не надо", "neutral": "завтра в пять"}
MODEL = AWDConfig(embeddings="scratch", embedding_dim=16, hidden_size=24, num_layers=2, cutoffs=(12,),
                  embedding_dropout=0.0, input_dropout=0.0, hidden_dropout=0.0, weight_dropout=0.0, output_dropout=0.0)


def stage(steps: int, lr: float = 0.03) -> LMStageConfig:
    return LMStageConfig(batch_size=4, seq_len=8, trainer=lm_trainer_config(device="cpu", steps=steps, lr=lr,
                                                                          eval_every=steps // 3))


def corpus(n: int = 140) -> pd.DataFrame:
    phrases = PHRASES + list(SENTIMENT.values())
    texts = [phrases[i % len(phrases)] for i in range(n)]
    return pd.DataFrame({"text": texts, "source": "tiny", "split": ["val" if i % 10 == 0 else "train" for i in range(n)]})


@pytest.fixture(scope="module")
def pretrained():
    torch.manual_seed(0)
    return pretrain(corpus(), TEXT, LMVocabConfig(max_size=100, min_freq=1), MODEL, stage(150), MemoryTracker(), seed=0)


def test_the_language_model_learns_and_its_checkpoint_evaluates_the_same(pretrained, tmp_path):
    ckpt, result = pretrained
    perplexity = [row["val_perplexity"] for row in result.history]
    assert perplexity[-1] < perplexity[0] / 2 and all(math.isfinite(p) for p in perplexity)
    assert result.best["val_loss"] == min(row["val_loss"] for row in result.history)
    assert ckpt.meta["val_perplexity"] == pytest.approx(math.exp(result.best["val_loss"]))

    save_checkpoint(tmp_path / "lm.pt", ckpt)
    loaded = load_checkpoint(tmp_path / "lm.pt", kind="awd_lm")
    assert loaded.vocab == ckpt.vocab and loaded.meta["text"]["normalize"] == "none"
    val_docs = documents_tokens([t for t, s in zip(corpus()["text"], corpus()["split"]) if s == "val"], TEXT)
    val = stream_batches(stream(val_docs, loaded.vocab, None), 4, 8)
    cpu = torch.device("cpu")
    assert evaluate_awd(loaded.model, val, cpu) == pytest.approx(result.best["val_loss"], abs=1e-6)


def test_documents_are_surface_tokens_after_xxbos_and_lemmas_are_refused():
    assert documents_tokens(["Не Хорошо )))"], TEXT) == [[BOS, "не", "хорошо", ")))"]]
    with pytest.raises(ValueError, match="surface forms"):
        documents_tokens(["слова"], text_config(normalize="lemma"))


def test_the_stream_order_is_seeded():
    docs = [[BOS, str(i)] for i in range(20)]
    vocab = build_vocab(docs, 100, 1)
    assert torch.equal(stream(docs, vocab, 3), stream(docs, vocab, 3))
    assert not torch.equal(stream(docs, vocab, 3), stream(docs, vocab, 4))
    assert torch.equal(stream(docs, vocab, None), torch.tensor(vocab.encode([t for d in docs for t in d])))


def test_fine_tuning_keeps_the_vocabulary_and_lowers_the_targets_perplexity(pretrained, tmp_path):
    save_checkpoint(tmp_path / "lm.pt", pretrained[0])
    lm = load_checkpoint(tmp_path / "lm.pt", kind="awd_lm")
    texts = ["в пять очень плохо , спасибо", "ну и кот )))", "мы не идём"] * 30  # new orders of its words
    tuned, result = finetune(lm, texts, 0.2, stage(45), MemoryTracker(), seed=0)
    assert tuned.vocab == pretrained[0].vocab and tuned.kind == "awd_lm"
    assert tuned.meta["val_perplexity"] < tuned.meta["val_perplexity_before"]
    assert tuned.meta["pretrained"]["val_perplexity"] == pretrained[0].meta["val_perplexity"]


def classifier_config(**overrides) -> AWDClassifierConfig:
    values = dict(seeds=(1,), max_len=20, embedding_dropout=0.0, input_dropout=0.0, hidden_dropout=0.0,
                  weight_dropout=0.0, head_size=8, head_dropout=0.0, freeze_embedding=True, gradual_unfreezing=False,
                  trainer=trainer_config(device="cpu", epochs=12, batch_size=8, lr=0.01, patience=12))
    return AWDClassifierConfig(**{**values, **overrides})


def labelled() -> pd.DataFrame:
    rows = [(f"{SENTIMENT[label]} {PHRASES[i % 4]}", label, split)
            for split, n in (("train", 20), ("val", 4), ("test", 4)) for i in range(n) for label in sorted(SENTIMENT)]
    return pd.DataFrame(rows, columns=["text", "label", "split"])


def test_the_classifier_starts_from_the_language_models_encoder(pretrained):
    lm = pretrained[0]
    model = build_awd_classifier(lm, classifier_config(), n_classes=3)
    assert isinstance(model, ConcatPoolingClassifier)
    theirs = lm.model.encoder.state_dict()
    assert all(torch.equal(value, theirs[name]) for name, value in model.encoder.state_dict().items())
    assert not model.encoder.embedding.weight.requires_grad


def test_the_classifier_learns_the_target_and_a_frozen_embedding_stays_the_language_models(pretrained):
    lm = pretrained[0]
    splits, classes = encode_target(labelled(), lm, max_len=20)
    assert classes == ["negative", "neutral", "positive"]
    assert (splits["train"].tokens[:, 0] == lm.vocab.stoi[BOS]).all()
    model, result, test = train_awd_classifier(lm, splits, classes, classifier_config(), 1, MemoryTracker())
    assert result.best["val_macro_f1"] == 1.0 and test["macro_f1"] == 1.0  # each class has its own words
    assert torch.equal(model.encoder.embedding.weight, lm.model.encoder.embedding.weight)
    assert not torch.equal(model.encoder.layers[0].lstm.weight_ih_l0, lm.model.encoder.layers[0].lstm.weight_ih_l0)


def test_gradual_unfreezing_gives_frozen_layer_groups_no_gradient(pretrained):
    lm = pretrained[0]
    splits, classes = encode_target(labelled(), lm, max_len=20)
    cfg = classifier_config(gradual_unfreezing=True, freeze_embedding=False)
    model = build_awd_classifier(lm, cfg, len(classes))
    groups = trainable_groups(model, cfg)
    assert groups == [model.encoder.embedding, *model.encoder.layers, model.head]
    objective = UnfreezingObjective(splits["train"], splits["val"], cfg.trainer, 3, 0, torch.device("cpu"),
                                    groups=groups)
    for epoch, batches in objective.rounds():
        model.zero_grad(set_to_none=True)
        loss, _, _ = objective.loss(model, next(iter(batches)))
        loss.backward()
        with_gradient = [all(p.grad is not None for p in g.parameters()) for g in groups]
        without = [all(p.grad is None for p in g.parameters()) for g in groups]
        trained = min(epoch, len(groups))  # epoch 1: the head; each epoch one more group from the top
        assert with_gradient == [False] * (len(groups) - trained) + [True] * trained, epoch
        assert without == [True] * (len(groups) - trained) + [False] * trained, epoch
        if epoch == len(groups) + 1:
            break
    # a frozen embedding is never among the groups, so unfreezing never wakes it
    frozen = classifier_config(gradual_unfreezing=True)
    assert model.encoder.embedding not in trainable_groups(build_awd_classifier(lm, frozen, 3), frozen)


def test_one_epoch_of_gradual_unfreezing_trains_the_head_alone(pretrained):
    lm = pretrained[0]
    splits, classes = encode_target(labelled(), lm, max_len=20)
    cfg = classifier_config(gradual_unfreezing=True, trainer=trainer_config(device="cpu", epochs=1, batch_size=8,
                                                                            lr=0.01, patience=1))
    model, _, _ = train_awd_classifier(lm, splits, classes, cfg, 1, MemoryTracker())
    theirs = lm.model.encoder.state_dict()
    assert all(torch.equal(value, theirs[name]) for name, value in model.encoder.state_dict().items())
    set_seed(1)  # the head as train_awd_classifier built it, before training
    untrained = build_awd_classifier(lm, cfg, len(classes))
    assert not torch.equal(model.head[-1].weight, untrained.head[-1].weight)


def test_the_summary_gives_the_seeds_mean_and_spread():
    runs = [{"seed": s, "test_macro_f1": f, "test_accuracy": 0.5} for s, f in ((1, 0.70), (2, 0.72), (3, 0.74))]
    out = summary(runs)
    assert out["test_macro_f1_mean"] == pytest.approx(0.72) and out["test_macro_f1_std"] == pytest.approx(0.02)
    assert summary(runs[:1])["test_macro_f1_std"] == 0.0
