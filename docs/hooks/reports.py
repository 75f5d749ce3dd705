"""MkDocs hook: a page includes a file the pipeline writes (`--8<-- "reports/zoo.md"`, a path from the repository
root), and the figures that file links are published beside it, so a report reads on its page as it does in the
repository. A missing file fails the build."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

INCLUDE = re.compile(r'^[ \t]*--8<--[ \t]+"([^"]+)"[ \t]*$', re.MULTILINE)
TARGET = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
ASSETS = ("reports", "benchmarks")  # folders whose figures included files link
SUFFIXES = {".png", ".svg", ".html", ".csv"}


def on_files(files: Files, config) -> Files:
    """Publish every figure under ASSETS at its repository path (`reports/zoo/variants.png`)."""
    root = Path(config["config_file_path"]).parent
    for folder in ASSETS:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in SUFFIXES and path.is_file():
                files.append(File(path.relative_to(root).as_posix(), str(root), config["site_dir"],
                                  config["use_directory_urls"]))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Each include line replaced by the file, its relative links made relative to the including page."""
    root = Path(config["config_file_path"]).parent

    def include(match: re.Match) -> str:
        name = match.group(1)
        path = root / name
        if not path.is_file():
            raise PluginError(f"{page.file.src_uri}: includes {name}, which does not exist (run its stage)")
        text = path.read_text(encoding="utf-8")
        if path.suffix != ".md":
            return text
        here, there = posixpath.dirname(page.file.src_uri), posixpath.dirname(name)
        return TARGET.sub(lambda m: m.group(1) + relink(m.group(2), there, here) + m.group(3), text)

    return INCLUDE.sub(include, markdown)


def relink(target: str, source_dir: str, page_dir: str) -> str:
    """A link written relative to the included file, rewritten relative to the page (URLs and anchors as they are)."""
    if re.match(r"[a-z][a-z0-9+.-]*:|#|/", target):
        return target
    return posixpath.relpath(posixpath.normpath(posixpath.join(source_dir, target)), page_dir or ".")
