"""dvc.yaml lists, for every stage, exactly the library modules its script imports, and only params it loads.

A missing module is a wrong result (an edit that changes a stage's output would not rerun it); a spurious
one is wasted hours (an edit that cannot change it would). Both are derived here from the code itself.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "src"
PIPELINES = [ROOT / "dvc.yaml", *sorted(ROOT.glob("studies/*/dvc.yaml"))]  # the main pipeline and the studies
STAGES = {name: stage for path in PIPELINES
          for name, stage in YAML(typ="safe").load(path.read_text(encoding="utf-8"))["stages"].items()}


def module_file(name: str) -> Path | None:
    """The file of module `rnnlab...` (a package's __init__.py), None if `name` is no module."""
    base = LIBRARY.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(path: Path) -> set[str]:
    """The rnnlab modules a file imports anywhere in it, each with the packages above it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] == "rnnlab" and module_file(name):
                parts = name.split(".")
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


def import_closure(script: Path) -> set[Path]:
    """Every library file that running `script` imports."""
    seen: set[str] = set()
    todo = list(imported_modules(script))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(imported_modules(module_file(name)))
    return {module_file(name) for name in seen}


def stage_script(definition: dict) -> Path:
    match = re.match(r"python (\S+\.py)", definition["cmd"])
    assert match, f"stage command does not run a stage script: {definition['cmd']}"
    return ROOT / match.group(1)


def definitions() -> list[tuple[str, dict]]:
    return [(name, stage.get("do", stage)) for name, stage in STAGES.items()]


@pytest.mark.parametrize(("name", "definition"), definitions(), ids=[name for name, _ in definitions()])
def test_stage_lists_exactly_the_library_modules_it_imports(name, definition):
    script = stage_script(definition)
    expected = sorted(str(p.relative_to(ROOT)) for p in import_closure(script))
    listed = sorted(d for d in definition["deps"] if d.startswith("src/"))
    missing, spurious = sorted(set(expected) - set(listed)), sorted(set(listed) - set(expected))
    assert not missing and not spurious, (
        f"dvc.yaml stage {name}: missing deps {missing}, spurious deps {spurious}; it imports:\n      - "
        + "\n      - ".join(expected))
    assert str(script.relative_to(ROOT)) in definition["deps"], f"{name}: its script is not a dep"


PIPELINE_PARAMS = "params.yaml"  # the main pipeline's, which `--pipeline-params` names in a study's stage


def params_file(script: Path, cmd: str) -> str:
    """The file a stage's `--params` names: on its command line, else the script's default (params.yaml, or its
    study's studies/<study>/params.yaml)."""
    if named := re.search(r"--params (\S+)", cmd):
        return named[1]
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args and getattr(node.args[0], "value", None) == "--params":
            return next(k.value.value for k in node.keywords if k.arg == "default")
    raise AssertionError(f"{script}: no --params argument")


def stage_loads(definition: dict) -> list[tuple[str, str, str]]:
    """What a stage's script loads: (params file, key as dvc.yaml spells it, the type's source) for every
    `load_section(args.params | args.pipeline_params, KEY, TYPE)`; `load_models`: every classifier's section."""
    script = stage_script(definition)
    loads = []
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "load_models":
            loads += [(PIPELINE_PARAMS, "train", "dict[str, ModelConfig]"),
                      (PIPELINE_PARAMS, "train_subword", "dict[str, SubwordEntry]")]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "load_section":
            path, key, tp = node.args
            if isinstance(key, ast.JoinedStr):  # f"train.{args.name}", f"train.{cfg.model}"
                key = "".join(v.value if isinstance(v, ast.Constant) else template_field(v.value) for v in key.values)
            elif isinstance(key, ast.Attribute):  # args.section: the key the command line names
                key = re.search(rf"--{key.attr} (\S+)", definition["cmd"])[1]
            else:
                key = key.value
            loads.append((PIPELINE_PARAMS if path.attr == "pipeline_params" else params_file(script, definition["cmd"]),
                          key, ast.unparse(tp)))
    return loads


@pytest.mark.parametrize(("name", "definition"), definitions(), ids=[name for name, _ in definitions()])
def test_stage_lists_exactly_the_params_it_loads(name, definition):
    """The keys a stage script loads, from the file it loads them from, are the params dvc.yaml lists."""
    loaded = {(path, key) for path, key, _ in stage_loads(definition)}
    assert loaded == listed_params(definition), f"{name}: loads {sorted(loaded)}"


@pytest.mark.parametrize(("name", "definition"), definitions(), ids=[name for name, _ in definitions()])
def test_an_entry_is_required_from_the_file_its_section_loads_from(name, definition):
    """`require_entry(args.X, "train", ...)` reads the file the stage loads `train.<entry>` from (a study stage's
    `train` is in the main pipeline's params, --pipeline-params, not its own)."""
    tree = ast.parse(stage_script(definition).read_text(encoding="utf-8"))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    for check in (c for c in calls if c.func.id == "require_entry"):
        section = check.args[1].value
        loads = [c for c in calls if c.func.id == "load_section" and ast.unparse(c.args[1]).lstrip("f").strip("'\"")
                 .startswith(f"{section}.")]
        assert loads, f"{name}: requires a `{section}` entry it never loads"
        assert {ast.unparse(c.args[0]) for c in loads} == {ast.unparse(check.args[0])}, (
            f"{name}: require_entry reads {ast.unparse(check.args[0])}, the entry loads from "
            f"{sorted({ast.unparse(c.args[0]) for c in loads})}")


def template_field(node: ast.expr) -> str:
    """How dvc.yaml spells a value the code reads: `args.name` is a foreach stage's key, `<section>.<field>` a field
    of its item or of a params section (`${item.model}`, `${tune.model}`), compared by the field's name (a plain
    variable's name: `model = load_section(..., "tune.model")`)."""
    if ast.unparse(node) == "args.name":
        return "${key}"
    return f"${{*.{node.attr if isinstance(node, ast.Attribute) else node.id}}}"


def listed_params(definition: dict) -> set[tuple[str, str]]:
    """The (params file, key) pairs dvc.yaml lists for a stage, any `${<section>.<field>}` read as `${*.<field>}`."""
    pairs = set()
    for entry in definition.get("params", []):
        for path, keys in (entry.items() if isinstance(entry, dict) else [(PIPELINE_PARAMS, [entry])]):
            pairs |= {(path, re.sub(r"\$\{[\w.]+\.(\w+)\}", r"${*.\1}", key)) for key in keys}
    return pairs


def test_the_import_closure_follows_imports_inside_packages(tmp_path):
    """The closure holds the package __init__ files and what imported modules import in turn."""
    script = tmp_path / "stage.py"
    script.write_text("from rnnlab.training.checkpoint import load_checkpoint\n", encoding="utf-8")
    closure = {str(p.relative_to(LIBRARY)) for p in import_closure(script)}
    assert {"rnnlab/__init__.py", "rnnlab/training/__init__.py", "rnnlab/training/checkpoint.py",
            "rnnlab/models/classifier.py", "rnnlab/config.py"} <= closure
    assert "rnnlab/serving/review.py" not in closure


@pytest.mark.parametrize(("name", "definition"), definitions(), ids=[name for name, _ in definitions()])
def test_stage_loads_the_committed_params(name, definition):
    """Every section a stage loads, as its script loads it (its type, from its own imports), loads from the
    committed params files: the config test's keys come from the stages themselves. Run in a fresh interpreter
    with only the script's imports, so no load depends on what another module imported first."""
    script = stage_script(definition)
    imports = [ast.unparse(node) for node in ast.parse(script.read_text(encoding="utf-8")).body
               if isinstance(node, ast.Import | ast.ImportFrom)]
    key_name, item = next(iter(definition_items(name).items()), ("", {}))
    loads = []
    for path, key, tp in stage_loads(definition):
        key = re.sub(r"\$\{\*\.(\w+)\}", lambda m: str(template_value(m[1], item, definition)), key.replace("${key}", key_name))
        loads.append(f"load_section({str(ROOT / path)!r}, {key!r}, {tp})")
    code = "\n".join([*imports, "from rnnlab.config import *", "from rnnlab.params import *", "from rnnlab.classifiers.ngram import SubwordEntry", *loads])
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def template_value(field: str, item: dict, definition: dict):
    """The value of a template's field: the foreach item's, else the one params section listing it."""
    if field in item:
        return item[field]
    for entry in definition.get("params", []):
        for path, keys in (entry.items() if isinstance(entry, dict) else [(PIPELINE_PARAMS, [entry])]):
            for key in keys:
                if "$" not in key:
                    value = resolve(key, path)
                    if key.endswith(f".{field}"):  # tune.model
                        return value
                    if isinstance(value, dict) and field in value:  # tune, whose field model
                        return value[field]
    raise AssertionError(f"no params key holds {field!r}")


def resolve(dotted: str, path: str):
    """The value at `dotted` of a params file."""
    node = YAML(typ="safe").load((ROOT / path).read_text(encoding="utf-8"))
    for part in dotted.split("."):
        node = node[part]
    return node


def definition_items(name: str) -> dict[str, dict]:
    """The foreach items of a stage by key (`train` -> the model entries in params.yaml), none for a plain stage."""
    source = STAGES[name].get("foreach")
    if source is None:
        return {}
    return dict(resolve(source.strip("${} "), PIPELINE_PARAMS))


@pytest.mark.parametrize("path", PIPELINES[1:], ids=[p.parent.name for p in PIPELINES[1:]])
def test_a_study_runs_its_stages_from_the_repository_root(path):
    """Paths in a study's dvc.yaml read as in the main one, and the stage scripts' defaults (params.yaml) hold."""
    stages = YAML(typ="safe").load(path.read_text(encoding="utf-8"))["stages"]
    assert {name: stage.get("wdir") for name, stage in stages.items()} == dict.fromkeys(stages, "../..")
