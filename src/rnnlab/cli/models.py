"""`rnnlab` commands on the pipeline's and the studies' models: predict, explain, names, charlm sample, tag,
lemmatize. Checkpoint paths default to what the dvc.yaml files declare as the training stages' outs (run from the
repository root), or are given with --checkpoint."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch

from rnnlab.cli.errors import CommandError
from rnnlab.data.files import atomic_path
from rnnlab.models.attention import ATTENTION
from rnnlab.serving.outputs import model_checkpoint, pipeline_models
from rnnlab.serving.predict import (
    BEST,
    LABEL,
    Predictor,
    best_model,
    format_rows,
    load_predictor,
    read_texts,
)
from rnnlab.studies.chars.charlm import sample_text
from rnnlab.studies.chars.names import generate_names, top_languages
from rnnlab.studies.tagger.lemmatizer import lemmatize
from rnnlab.studies.tagger.tagger import tag_sentences
from rnnlab.studies.zoo.attention import ATTENTION_STAGE
from rnnlab.studies.zoo.explain import explain, explanation_html, format_explanation
from rnnlab.training.attention import CLASSIFIER_KINDS
from rnnlab.training.checkpoint import load_checkpoint

CHARS_PIPELINE = Path("studies/chars/dvc.yaml")  # the character-level tasks' stages
TAGGER_PIPELINE = Path("studies/tagger/dvc.yaml")
ZOO_PIPELINE = Path("studies/zoo/dvc.yaml")


def _checkpoint(given: Path | None, stage: str, pipeline: Path = CHARS_PIPELINE) -> Path:
    """--checkpoint when given, else the stage's checkpoint as its study's dvc.yaml declares it."""
    return given if given is not None else model_checkpoint(stage, pipeline)


def predict_command(args: argparse.Namespace) -> int:
    """Classify raw texts with a sentiment model."""
    if bool(args.texts) == bool(args.input):
        raise CommandError("give texts as arguments or a CSV file with --input, not both")
    torch.set_num_threads(args.threads)
    models = pipeline_models() if args.checkpoint is None else {}
    if args.checkpoint is not None:
        path = args.checkpoint
    elif args.model == BEST:
        path = best_model(models)
    elif args.model in models:
        path = models[args.model]
    else:
        raise CommandError(f"unknown model {args.model!r}: the pipeline's models (dvc.lock) are "
                           f"{', '.join(models) or 'none yet: run `dvc repro`'}; or use `best`")
    predictor = load_predictor(path)
    frame = read_texts(args.input, args.text_column) if args.input else pd.DataFrame({args.text_column: args.texts})
    print(f"model {predictor.name} ({path}, val macro-F1 {predictor.val_macro_f1:.4f})", file=sys.stderr)
    texts = frame[args.text_column].tolist()
    table = predictor.table(texts)
    if args.output:
        with atomic_path(args.output) as tmp:
            frame.join(table.rename(columns={LABEL: f"predicted_{LABEL}"})).to_csv(tmp, index=False)
        print(f"{len(texts)} predictions written to {args.output}", file=sys.stderr)
    else:
        print(format_rows(texts, table))
    return 0


def explain_command(args: argparse.Namespace) -> int:
    """Each token of each text with the predicted class's probability after reading up to it (and its attention)."""
    if args.checkpoint is not None:
        path = args.checkpoint
    elif args.model == ATTENTION:
        path = model_checkpoint(ATTENTION_STAGE, ZOO_PIPELINE)
    else:
        models = {name: p for name, p in pipeline_models().items() if p.suffix == ".pt"}
        if args.model not in models:
            raise CommandError(f"unknown model {args.model!r}: the recurrent models are "
                               f"{', '.join([*models, ATTENTION])} (`{ATTENTION}`: the zoo study's)")
        path = models[args.model]
    torch.set_num_threads(args.threads)
    ckpt = load_checkpoint(path)
    if ckpt.kind not in CLASSIFIER_KINDS:
        raise CommandError(f"{path}: a {ckpt.kind} checkpoint; explain reads the recurrent classifiers "
                           f"({', '.join(CLASSIFIER_KINDS)})")
    predictor = Predictor(ckpt)
    explanations = []
    for text, tokens in zip(args.texts, predictor.tokens(args.texts), strict=True):
        tokens = tokens[: ckpt.meta["max_len"]] or [ckpt.vocab.itos[1]]  # what the model reads: an empty text is <unk>
        explanations.append(explain(ckpt.model, ckpt.vocab.encode(tokens), tokens, ckpt.classes))
        print(json.dumps(text, ensure_ascii=False))
        print(format_explanation(explanations[-1]))
    if args.html:
        with atomic_path(args.html) as tmp:
            tmp.write_text(explanation_html(args.texts, explanations, f"{ckpt.meta['name']} ({path})"), encoding="utf-8")
        print(f"written to {args.html}", file=sys.stderr)
    return 0


