"""The library's import graph: layers import downwards only, no study imports another, no cycles, and no module
fills another module's table when it is imported (what a stage may load never depends on what ran first)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.test_pipeline_deps import LIBRARY, imported_modules

# Lowest first; a module may import its own group and any lower layer. A study is a group of its own, so no
# study imports another; what several share is `rnnlab.studies.shared`, one layer below them.
LAYERS = [
    {"rnnlab"},
    {"params", "process"},
    {"config"},
    {"data"},
    {"text"},
    {"models"},
    {"training", "cluster"},
    {"classifiers"},
    {"serving", "team", "profiles"},
    {"studies", "studies.shared"},
    {"studies.chars", "studies.imdb", "studies.pretraining", "studies.tagger", "studies.tune", "studies.zoo"},
    {"cli"},
]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(LIBRARY).with_suffix("").parts).removesuffix(".__init__")


MODULES = {module_name(path): path for path in sorted((LIBRARY / "rnnlab").rglob("*.py"))}
# a module's own packages are initialised before it whatever it imports, so they are not edges of its choosing
IMPORTS = {name: {m for m in imported_modules(path) if m in MODULES and m != name and not name.startswith(f"{m}.")}
           for name, path in MODULES.items()}


def group(module: str) -> str:
    """`rnnlab.training.loop` -> training; `rnnlab.studies.zoo.zoo` -> studies.zoo; `rnnlab` -> rnnlab."""
    parts = module.split(".")[1:]
    if not parts:
        return "rnnlab"
    return ".".join(parts[:2]) if parts[0] == "studies" and len(parts) > 1 else parts[0]


def layer(module: str) -> int:
    found = [i for i, groups in enumerate(LAYERS) if group(module) in groups]
    assert found, f"{module}: group {group(module)!r} is in no layer of tests/unit/test_layers.py"
    return found[0]


def test_every_module_is_in_a_layer():
    assert all(layer(name) >= 0 for name in MODULES)
    assert {"rnnlab.studies.zoo.zoo", "rnnlab.classifiers.ngram", "rnnlab.studies.shared"} <= set(MODULES)


def test_imports_go_down_the_layers_and_never_across_studies():
    upward = sorted(f"{a} -> {b}" for a, targets in IMPORTS.items() for b in targets
                    if layer(b) > layer(a) or (layer(b) == layer(a) and group(b) != group(a) and group(b) != "rnnlab"))
    assert not upward, "imports up the layers or across groups:\n" + "\n".join(upward)


def test_no_library_layer_imports_a_study():
    below = [name for name in MODULES if layer(name) < layer("rnnlab.studies.shared")]
    assert not sorted(f"{a} -> {b}" for a in below for b in IMPORTS[a] if group(b).startswith("studies"))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` (node -> the nodes it imports), as the path that closes it, or None."""
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target, [*path, target])):
                return cycle
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name, [name])):
            return cycle
    return None


def test_the_import_graph_has_no_cycles():
    assert find_cycle(IMPORTS) is None, "import cycle: " + " -> ".join(find_cycle(IMPORTS))


def test_the_cycle_check_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def foreign_writes(tree: ast.Module) -> list[str]:
    """Module-level statements that change a name the module imported from rnnlab: `X[k] = v`, `X.update(...)`,
    a call of an imported function (`register_choices(...)`)."""
    imported = {alias.asname or alias.name.split(".")[0] for node in tree.body
                if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names
                if (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0] == "rnnlab"}
    found = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AugAssign) else []
        for target in targets:
            while isinstance(target, ast.Subscript | ast.Attribute):
                target = target.value
                if isinstance(target, ast.Name) and target.id in imported:
                    found.append(ast.unparse(node))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            owner = func.value if isinstance(func, ast.Attribute) else func
            if isinstance(owner, ast.Name) and owner.id in imported:
                found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_fills_another_modules_table_on_import(name):
    assert not foreign_writes(ast.parse(MODULES[name].read_text(encoding="utf-8")))


def test_the_write_check_finds_the_old_registry_writes():
    tree = ast.parse("from rnnlab.config import SECTIONS, register_choices\nfrom rnnlab.training import checkpoint\n"
                     "SECTIONS['zoo'] = object\nregister_choices('cell', {})\ncheckpoint.KINDS['x'] = 1\nLOCAL = {}\n"
                     "LOCAL['a'] = 1\n")
    assert foreign_writes(tree) == ["SECTIONS['zoo'] = object", "register_choices('cell', {})",
                                    "checkpoint.KINDS['x'] = 1"]


def test_every_checkpoint_kind_names_the_model_kind_that_rebuilds_it():
    from rnnlab.training.checkpoint import KINDS, ModelKind, model_kind

    assert {"classifier", "attention_classifier", "subword_classifier", "awd_lm", "tagger", "lemmatizer"} <= set(KINDS)
    assert all(isinstance(model_kind(kind), ModelKind) for kind in KINDS)
