"""Fetching corpus files from a mirror (folder or http) with sha256 checks, and the corpus registry."""

import functools
import hashlib
import http.server
import os
import re
import stat
import threading
import zipfile
from pathlib import Path

import nltk
import pytest

from rnnlab.data.corpora import CORPORA, Corpus, get_corpus
from rnnlab.data.download import (
    DownloadError,
    fetch_corpus,
    source_of,
    unpack_nltk_stopwords,
)
from rnnlab.data.files import sha256_file
from rnnlab.text.tokenizer import load_stopwords

FILES = {"train.csv": b"label,text\npositive,\xd0\xb4\xd0\xb0\n", "README.md": b"# toy corpus\n" * 50}
CLOSED_URL = "http://127.0.0.1:9"  # discard port: closed on loopback, so nothing leaves the machine


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def toy_corpus(files: dict[str, bytes] = FILES, base_url: str = CLOSED_URL, **wrong: str) -> Corpus:
    """A corpus whose registry hashes are those of `files`, except the ones given in `wrong`."""
    return Corpus("toy", base_url, {name: wrong.get(name, sha(data)) for name, data in files.items()}, "test")


@pytest.fixture
def mirror(tmp_path) -> Path:
    """A folder laid out <corpus>/<file>."""
    root = tmp_path / "mirror"
    (root / "toy").mkdir(parents=True)
    for name, data in FILES.items():
        (root / "toy" / name).write_bytes(data)
    return root


def all_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_sha256_file_matches_hashlib(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)  # spans several read chunks
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == sha(data)


def test_fetch_copies_and_verifies(tmp_path, mirror):
    out = tmp_path / "raw"
    paths = fetch_corpus(toy_corpus(), out, str(mirror))
    assert paths == [out / "toy" / name for name in FILES]
    for name, data in FILES.items():
        assert (out / "toy" / name).read_bytes() == data
    assert all_files(out) == sorted(paths)  # no temporaries left beside them


def test_present_correct_file_is_not_fetched_again(tmp_path, mirror):
    out = tmp_path / "raw"
    fetch_corpus(toy_corpus(), out, str(mirror))
    inode = (out / "toy" / "train.csv").stat().st_ino
    for path in (mirror / "toy").iterdir():
        path.unlink()
    fetch_corpus(toy_corpus(), out, str(mirror))  # would raise if it read the mirror
    assert (out / "toy" / "train.csv").stat().st_ino == inode
    assert (out / "toy" / "train.csv").read_bytes() == FILES["train.csv"]


def test_present_corrupt_file_is_replaced(tmp_path, mirror):
    out = tmp_path / "raw"
    (out / "toy").mkdir(parents=True)
    (out / "toy" / "train.csv").write_bytes(b"truncated")
    fetch_corpus(toy_corpus(), out, str(mirror))
    assert (out / "toy" / "train.csv").read_bytes() == FILES["train.csv"]


def test_checksum_mismatch_raises_and_leaves_nothing(tmp_path, mirror):
    out = tmp_path / "raw"
    wrong = "0" * 64
    corpus = toy_corpus(**{"train.csv": wrong})
    with pytest.raises(DownloadError) as err:
        fetch_corpus(corpus, out, str(mirror))
    message = str(err.value)
    assert "train.csv" in message
    assert wrong in message
    assert sha(FILES["train.csv"]) in message
    assert all_files(out) == []


def test_checksum_mismatch_of_later_file_keeps_earlier_good_file(tmp_path, mirror):
    out = tmp_path / "raw"
    corpus = toy_corpus(**{"README.md": "f" * 64})
    with pytest.raises(DownloadError, match="README.md"):
        fetch_corpus(corpus, out, str(mirror))
    assert all_files(out) == [out / "toy" / "train.csv"]


def test_missing_mirror_file_names_path_and_hint(tmp_path, mirror):
    (mirror / "toy" / "README.md").unlink()
    out = tmp_path / "raw"
    with pytest.raises(DownloadError) as err:
        fetch_corpus(toy_corpus(), out, str(mirror))
    message = str(err.value)
    assert str(mirror / "toy" / "README.md") in message
    assert "RNNLAB_MIRROR" in message
    assert not (out / "toy" / "README.md").exists()
    assert [p.name for p in all_files(out)] == ["train.csv"]


