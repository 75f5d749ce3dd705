"""The preprocess stage's work: texts to space-joined normal forms, over worker processes, with a lemma cache."""

from __future__ import annotations

import gc
import multiprocessing
import pickle
import signal
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from rnnlab.config import TextConfig
from rnnlab.process import die_with_parent
from rnnlab.text.lemmas import NORMALIZERS, read_lemma_cache, write_lemma_cache
from rnnlab.text.tokenizer import END_OF_TEXT, tokenize_texts

# With fewer texts than this per worker, one process: a worker costs a process start and a dictionary load.
MIN_TEXTS_FOR_WORKERS = 2_000


def _tokens(texts: list[str], cfg: TextConfig, drop: frozenset[str]) -> list[str]:
    """`tokenize_texts` without the stopwords in `drop`."""
    tokens = tokenize_texts(texts, cfg)
    return [token for token in tokens if token not in drop] if drop else tokens


def _forms(tokens: Iterable[str], normalize: str) -> dict[str, str]:
    """Each distinct token's normal form."""
    fn = NORMALIZERS[normalize]
    # In sorted order, consecutive words share the dictionary's paths, so fewer memory reads miss the cache.
    return {token: fn(token) for token in sorted(tokens)}


def _joined(tokens: list[str], forms: dict[str, str]) -> list[str]:
    """Each text's normal forms joined by spaces, from `tokenize_texts` tokens; forms hold no spaces or NULs."""
    return [doc.strip(" ") for doc in " ".join(map(forms.get, tokens, tokens)).split(END_OF_TEXT)]  # NUL maps to itself


def preprocess_texts(
    texts: Iterable[str], cfg: TextConfig, stopwords: frozenset[str], cache: Path | None = None, workers: int = 1
) -> list[str]:
    """Each text's tokens, without stopwords, lemmatised or stemmed, joined by spaces as the stage writes them.

    Each distinct token is lemmatised once. With `workers` > 1 the texts are split between worker
    processes, which tokenize their shares, then lemmatise a share of all distinct tokens each.
    With a lemma `cache` file, tokens lemmatised by an earlier run are looked up instead of parsed,
    and the new ones are added to the file.
    """
    texts = list(texts)
    if not texts:
        return []
    drop = stopwords if cfg.remove_stopwords else frozenset()
    cache = cache if cfg.normalize == "lemma" else None
    known = read_lemma_cache(cache) if cache else {}
    workers = max(1, min(workers, len(texts) // MIN_TEXTS_FOR_WORKERS))
    with _gc_paused():
        if workers > 1:
            docs, new = _preprocess_in_workers(texts, cfg, drop, known, workers)
            known.update(new)
        else:
            tokens = _tokens(texts, cfg, drop)
            new = _forms(set(tokens).difference(known, (END_OF_TEXT,)), cfg.normalize)
            known.update(new)
            docs = _joined(tokens, known)
    if cache and new:
        write_lemma_cache(cache, known)
    return docs


def _preprocess_in_workers(
    texts: list[str], cfg: TextConfig, drop: frozenset[str], known: dict[str, str], workers: int
) -> tuple[list[str], dict[str, str]]:
    """`preprocess_texts` over worker processes; returns the documents and the forms not in `known`.

    Each worker tokenizes its share of the texts and sends its new tokens. Then it loads pymorphy3,
    lemmatises its share of all new tokens, sends those forms, which are passed on to the others as
    they came, unread, and joins its texts' forms.
    """
    size = -(-len(texts) // workers)
    pipes, procs, found = [], [], []  # found: each worker's forms, pickled
    try:
        for start in range(0, len(texts), size):
            here, there = multiprocessing.Pipe()
            proc = multiprocessing.Process(target=_worker, args=(there, texts[start : start + size], cfg, drop, known))
            proc.start()
            there.close()  # the worker's end: once the worker exits, reading `here` fails instead of waiting
            pipes.append(here)
            procs.append(proc)
        distinct = list(set().union(*map(_receive, pipes)))
        for k, pipe in enumerate(pipes):
            pipe.send((distinct[k :: len(pipes)], len(pipes) - 1))
        for pipe in pipes:
            found.append(pipe.recv_bytes())
        for k, pipe in enumerate(pipes):
            for forms in found[:k] + found[k + 1 :]:
                pipe.send_bytes(forms)
        new = {}
        for forms in found:
            new.update(_unpickled(forms))
        return [doc for pipe in pipes for doc in _receive(pipe)], new
    except BaseException as err:
        for proc in procs:
            proc.kill()  # it may be waiting for a message that will not come
        if isinstance(err, EOFError | OSError):  # a pipe whose worker is gone
            raise _sent_error(pipes, found) from err
        raise
    finally:
        for proc in procs:
            proc.join()


def _worker(pipe, texts: list[str], cfg: TextConfig, drop: frozenset[str], known: dict[str, str]) -> None:
    """One worker of `_preprocess_in_workers`; an error is sent back to be raised there, not printed here."""
    # it holds both ends of its pipe, so a dead parent is no EOF to it: the kernel must stop it
    die_with_parent(signal.SIGKILL, multiprocessing.parent_process().pid)
    gc.disable()  # a short-lived process whose token lists hold no cycles
    try:
        tokens = _tokens(texts, cfg, drop)
        new = set(tokens).difference(known, (END_OF_TEXT,))
        pipe.send(new)
        if new:  # then there are tokens to lemmatise: load pymorphy3 while the other workers finish tokenizing
            NORMALIZERS[cfg.normalize]("а")
        share, others = pipe.recv()
        forms = _forms(share, cfg.normalize)
        pipe.send(forms)
        known.update(forms)
        for _ in range(others):
            known.update(pipe.recv())
        pipe.send(_joined(tokens, known))
    except BaseException as err:
        pipe.send(_WorkerError(f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


class _WorkerError(RuntimeError):
    """An error raised in a preprocessing worker, with its traceback."""


def _sent_error(pipes: list, found: list[bytes]) -> _WorkerError:
    """The error that a worker sent before it exited, if one did, else one saying that a worker is gone."""
    for pipe in pipes:
        with suppress(EOFError, OSError):
            while pipe.poll():
                found.append(pipe.recv_bytes())
    errors = [message for message in map(pickle.loads, found) if isinstance(message, _WorkerError)]
    return errors[0] if errors else _WorkerError("a preprocessing worker exited without an answer (killed, or out of memory?)")


def _receive(pipe):
    """The next message from a worker, raising the error it sent."""
    return _unpickled(pipe.recv_bytes())


def _unpickled(data: bytes):
    """A worker's message, raising the error it sent."""
    message = pickle.loads(data)
    if isinstance(message, _WorkerError):
        raise message
    return message


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: the token lists hold no cycles, yet as they pile up each
    collection would walk them all again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
