"""The package's imports: no cycles (counting imports made inside functions),
and every import inside a function states a reason that holds.

The checker reads the source with ``ast`` (nothing is imported), resolves
relative imports, and finds strongly connected components with Tarjan's
algorithm. ``from package import name`` counts as importing the submodule
``package.name`` when such a module exists, else the package itself.

An import inside a function carries ``# reason:`` on its line (or on comment
lines just above it; the imports right after it in the same block share it),
and the reason is one of:

- ``optional dependency``: the module is neither npconv's, nor the standard
  library's, nor one of the package's required dependencies;
- ``import time, ~N ms``: the import is deferred to save N measured
  milliseconds, so its target must not already be loaded whenever the importing
  module is (through module-level imports, its parent packages' included).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

PACKAGE = "npconv"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


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


def _targets(node, module, path):
    """The absolute names an import statement imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = _resolve(module, path, node.level, node.module)
    return [f"{base}.{alias.name}" for alias in node.names]


def _module_level(tree):
    """The import statements that run when the module loads (not those inside functions)."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            elif not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                stack.append(child)
    return found


def import_graph(modules, module_level_only=False):
    """{module: set of package modules it imports anywhere in its source (or at module level only)}."""
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        nodes = _module_level(tree) if module_level_only else ast.walk(tree)
        edges = set()
        for node in nodes:
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(node, module, path):
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
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in found)


# --------------------------------------------------------------------------
# imports inside functions
# --------------------------------------------------------------------------
REASON = re.compile(r"reason: (optional dependency|import time\b[^#]*?~\d+ ms)")
REQUIRED = {"numpy", "h5py"}  # [project] dependencies' import names (oneDNN is loaded through ctypes)


def function_imports(modules):
    """[(module, path, import node, reason text or None)] for every import inside a function."""
    found = []
    for module, path in modules.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for block in ast.walk(function):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    statements = getattr(block, field, None)
                    if isinstance(statements, list):
                        found.extend(_reasons(module, path, lines, statements))
    return found


def _reasons(module, path, lines, statements):
    """The imports among one block's statements, each with its reason (shared down a run of imports)."""
    out, shared = [], None
    for statement in statements:
        if not isinstance(statement, (ast.Import, ast.ImportFrom)):
            shared = None
            continue
        above, row = [], statement.lineno - 2
        while row >= 0 and lines[row].strip().startswith("#"):
            above.append(lines[row])
            row -= 1
        match = REASON.search(" ".join([lines[statement.lineno - 1], *above]))
        shared = match.group(0) if match else shared
        out.append((module, path, statement, shared))
    return out


def loaded_with(module, graph):
    """Every package module loaded whenever ``module`` is: module-level imports, parent packages included."""
    parts = module.split(".")
    stack = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    seen = set()
    while stack:
        name = stack.pop()
        if name in seen or name not in graph:
            continue
        seen.add(name)
        stack.extend(graph[name])
        parts = name.split(".")
        stack.extend(".".join(parts[:i]) for i in range(1, len(parts)))
    return seen


def reason_problems(modules, root=ROOT):
    """Each import inside a function with no reason, or with a reason that does not hold."""
    graph = import_graph(modules, module_level_only=True)
    loaded = {}
    problems = []
    for module, path, node, reason in function_imports(modules):
        where = f"{path.relative_to(root.parent)}:{node.lineno}"
        if reason is None:
            problems.append(f"{where}: no '# reason: import time, ~N ms' or '# reason: optional dependency'")
            continue
        for target in _targets(node, module, path):
            owner = _owner(target, modules)
            if reason.startswith("reason: optional dependency"):
                top = target.split(".")[0]
                if owner is not None or top in sys.stdlib_module_names or top in REQUIRED:
                    problems.append(f"{where}: {target} is not an optional dependency")
            elif owner is not None and owner in loaded.setdefault(module, loaded_with(module, graph)):
                problems.append(f"{where}: {owner} is already loaded with {module}, so deferring it saves no time")
    return problems


def test_reason_checker_refuses_missing_and_false_reasons(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("X = 1\n")
    (pkg / "b.py").write_text(
        "def f():\n"
        "    import json  # reason: optional dependency\n"
        "    from . import a  # reason: import time, ~5 ms\n"
        "    import dask  # reason: optional dependency (pkg[dask])\n"
        "    import dask.array\n"
        "    x = 1\n"
        "    import zarr\n"
        "    # reason: import time, ~9 ms, only here\n"
        "    from . import c\n"
    )
    (pkg / "c.py").write_text("Y = 2\n")
    problems = reason_problems(module_names(pkg, "pkg"), pkg)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "json is not an optional dependency",
        "pkg.a is already loaded with pkg.b, so deferring it saves no time",
        "no '# reason: import time, ~N ms' or '# reason: optional dependency'",
    ]
    assert [p.split(":")[1] for p in problems] == ["2", "3", "7"]


def test_every_import_inside_a_function_has_a_reason_that_holds():
    problems = reason_problems(module_names())
    assert not problems, "\n".join(problems)