def names_predict_command(args: argparse.Namespace) -> int:
    """The likeliest languages of surnames."""
    if args.top < 1:
        raise CommandError("--top must be >= 1")
    clf = load_checkpoint(_checkpoint(args.checkpoint, "names_classify"), kind="classifier")
    for name, top in zip(args.names, top_languages(clf, args.names, args.top), strict=True):
        print(name)
        for value, language in top:
            print(f"  ({value:.2f}) {language}")
    return 0


def names_generate_command(args: argparse.Namespace) -> int:
    """Surnames sampled for a language."""
    if args.n < 1 or args.temperature < 0:
        raise CommandError("-n must be >= 1 and --temperature >= 0")
    ckpt = load_checkpoint(_checkpoint(args.checkpoint, "names_generate"), kind="char_lm")
    print("\n".join(generate_names(ckpt, args.language, args.n, args.temperature, args.seed, args.first_letter)))
    return 0


def charlm_sample_command(args: argparse.Namespace) -> int:
    """Text written by the character language model."""
    if args.length < 1 or args.temperature < 0 or args.top_k < 0:
        raise CommandError("--length must be >= 1, --temperature >= 0 and --top-k >= 0")
    ckpt = load_checkpoint(_checkpoint(args.checkpoint, "charlm_train"), kind="char_lm")
    print(sample_text(ckpt, args.prime, args.length, args.temperature, args.top_k, args.seed))
    return 0


def tag_command(args: argparse.Namespace) -> int:
    """Each token of each text with its part-of-speech tag."""
    import razdel  # natasha's tokenizer, as UD tokenises: punctuation apart, "--" and ":)" kept whole

    ckpt = load_checkpoint(_checkpoint(args.checkpoint, "tagger", TAGGER_PIPELINE), kind="tagger")
    sentences = [[token.text for token in razdel.tokenize(text)] for text in args.texts]
    if not all(sentences):
        raise CommandError("every text needs at least one token")
    for i, (tokens, tags) in enumerate(zip(sentences, tag_sentences(ckpt, sentences), strict=True)):
        print(("\n" if i else "") + "\n".join(f"{token}\t{tag}" for token, tag in zip(tokens, tags, strict=True)))
    return 0


def lemmatize_command(args: argparse.Namespace) -> int:
    """Each word's part of speech (the tagger, reading the words as one sentence) and lemma (the seq2seq model)."""
    if args.beam < 1:
        raise CommandError("--beam must be >= 1")
    tagger = load_checkpoint(_checkpoint(args.tagger_checkpoint, "tagger", TAGGER_PIPELINE), kind="tagger")
    model = load_checkpoint(_checkpoint(args.checkpoint, "lemmatizer", TAGGER_PIPELINE), kind="lemmatizer")
    tags = tag_sentences(tagger, [args.words])[0]
    for word, tag, lemma in zip(args.words, tags, lemmatize(model, list(zip(args.words, tags)), args.beam)):
        print(f"{word}\t{tag}\t{lemma}")
    return 0



