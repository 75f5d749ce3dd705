"""The `rnnlab` command: predictions and what drives them, surnames, text samples, part-of-speech tags and lemmas from the pipeline's models;
the UI; the team's tracking server, moving runs into it, and the DVC remote.

Checkpoint paths default to what dvc.yaml declares as the training stages' outs (run from the
repository root), or are given with --checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

from rnnlab.data.files import atomic_path
from rnnlab.models.attention import ATTENTION
from rnnlab.process import die_with_parent, raise_on_signals, stop_group
from rnnlab.profiles import experiment_command
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
from rnnlab.team.migrate import migrate
from rnnlab.team.remote import RemoteError, push, restore
from rnnlab.team.server import Server, ServerError, login_help
from rnnlab.team.server import start as start_server
from rnnlab.team.server import stop as stop_server
from rnnlab.training.attention import CLASSIFIER_KINDS
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.tracking import runs_view_url


class CommandError(RuntimeError):
    """Bad input to a command: printed without a traceback, exit status 2."""


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


def ui_command(args: argparse.Namespace) -> int:
    """The MLflow UI in a process group of its own, stopped whole when this command stops or its parent dies."""
    if args.pid_file.is_file():
        raise CommandError(f"{args.pid_file} exists: a UI may be running (stop it with `make ui-stop`)")
    die_with_parent()
    raise_on_signals()
    url = runs_view_url(f"http://{args.host}:{args.port}", args.backend_store_uri)  # before the server opens the store
    cmd = ["mlflow", "ui", "--backend-store-uri", args.backend_store_uri, "--host", args.host,
           "--port", str(args.port), "--workers", "1"]
    server = subprocess.Popen(cmd, env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                              start_new_session=True)
    args.pid_file.parent.mkdir(parents=True, exist_ok=True)
    args.pid_file.write_text(f"{server.pid}\n")
    print(f"MLflow UI: {url}", file=sys.stderr, flush=True)
    try:
        return server.wait()
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM (kill of this command or of `make ui`)
        return 0
    finally:
        stop_group(server.pid)  # the server's workers too: the group is its PID
        server.wait()
        args.pid_file.unlink(missing_ok=True)


def ui_stop_command(args: argparse.Namespace) -> int:
    """Stop the UI that `rnnlab ui` started: every process of its group."""
    if not args.pid_file.is_file():
        raise CommandError(f"no {args.pid_file}: no UI started by `make ui` is running")
    stop_group(int(args.pid_file.read_text()))
    args.pid_file.unlink(missing_ok=True)
    return 0


def server_command(args: argparse.Namespace) -> int:
    """Start or stop the team's tracking server (PostgreSQL + mlflow server with logins)."""
    server = Server(args.dir, args.host, args.port, args.pg_port)
    if args.action == "start":
        start_server(server, args.artifacts, args.workers)
        print(login_help(server))
    else:
        stop_server(server)
        print(f"stopped the tracking server in {args.dir}")
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    """Copy the runs of a local store into a tracking server."""
    for experiment, n in migrate(args.source, args.target).items():
        print(f"{experiment}: {n} runs copied")
    return 0


def remote_command(args: argparse.Namespace) -> int:
    """Restore from, or publish to, the team's DVC remote."""
    print(restore(args.on_error) if args.action == "restore" else push())
    return 0


def profile_command(args: argparse.Namespace) -> int:
    """`dvc exp run --all-pipelines` with the profile's params (its exit status)."""
    command = experiment_command(args.profile, args.root)
    if args.dry:
        print(" ".join(command))
        return 0
    return subprocess.run(command, check=False).returncode


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="rnnlab", description="Recurrent text classifiers: use the results.")
    commands = parser.add_subparsers(dest="command", required=True)
    checkpoint = {"type": Path, "help": "a checkpoint file (default: the stage's out in dvc.yaml)"}

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

    pid_file = {"type": Path, "default": Path(".rnnlab/ui.pid"), "help": "where the UI's process group id is kept"}
    cmd = commands.add_parser("ui", help="the MLflow UI in the foreground; Ctrl-C or SIGTERM stops all of it")
    cmd.add_argument("--backend-store-uri", default="sqlite:///mlflow.db")
    cmd.add_argument("--host", default="127.0.0.1")
    cmd.add_argument("--port", type=int, default=5000)
    cmd.add_argument("--pid-file", **pid_file)
    cmd.set_defaults(func=ui_command)
    cmd = commands.add_parser("profile", help="run every pipeline with a budget profile's params, as a DVC experiment")
    cmd.add_argument("profile", type=Path, help="a profile: params file -> `dotted.key: value` lines (profiles/gpu.yaml)")
    cmd.add_argument("--root", type=Path, default=Path("."), help="the repository the profile's params files are in")
    cmd.add_argument("--dry", action="store_true", help="print the dvc command instead of running it")
    cmd.set_defaults(func=profile_command)

    cmd = commands.add_parser("ui-stop", help="stop the UI started by `rnnlab ui` (from another shell)")
    cmd.add_argument("--pid-file", **pid_file)
    cmd.set_defaults(func=ui_stop_command)

    cmd = commands.add_parser("server", help="the team's MLflow tracking server: PostgreSQL, logins, served artifacts")
    cmd.add_argument("action", choices=["start", "stop"])
    cmd.add_argument("--dir", type=Path, default=Path(".rnnlab/server"), help="data, artifacts, logs, credentials")
    cmd.add_argument("--host", default="127.0.0.1", help="the address to listen on (0.0.0.0 for a team)")
    cmd.add_argument("--port", type=int, default=5001)
    cmd.add_argument("--pg-port", type=int, default=5433, help="PostgreSQL's port, on 127.0.0.1")
    cmd.add_argument("--workers", type=int, default=2, help="mlflow server's worker processes")
    cmd.add_argument("--artifacts", default="", help="where the server stores artifacts (default: DIR/artifacts; "
                                                     "s3://bucket/path with dvc-s3's boto3 credentials)")
    cmd.set_defaults(func=server_command)
    cmd = commands.add_parser("migrate", help="copy the runs of one MLflow store into another")
    cmd.add_argument("--source", default="sqlite:///mlflow.db")
    cmd.add_argument("--target", required=True, help="e.g. http://127.0.0.1:5001 (MLFLOW_TRACKING_USERNAME/PASSWORD)")
    cmd.set_defaults(func=migrate_command)
    cmd = commands.add_parser("remote", help="the team's DVC remote: restore before dvc repro, push after")
    cmd.add_argument("action", choices=["restore", "push"])
    cmd.add_argument("--on-error", choices=["fail", "warn"], default="fail",
                     help="restore: stop on an unreachable remote, or warn and let dvc repro train locally")
    cmd.set_defaults(func=remote_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rnnlab` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (CommandError, FileNotFoundError, KeyError, ValueError, RemoteError, ServerError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        hint = " (train it with `dvc repro`)" if isinstance(err, FileNotFoundError) else ""
        print(f"rnnlab: error: {message}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
