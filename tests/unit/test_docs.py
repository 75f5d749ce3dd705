"""The documentation: the MkDocs site builds in strict mode with the reports the stages write included, and the
README stays a five-minute read whose links all lead somewhere."""

import html
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MKDOCS = Path(sys.executable).parent / "mkdocs"
INCLUDE = re.compile(r'^\s*--8<--\s+"([^"]+)"\s*$', re.MULTILINE)
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def snapshot() -> tuple[set[str], set[str]]:
    """The repository root's entries and every file under docs/: what a build could leave behind in the checkout."""
    return ({p.name for p in ROOT.iterdir()},
            {str(p.relative_to(DOCS)) for p in DOCS.rglob("*") if "__pycache__" not in p.parts})  # the hook's bytecode


def included_reports() -> dict[str, list[str]]:
    """Each docs page's included files (`--8<-- "path"`, relative to the repository root), by page."""
    pages = {}
    for page in sorted(DOCS.rglob("*.md")):
        pages[str(page.relative_to(DOCS))] = INCLUDE.findall(page.read_text(encoding="utf-8"))
    return pages


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`mkdocs build --strict` of the repository into a temporary folder: its exit status, log and site folder."""
    out = tmp_path_factory.mktemp("docs") / "site"
    before = snapshot()
    proc = subprocess.run([str(MKDOCS), "build", "--strict", "--site-dir", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONDONTWRITEBYTECODE="1"))
    return proc, out, before, snapshot()


def test_the_site_builds_in_strict_mode(site):
    proc, out, _, _ = site
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "index.html").is_file()


def test_the_build_writes_nothing_into_the_checkout(site):
    _, _, (root_before, docs_before), (root_after, docs_after) = site
    assert root_after - root_before == set()
    assert docs_after == docs_before


def test_every_page_is_in_the_nav(site):
    proc, _, _, _ = site
    assert "not included in the \"nav\" configuration" not in proc.stdout + proc.stderr


def headings(path: Path) -> set[str]:
    """The text of every markdown heading line of a file."""
    return {line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")}


def test_a_study_page_holds_the_headings_of_the_report_it_includes(site):
    _, out, _, _ = site
    assert "reports/zoo.md" in included_reports()["studies/zoo.md"]
    from_report = headings(ROOT / "reports/zoo.md") - headings(DOCS / "studies/zoo.md")  # only the include brings these
    assert from_report
    page = (out / "studies/zoo/index.html").read_text(encoding="utf-8")
    for heading in from_report:
        assert re.search(rf'<h\d id="[^"]*">{re.escape(html.escape(heading, quote=False))}<a class="headerlink"', page), heading


def test_every_study_page_includes_a_report_that_exists():
    pages = included_reports()
    studies = [page for page in pages if page.startswith("studies/")]
    assert len(studies) == 6
    for page in studies:
        assert pages[page], f"docs/{page} includes no report"
        for path in pages[page]:
            assert (ROOT / path).is_file(), f"docs/{page} includes {path}, which does not exist"


def test_the_figures_of_included_reports_are_published_where_their_pages_link_them(site):
    _, out, _, _ = site
    linked = 0
    for page in out.rglob("index.html"):
        for src in re.findall(r'<img[^>]* src="([^"]+)"', page.read_text(encoding="utf-8")):
            if not re.match(r"[a-z]+:|/", src):
                assert (page.parent / src).resolve().is_file(), f"{page.relative_to(out)}: {src} is not in the site"
                linked += 1
    figures = {url for paths in included_reports().values() for path in paths if path.endswith(".md")
               for url in IMAGE.findall((ROOT / path).read_text(encoding="utf-8"))}
    assert figures and linked >= len(figures)  # every included report's figure shows on its page


def test_an_include_of_a_missing_file_fails_naming_the_page_and_the_file():
    hooks = load_hooks()
    page = SimpleNamespace(file=SimpleNamespace(src_uri="studies/zoo.md"))
    config = {"config_file_path": str(ROOT / "mkdocs.yml")}
    with pytest.raises(hooks.PluginError, match=r"studies/zoo.md: includes reports/nothing.md, which does not exist"):
        hooks.on_page_markdown('--8<-- "reports/nothing.md"\n', page, config, None)
    text = hooks.on_page_markdown('x\n--8<-- "reports/zoo.md"\n', page, config, None)
    assert "](../reports/zoo/variants.png)" in text and "--8<--" not in text


def load_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks" / "reports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_results_table_is_metrics_test_json():
    """The README's table holds metrics/test.json's numbers, every model of it once."""
    rows = re.findall(r"^\| `(\w+)` \| ([0-9.]+) \| ([0-9.]+) \|$", README.read_text(encoding="utf-8"), re.MULTILINE)
    metrics = json.loads((ROOT / "metrics" / "test.json").read_text(encoding="utf-8"))
    assert sorted(name for name, _, _ in rows) == sorted(metrics)
    for name, macro_f1, accuracy in rows:
        assert (macro_f1, accuracy) == (f"{metrics[name]['macro_f1']:.4f}", f"{metrics[name]['accuracy']:.4f}"), name


def test_the_readme_is_a_five_minute_read():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 260


def test_the_readme_opens_with_exactly_the_two_commands():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.split("#")[0].strip()]
    assert commands == ["make run", "make test"]
    assert text.index(block.group(0)) < text.index("\n## ")  # before the first section


def test_every_relative_link_of_the_readme_leads_to_a_file_or_folder():
    text = re.sub(r"^```.*?^```", "", README.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans hold no links
    targets = [url for url in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:|#", url)]
    assert len(targets) >= 10  # the results' sources, the docs pages, the screenshot
    missing = [url for url in targets if not (ROOT / url.split("#")[0]).exists()]
    assert missing == []
