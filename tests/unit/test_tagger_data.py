"""CoNLL-U reading, the tagger's batches (each word stays with its own tag), word dropout, the baselines' rules
and the accuracy on unseen words."""

import pytest
import torch

from rnnlab.data.conllu import Sentence, read_conllu
from rnnlab.models.embeddings import load_navec
from rnnlab.studies.tagger.tagger import (
    IGNORE,
    FrequentTags,
    TaggedBatch,
    TaggingObjective,
    accuracy,
    encode,
)
from rnnlab.text.vocab import build_vocab
from tests.configs import tagger_config

CONLLU = """# sent_id = 1
# text = Пошли в кино.
1-2\tПошли\t_\t_\t_\t_\t_\t_\t_\t_
1\tПош\tпойти\tVERB\t_\t_\t0\troot\t_\t_
2\tли\tли\tPART\t_\t_\t1\tadvmod\t_\t_
3\tв\tв\tADP\t_\t_\t4\tcase\t_\t_
3.1\tкуда\tкуда\tADV\t_\t_\t_\t_\t_\t_
4\tкино\tкино\tNOUN\t_\t_\t1\tobl\t_\tSpaceAfter=No
5\t.\t.\tPUNCT\t_\t_\t1\tpunct\t_\t_

# sent_id = 2
1\tДа\tда\tINTJ\t_\t_\t0\troot\t_\t_
"""


def test_conllu_keeps_the_syntactic_words_with_their_tags_and_lemmas(tmp_path):
    path = tmp_path / "t.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    first, second = read_conllu(path)
    assert first == Sentence(("Пош", "ли", "в", "кино", "."), ("VERB", "PART", "ADP", "NOUN", "PUNCT"),
                             ("пойти", "ли", "в", "кино", "."))
    assert second.forms == ("Да",) and second.upos == ("INTJ",)


@pytest.mark.parametrize(("broken", "message"), [
    ("4\tкино\tкино\tNOUN\t_\t_\t1\tobl\t_", "t.conllu:7: a token line has 10"),
    ("4\tкино\tкино\tNOUNS\t_\t_\t1\tobl\t_\tSpaceAfter=No", "t.conllu:7: 'NOUNS' is not a universal"),
    ("5\tкино\tкино\tNOUN\t_\t_\t1\tobl\t_\tSpaceAfter=No", "t.conllu:7: token id '5', expected 4"),
])
def test_a_malformed_line_is_an_error_naming_file_and_line(tmp_path, broken, message):
    lines = CONLLU.split("\n")
    lines[6] = broken
    path = tmp_path / "t.conllu"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_conllu(path)


SENTENCES = [("Мама", "мыла", "раму"), ("Кот",), ("Мы", "идём", "домой", "вечером", ".")]
TAGS = [("NOUN", "VERB", "NOUN"), ("NOUN",), ("PRON", "VERB", "ADV", "NOUN", "PUNCT")]
NAMES = ["ADV", "NOUN", "PRON", "PUNCT", "VERB"]


def split():
    vocab = build_vocab([[w.lower() for w in s] for s in SENTENCES[:2]], 100, 1)  # the third sentence is unseen
    alphabet = build_vocab([list(w) for s in SENTENCES for w in s], 100, 1)
    model = tagger_config(model={"max_word_len": 4}).model
    return encode(SENTENCES, TAGS, vocab, alphabet, NAMES, model), vocab, alphabet


def test_a_batch_keeps_every_word_with_its_characters_and_tag_and_pads_the_rest():
    data, vocab, alphabet = split()
    batch = data.batch(torch.tensor([2, 0, 1]))
    assert batch.words.shape == (3, 5) and batch.chars.shape == (3, 5, 4) and batch.lengths.tolist() == [5, 3, 1]
    for row, i in enumerate([2, 0, 1]):
        n = len(SENTENCES[i])
        assert batch.words[row, :n].tolist() == vocab.encode(w.lower() for w in SENTENCES[i])
        assert [NAMES[t] for t in batch.tags[row, :n].tolist()] == list(TAGS[i])
        for t, word in enumerate(SENTENCES[i]):
            spelled = "".join(alphabet.itos[c] for c in batch.chars[row, t].tolist() if c)
            assert spelled == word[:4]  # first max_word_len characters, case kept
        assert (batch.words[row, n:] == 0).all() and (batch.tags[row, n:] == IGNORE).all()
        assert (batch.chars[row, n:] == 0).all()
    assert batch.words[0].tolist()[:4] == [1, 1, 1, 1]  # unseen words are <unk>, their characters are not
    assert data.batch(torch.tensor([1]), pad_to_max_len=True).words.shape == (1, 5)
    assert batch.features is None  # navec_features off


def test_navec_features_are_each_words_own_vector_and_zero_where_navec_lacks_it():
    vocab = build_vocab([["кот"]], 10, 1)
    sentences = [("Мама", "мыла", "раму"), ("Кот", "zzqxj")]
    model = tagger_config(model={"navec_features": True}).model
    batch = encode(sentences, None, vocab, vocab, NAMES, model).batch(torch.tensor([1, 0]))
    navec = load_navec()
    assert batch.features.shape == (2, 3, 300)
    for row, sentence in enumerate([sentences[1], sentences[0]]):
        for t, word in enumerate(sentence):
            expected = navec.get(word.lower())
            expected = torch.zeros(300) if expected is None else torch.from_numpy(expected.copy())
            assert torch.equal(batch.features[row, t], expected)
    assert batch.features[0, 0].abs().sum() > 0 and (batch.features[0, 1:] == 0).all()  # zzqxj, then padding


def test_word_dropout_hides_real_words_only_and_keeps_their_characters_and_tags():
    data, _, _ = split()
    objective = TaggingObjective(data, data, tagger_config(word_dropout=0.5), len(NAMES), 0, torch.device("cpu"))
    batch = data.batch(torch.tensor([0, 1, 2]))
    dropped: TaggedBatch = objective._drop_words(batch)
    changed = dropped.words != batch.words
    assert changed.any() and (dropped.words[changed] == 1).all() and (batch.words[changed] != 0).all()
    assert torch.equal(dropped.tags, batch.tags) and torch.equal(dropped.chars, batch.chars)


def test_the_frequent_tag_baseline_falls_back_from_form_to_lowercase_to_suffix_to_the_commonest_tag():
    train = [Sentence(("Мама", "мыла", "раму", "мама"), ("PROPN", "VERB", "NOUN", "NOUN"), ("",) * 4),
             Sentence(("мама", "рама"), ("NOUN", "NOUN"), ("",) * 2)]
    tags = FrequentTags(train)
    assert tags.tag("Мама") == "PROPN"  # its own form
    assert tags.tag("МАМА") == "NOUN"  # lowercased: мама is NOUN 2 of 3 times
    assert tags.tag("помыла") == "VERB"  # the suffix "ыла"
    assert tags.tag("xyz") == "NOUN"  # the commonest tag


def test_accuracy_counts_unseen_words_by_their_lowercased_form():
    gold = [Sentence(("Кот", "спит", "Барсик"), ("NOUN", "VERB", "PROPN"), ("",) * 3)]
    scores = accuracy(gold, [["NOUN", "NOUN", "PROPN"]], known={"кот"})
    assert scores == {"accuracy": 2 / 3, "unseen_accuracy": 0.5, "tokens": 3, "unseen_tokens": 2}