def test_unreachable_url_without_mirror_names_url_and_hint(tmp_path):
    corpus = Corpus("toy", CLOSED_URL, {"x": sha(b"x")}, "test")
    out = tmp_path / "raw"
    with pytest.raises(DownloadError) as err:
        fetch_corpus(corpus, out, None)
    message = str(err.value)
    assert f"{CLOSED_URL}/x" in message
    assert "RNNLAB_MIRROR" in message
    assert all_files(out) == []


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def http_mirror(mirror):
    """The mirror folder served on 127.0.0.1 at a free port; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_http_mirror(tmp_path, http_mirror):
    out = tmp_path / "raw"
    fetch_corpus(toy_corpus(), out, http_mirror)
    for name, data in FILES.items():
        assert (out / "toy" / name).read_bytes() == data


def test_http_mirror_missing_file_raises(tmp_path, mirror, http_mirror):
    (mirror / "toy" / "train.csv").unlink()
    out = tmp_path / "raw"
    with pytest.raises(DownloadError) as err:
        fetch_corpus(toy_corpus(), out, http_mirror)
    assert f"{http_mirror}toy/train.csv" in str(err.value)
    assert all_files(out) == []


@pytest.mark.parametrize(
    ("mirror", "expected"),
    [
        (None, f"{CLOSED_URL}/a.csv"),
        ("", f"{CLOSED_URL}/a.csv"),
        ("http://host:8000", "http://host:8000/toy/a.csv"),
        ("https://host/data/", "https://host/data/toy/a.csv"),
        ("/srv/mirror", "/srv/mirror/toy/a.csv"),
        ("../shared/datasets", "../shared/datasets/toy/a.csv"),
    ],
)
def test_source_of(mirror, expected):
    corpus = Corpus("toy", CLOSED_URL, {"a.csv": "0" * 64}, "test")
    assert source_of(corpus, "a.csv", mirror) == expected


def test_rusentiment_licence_lives_at_repo_root():
    corpus = CORPORA["rusentiment"]
    assert corpus.base_url.endswith("/Dataset")
    assert corpus.url("LICENSE.md") == corpus.base_url.removesuffix("/Dataset") + "/LICENSE.md"
    assert corpus.url("rusentiment_test.csv") == corpus.base_url + "/rusentiment_test.csv"


def test_get_corpus_unknown_name_lists_known():
    assert get_corpus("names") is CORPORA["names"]
    with pytest.raises(KeyError, match="rusentiment"):
        get_corpus("no-such-corpus")


def write_stopwords_zip(path: Path, words: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("stopwords/", "")
        archive.writestr("stopwords/russian", "\n".join(words) + "\n")
        archive.writestr("stopwords/README", "toy stopwords\n")
    return path


def test_unpack_nltk_stopwords_is_private_and_readable(tmp_path, monkeypatch):
    zip_path = write_stopwords_zip(tmp_path / "stopwords.zip", ["и", "в", "не"])
    nltk_dir = tmp_path / "nltk_data"
    old_umask = os.umask(0)  # extracted files would be group/other-writable without the chmod
    try:
        folder = unpack_nltk_stopwords(zip_path, nltk_dir)
    finally:
        os.umask(old_umask)
    assert folder == nltk_dir / "corpora" / "stopwords"
    assert (folder / "russian").read_text(encoding="utf-8").split() == ["и", "в", "не"]
    for path in [nltk_dir, *nltk_dir.rglob("*")]:
        assert not stat.S_IMODE(path.stat().st_mode) & 0o022, path
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    assert load_stopwords(nltk_dir, keep_negations=False) == {"и", "в", "не"}


def test_unpack_nltk_stopwords_replaces_previous_folder(tmp_path):
    nltk_dir = tmp_path / "nltk_data"
    (nltk_dir / "corpora" / "stopwords").mkdir(parents=True)
    (nltk_dir / "corpora" / "stopwords" / "stale").write_text("old", encoding="utf-8")
    folder = unpack_nltk_stopwords(write_stopwords_zip(tmp_path / "s.zip", ["а"]), nltk_dir)
    assert sorted(p.name for p in folder.iterdir()) == ["README", "russian"]


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_registry_hashes_are_sha256(name):
    corpus = CORPORA[name]
    assert corpus.name == name
    assert corpus.files
    for file, digest in corpus.files.items():
        assert re.fullmatch(r"[0-9a-f]{64}", digest), f"{name}/{file}: {digest!r}"


def test_registry_matches_mirror_checksums():
    mirror = os.environ.get("RNNLAB_MIRROR")
    if not mirror or not (Path(mirror) / "SHA256SUMS").is_file():
        pytest.skip("RNNLAB_MIRROR is not set to a mirror folder with SHA256SUMS")
    sums = {}
    for line in (Path(mirror) / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, path = line.split(maxsplit=1)
            sums[path.strip().removeprefix("./")] = digest
    for corpus in CORPORA.values():
        for file, digest in corpus.files.items():
            assert sums.get(f"{corpus.name}/{file}") == digest, f"{corpus.name}/{file}"