def add_commands(commands: argparse._SubParsersAction, checkpoint: dict) -> None:
    """The model commands' parsers."""
    cmd = commands.add_parser("predict", help="classify raw texts with a trained sentiment model")
    cmd.add_argument("texts", nargs="*", help="texts to classify")
    cmd.add_argument("--model", default=BEST,
                     help="a model of the pipeline (train@ or train_subword@<name> in dvc.lock, or tfidf), "
                          "or `best` (by validation)")
    cmd.add_argument("--checkpoint", type=Path, help="a model file: a classifier checkpoint or the tfidf .pkl")
    cmd.add_argument("--input", type=Path, help="a CSV file of texts instead of arguments")
    cmd.add_argument("--text-column", default="text", help="the column of --input holding the texts")
    cmd.add_argument("--output", type=Path, help="write a CSV (input columns, predicted_label, p_<class>)")
    cmd.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    cmd.set_defaults(func=predict_command)

    cmd = commands.add_parser("explain", help="how a sentiment model's prediction grows token by token")
    cmd.add_argument("texts", nargs="+", help="texts to explain")
    cmd.add_argument("--model", default=ATTENTION, help=f"a model of the pipeline (rnn, lstm, gru) or {ATTENTION} "
                     "(the zoo study's attention classifier, with its attention weights)")
    cmd.add_argument("--checkpoint", type=Path, help="a classifier checkpoint instead of --model")
    cmd.add_argument("--html", type=Path, help="also write the texts as a page, tokens coloured by their effect")
    cmd.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    cmd.set_defaults(func=explain_command)

    names = commands.add_parser("names", help="surname language classifier and generator").add_subparsers(required=True)
    cmd = names.add_parser("predict", help="the likeliest languages of surnames")
    cmd.add_argument("names", nargs="+", help="surnames, any alphabet")
    cmd.add_argument("--top", type=int, default=3, help="languages shown per name")
    cmd.add_argument("--checkpoint", **checkpoint)
    cmd.set_defaults(func=names_predict_command)
    cmd = names.add_parser("generate", help="sample surnames of a language")
    cmd.add_argument("--language", required=True)
    cmd.add_argument("--first-letter", default="", help="one character every name starts with")
    cmd.add_argument("--temperature", type=float, default=0.5, help="0 = always the likeliest character")
    cmd.add_argument("-n", type=int, default=10, help="how many names")
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--checkpoint", **checkpoint)
    cmd.set_defaults(func=names_generate_command)

    charlm = commands.add_parser("charlm", help="character language model").add_subparsers(required=True)
    cmd = charlm.add_parser("sample", help="write text with a trained character LM")
    cmd.add_argument("--prime", required=True, help="text to start from (at least one character)")
    cmd.add_argument("--length", type=int, default=500, help="characters to add")
    cmd.add_argument("--temperature", type=float, default=0.8, help="0 = always the likeliest character")
    cmd.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest characters; 0 = all")
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--checkpoint", **checkpoint)
    cmd.set_defaults(func=charlm_sample_command)

    cmd = commands.add_parser("tag", help="part-of-speech tags (UPOS) of Russian texts")
    cmd.add_argument("texts", nargs="+", help="texts, each tokenised and tagged as one sentence")
    cmd.add_argument("--checkpoint", **checkpoint)
    cmd.set_defaults(func=tag_command)
    cmd = commands.add_parser("lemmatize", help="lemmas of Russian words (tagged first, then the seq2seq model)")
    cmd.add_argument("words", nargs="+", help="words, read in order as one sentence")
    cmd.add_argument("--beam", type=int, default=4, help="beam width; 1 = greedy")
    cmd.add_argument("--checkpoint", **checkpoint)
    cmd.add_argument("--tagger-checkpoint", type=Path, help="the tagger (default: the tagger stage's out)")
    cmd.set_defaults(func=lemmatize_command)
