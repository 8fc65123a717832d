"""The package's import graph has no cycles, counting imports made inside functions.

The checker reads the source with ``ast`` (nothing is imported), resolves
relative imports, and finds strongly connected components with Tarjan's
algorithm. ``from package import name`` counts as importing the submodule
``package.name`` when such a module exists, else the package itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "npconv"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# Cycles through npconv.saving, left for the saving refactor to remove. Each entry is
# the one import (importer, imported) that closes them, with the cycles it closes;
# the checker ignores exactly these imports and nothing else.
KNOWN_SAVING_CYCLES = {
    ("npconv.saving.native", "npconv.models"): (
        "models <-> saving: Model.save and load_model call saving, whose .npconv loader rebuilds "
        "models; also models.training -> distributed -> saving (dask ships models as archives)"
    ),
    ("npconv.saving.keras_archive", "npconv.models"): "models <-> saving, as above, for .keras files",
    ("npconv.saving.keras_weights", "npconv.saving.keras_archive"): "keras_archive <-> keras_weights, inside saving",
}


def module_names(root=ROOT, package=PACKAGE):
    """{dotted module name: path} for every .py file of the package."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join([package, *parts])] = path
    return names


def _resolve(module, path, level, target):
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _owner(name, modules):
    """The longest known module that ``name`` is or lies inside, or None outside the package."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules):
    """{module: set of package modules it imports anywhere in its source}."""
    graph = {}
    for module, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, path, node.level, node.module)
                targets = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                owner = _owner(target, modules)
                if owner is not None and owner != module:
                    edges.add(owner)
        graph[module] = edges
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan), as frozensets."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_checker_finds_a_cycle_through_a_function_level_relative_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from . import c\n")
    graph = import_graph(module_names(pkg, "pkg"))
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert cycles(graph) == [frozenset({"pkg.a", "pkg.sub.b", "pkg.c"})]


def test_no_import_cycles():
    graph = import_graph(module_names())
    for importer, imported in KNOWN_SAVING_CYCLES:
        graph[importer].discard(imported)
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in found)
