"""Fetch corpus files from a mirror or their public URL, verifying sha256."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import BinaryIO

from rnnlab import UserError
from rnnlab.data.corpora import Corpus
from rnnlab.data.files import CHUNK, atomic_dir, atomic_path, sha256_file

MIRROR_HINT = (
    "set RNNLAB_MIRROR to a folder laid out <corpus>/<file> (e.g. RNNLAB_MIRROR=../shared/datasets) "
    "or to an http(s) base URL with the same layout"
)


class DownloadError(UserError, RuntimeError):
    """A corpus file could not be fetched or failed its checksum."""


def source_of(corpus: Corpus, file: str, mirror: str | None) -> str:
    """Where a file comes from: the mirror when one is set, else its public URL."""
    if not mirror:
        return corpus.url(file)
    if mirror.startswith(("http://", "https://")):
        return f"{mirror.rstrip('/')}/{corpus.name}/{file}"
    return str(Path(mirror) / corpus.name / file)


def _open(source: str) -> BinaryIO:
    if source.startswith(("http://", "https://")):
        try:
            return urllib.request.urlopen(source, timeout=60)  # noqa: S310 (URLs come from the registry)
        except (urllib.error.URLError, OSError) as err:
            raise DownloadError(f"could not fetch {source}: {err}; to work offline, {MIRROR_HINT}") from err
    try:
        return Path(source).open("rb")
    except FileNotFoundError as err:
        raise DownloadError(f"mirror file missing: {source}; {MIRROR_HINT}") from err


def fetch_file(corpus: Corpus, file: str, dest: Path, mirror: str | None) -> Path:
    """Copy one file to `dest`, verifying its sha256; nothing is left behind on failure."""
    expected = corpus.files[file]
    if dest.exists() and sha256_file(dest) == expected:
        return dest
    source = source_of(corpus, file, mirror)
    digest = hashlib.sha256()
    with atomic_path(dest) as tmp, _open(source) as src, tmp.open("wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.close()
        if digest.hexdigest() != expected:
            raise DownloadError(
                f"checksum mismatch for {corpus.name}/{file} from {source}: "
                f"expected sha256 {expected}, got {digest.hexdigest()}"
            )
    return dest


def fetch_corpus(corpus: Corpus, out_dir: Path, mirror: str | None) -> list[Path]:
    """Fetch every file of `corpus` into `out_dir/<corpus>/`."""
    return [fetch_file(corpus, file, out_dir / corpus.name / file, mirror) for file in corpus.files]


def unpack_nltk_stopwords(zip_path: Path, nltk_dir: Path) -> Path:
    """Unpack the NLTK stopwords zip as `<nltk_dir>/corpora/stopwords`, not writable by others."""
    with atomic_dir(nltk_dir) as tmp:
        corpora = tmp / "corpora"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(corpora)
        for path in [tmp, *tmp.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o022)  # NLTK refuses data others can write to
    return nltk_dir / "corpora" / "stopwords"

