"""Every public class and function has a Keras-style docstring.

The public API is each module below: the names in its ``__all__``, or, where it
has none, the classes and functions it defines or re-exports from its own
submodules (names without a leading underscore). Each must have a docstring of
its own whose first line is a one-line summary and, where it takes arguments
(a class: its constructor's), an ``Args:`` section with an entry for each one.
Every public method of those classes has a docstring too, its own or the one it
overrides (``help()`` shows the inherited one).
``*args`` and ``**kwargs`` need no entry, and neither do a layer's base
arguments (``name``, ``dtype``, ``trainable``, ...): :class:`npconv.layers.Layer`
documents them once, and every layer passes them on to it.
"""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

from npconv.layers import Layer

PUBLIC_MODULES = (
    "npconv",
    "npconv.activations",
    "npconv.callbacks",
    "npconv.config",
    "npconv.constraints",
    "npconv.distributed",
    "npconv.explain",
    "npconv.geometry",
    "npconv.initializers",
    "npconv.layers",
    "npconv.losses",
    "npconv.metrics",
    "npconv.models",
    "npconv.ops",
    "npconv.optimizers",
    "npconv.optimizers.schedules",
    "npconv.regularizers",
    "npconv.saving",
    "npconv.translate",
)

# Modules whose docstrings are being rewritten on other branches at the same time.
# TEMPORARY: empty this set once those branches are merged; the
# test then covers them like every other module.
SKIP_UNTIL_MERGED = set()


def _exported(module):
    """{public name: object} for one module: classes and functions only."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    found = {}
    for name in names:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        home = getattr(obj, "__module__", "") or ""
        if getattr(module, "__all__", None) is None and not (
            home == module.__name__ or home.startswith(module.__name__ + ".")
        ):
            continue  # imported for the module's own use, not exported
        found[name] = obj
    return found


def public_objects():
    """[(qualified name, object)], each object once."""
    seen, out = set(), []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name, obj in _exported(module).items():
            if id(obj) in seen or not (obj.__module__ or "").startswith("npconv"):
                continue
            seen.add(id(obj))
            out.append((f"{module_name}.{name}", obj))
    return out


def _own_doc(obj):
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    return inspect.cleandoc(doc) if doc else ""


def _names(obj):
    signature = inspect.signature(obj)
    return [
        p.name
        for p in signature.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in ("self", "cls")
    ]


def parameters(obj):
    """The names a docstring's Args: must list (no self, no *args/**kwargs, no base layer arguments)."""
    names = _names(obj)
    if inspect.isclass(obj) and issubclass(obj, Layer) and obj is not Layer:
        base = set(_names(Layer))
        names = [name for name in names if name not in base]
    return names


def args_section(doc):
    """The entry names in the docstring's ``Args:`` section (None when it has none)."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "Args:":
            indent = len(line) - len(line.lstrip())
            names = []
            for entry in lines[i + 1 :]:
                if entry.strip() and len(entry) - len(entry.lstrip()) <= indent:
                    break
                # one name, or several sharing one description ("beta_initializer, gamma_initializer: ...")
                match = re.match(r"\s*((?:\**\w+, )*\**\w+)(?: \([^)]*\))?:", entry)
                if match and len(entry) - len(entry.lstrip()) == indent + 4:
                    names.extend(name.strip().lstrip("*") for name in match.group(1).split(","))
            return names
    return None


def problems(name, obj):
    """What is missing from one object's docstring."""
    doc = _own_doc(obj)
    if not doc or not doc.splitlines()[0].strip():
        return [f"{name}: no docstring with a one-line summary"]
    expected = parameters(obj)
    if not expected:
        return []
    listed = args_section(doc)
    if listed is None:
        return [f"{name}: no Args: section for {expected}"]
    missing = [p for p in expected if p not in listed]
    return [f"{name}: Args: does not list {missing}"] if missing else []


def test_args_section_reads_keras_style_entries():
    doc = "Summary.\n\nArgs:\n    filters: how many.\n    kernel_size (int): the size,\n        wrapped: not an entry.\n\nReturns:\n    x: not an arg."
    assert args_section(doc) == ["filters", "kernel_size"]
    assert args_section("Summary only.") is None


def test_the_walk_covers_the_public_api():
    names = {name for name, _ in public_objects()}
    assert {"npconv.Model", "npconv.layers.Conv2D", "npconv.ops.conv", "npconv.saving.load_model"} <= names
    assert "npconv.layers.invalid" not in names  # imported for the module's own use


def test_the_check_finds_what_is_missing():
    def documented(filters, kernel_size, **kwargs):
        """Summary.

        Args:
            filters: how many.
            kernel_size: how big.
        """

    def half(filters, kernel_size):
        """Summary.

        Args:
            filters: how many.
        """

    class Plain(Layer):
        """A layer whose only arguments are the base ones."""

    class Own(Layer):
        """No Args: section."""

        def __init__(self, rate, name=None):
            super().__init__(name=name)

    assert problems("documented", documented) == []
    assert problems("half", half) == ["half: Args: does not list ['kernel_size']"]
    assert problems("Plain", Plain) == []
    assert problems("Own", Own) == ["Own: no Args: section for ['rate']"]
    assert problems("bare", lambda x: x) == ["bare: no docstring with a one-line summary"]


@pytest.mark.parametrize(
    "name, obj",
    [
        pytest.param(
            n,
            o,
            id=n,
            marks=[pytest.mark.skip(reason="docstrings rewritten on another branch")]
            if o.__module__ in SKIP_UNTIL_MERGED
            else [],
        )
        for n, o in public_objects()
    ],
)
def test_public_docstring(name, obj):
    assert not problems(name, obj), problems(name, obj)


def undocumented_methods():
    """``class.method`` for each public method with no docstring, own or inherited."""
    missing = []
    for name, cls in public_objects():
        if not inspect.isclass(cls):
            continue
        for attribute in dir(cls):
            method = getattr(cls, attribute)
            if attribute.startswith("_") or not (inspect.isfunction(method) or inspect.ismethod(method)):
                continue
            owner = next(c for c in cls.__mro__ if attribute in vars(c))
            if owner.__module__.startswith("npconv") and owner.__module__ not in SKIP_UNTIL_MERGED:
                if not inspect.getdoc(method):
                    missing.append(f"{name}.{attribute}")
    return missing


def test_public_methods_have_docstrings():
    assert not undocumented_methods()
