"""What a Keras file may hold, checked before anything is built: strict JSON
(:func:`parse_json`), and a config that names only npconv's own classes.

A Keras config is a JSON tree whose objects look like
``{"module": ..., "class_name": ..., "config": {...}, "registered_name": ...}``.
Keras resolves ``module`` by importing it, which is how crafted files ran code
(CVE-2025-1550) or reached Keras's own dangerous helpers (CVE-2025-8747,
CVE-2025-9906). npconv never imports anything named in a file. Every object in
the tree is checked against a closed list of ``(module, class_name)`` pairs built
from npconv's own classes, and is then built from npconv's own registries only.

Refused anywhere in a config, with the place and the reason:

- ``Lambda`` layers and ``__lambda__`` entries (Python bytecode, CVE-2024-3660);
- ``TFSMLayer`` (loads a SavedModel, CVE-2026-1462);
- any string that is a file path or URL, and any string under a key that names a
  file (``vocabulary``, ``filepath``, ``origin``...; CVE-2025-12058);
- any class that is not npconv's, unless the caller passed it in ``custom_objects``;
- a ``registered_name`` other than null or the class's own name (``"package>Name"``
  is how Keras names registered custom classes);
- Keras's own ``__numpy__``/``__bytes__``/``__typespec__`` encodings and any other
  ``__special__`` class name.
"""

from __future__ import annotations

import json
import re

from .. import activations, constraints, initializers, layers, losses, metrics, optimizers, regularizers
from ..optimizers import schedules

__all__ = ["RefusedFileError", "Problem", "parse_json", "find_problems", "check_config", "allowed_pairs"]


class RefusedFileError(ValueError):
    """A file npconv will not load, with every problem found (``problems``).

    The message names the file, the first problem's place in the file, and the
    reason. Nothing was loaded and no model was changed.
    """

    def __init__(self, problems, path=None):
        self.problems = list(problems)
        self.path = path
        where = f"{str(path)!r}" if path is not None else "the file"
        shown = "; ".join(str(p) for p in self.problems[:3])
        more = (
            f" (and {len(self.problems) - 3} more; `npconv inspect` lists them all)" if len(self.problems) > 3 else ""
        )
        super().__init__(f"Refused to load {where}: {shown}{more}. Nothing was loaded and no model was changed.")

    def with_path(self, path):
        return RefusedFileError(self.problems, path)


class Problem:
    """One refused thing: ``where`` (a place in the file) and ``reason``."""

    def __init__(self, where, reason):
        self.where, self.reason = where, reason

    def __str__(self):
        return f"{self.where}: {self.reason}" if self.where else self.reason

    def __repr__(self):
        return f"Problem({self.where!r}, {self.reason!r})"


def parse_json(data, label):
    """A JSON document from an untrusted file: strict JSON only.

    NaN and Infinity, a key given twice in one object and nesting too deep for
    the parser are refused, each as a :class:`RefusedFileError` naming ``label``.

    Args:
        data: the document's bytes (UTF-8).
        label: where the bytes come from, for messages (``"model.keras:config.json"``).

    Returns:
        The parsed value (dicts, lists, strings, numbers, booleans, None).
    """

    def pairs(items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            duplicate = next(k for k in keys if keys.count(k) > 1)
            raise RefusedFileError([Problem(label, f"the key {duplicate[:40]!r} appears twice in one JSON object")])
        return dict(items)

    def constant(name):
        raise RefusedFileError([Problem(label, f"{name} is not JSON")])

    try:
        text = bytes(data).decode("utf-8")
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except RefusedFileError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise RefusedFileError(
            [Problem(label, f"not valid JSON ({type(error).__name__}: {str(error)[:120]})")]
        ) from None


# Classes refused even when a caller lists them in custom_objects.
_NEVER = {
    "Lambda": "Lambda layers hold Python code (bytecode or a function reference) that would run on load",
    "TFSMLayer": "TFSMLayer loads a TensorFlow SavedModel from a path, which would run its graph",
    "__lambda__": "a serialized Python lambda (bytecode) would run on load",
}
_FILE_KEYS = {
    "vocabulary",
    "filepath",
    "file_path",
    "path",
    "fname",
    "origin",
    "cache_dir",
    "cache_subdir",
    "weights",
    "weights_path",
    "vocabulary_path",
    "call_endpoint",
}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//|\\\\)|^file:|^[A-Za-z]:[\\/]")
_KERAS_TENSOR = "__keras_tensor__"
_TUPLE = "__tuple__"


def _looks_like_path(text):
    return bool(_URL.search(text)) or "/" in text or "\\" in text or text.startswith("~") or text.startswith("..")


def allowed_pairs():
    """The closed set of ``(module, class_name)`` pairs a config may name (a frozenset)."""
    return _allowed()


_CACHE = {}


def _allowed():
    if "pairs" not in _CACHE:
        pairs = set()

        def add(module, names):
            pairs.update((module, name) for name in names if name not in _NEVER)

        add("keras.layers", layers._CLASSES)
        # Keras's bare operations and application-specific layers npconv rebuilds.
        pairs.update(key for key in layers.KERAS_OPERATIONS if key[1] not in _NEVER)
        add("keras", ("Sequential", "Functional", "Model", "DTypePolicy", "FloatDTypePolicy"))
        add("keras.src.models.functional", ("Functional",))
        add("keras.src.models.sequential", ("Sequential",))
        add("keras.src.models.model", ("Model",))
        add("keras.dtype_policies", ("DTypePolicy", "FloatDTypePolicy"))
        add("keras.initializers", initializers.ALL_OBJECTS_DICT)
        add("keras.regularizers", regularizers.ALL_OBJECTS_DICT)
        add("keras.constraints", constraints.ALL_OBJECTS_DICT)
        add("keras.optimizers", [cls.__name__ for cls in optimizers._CLASSES.values()])
        add("keras.optimizers.schedules", schedules._CLASSES)
        add("keras.losses", losses._CLASSES)
        add("keras.metrics", metrics._CLASSES)
        _CACHE["pairs"] = frozenset(pairs)
        _CACHE["names"] = frozenset(name for _, name in pairs)
    return _CACHE["pairs"]


def _names():
    _allowed()
    return _CACHE["names"]


def _function_names():
    if "functions" not in _CACHE:
        names = set(activations.ALL_OBJECTS_DICT) | set(losses._FUNCTIONS) | set(losses._ALIASES)
        names |= set(metrics._BY_NAME) | {"accuracy", "acc"}
        names |= {name for name in vars(metrics) if not name.startswith("_") and callable(getattr(metrics, name))}
        _CACHE["functions"] = frozenset(names)
    return _CACHE["functions"]


def find_problems(config, where="config", custom_objects=None):
    """Every refused thing in a config tree, as a list of :class:`Problem` (empty when safe).

    Args:
        config: the parsed JSON (dicts, lists, strings, numbers, None).
        where: the name of the tree's root, used in each problem's place.
        custom_objects: optional dict of name -> class the caller trusts.
    """
    problems = []
    _walk(config, where, custom_objects or {}, problems, key=None, depth=0)
    return problems


def check_config(config, where="config", custom_objects=None):
    """Raise :class:`RefusedFileError` listing every problem in ``config``; return None if safe."""
    problems = find_problems(config, where, custom_objects)
    if problems:
        raise RefusedFileError(problems)


_MAX_DEPTH = 200


def _walk(node, where, custom, problems, key, depth):
    if depth > _MAX_DEPTH:
        problems.append(Problem(where, f"the config nests deeper than {_MAX_DEPTH} levels"))
        return
    if isinstance(node, str):
        if key in _FILE_KEYS and node:
            problems.append(Problem(where, f"{key!r} names a file or URL ({node[:80]!r}); configs may not"))
        elif _looks_like_path(node):
            problems.append(Problem(where, f"a file path or URL ({node[:80]!r}) inside a config is refused"))
        return
    if isinstance(node, list):
        for i, item in enumerate(node):
            _walk(item, f"{where}[{i}]", custom, problems, key, depth + 1)
        return
    if not isinstance(node, dict):
        return
    if "class_name" in node:
        where = _check_object(node, where, custom, problems)
    for k, value in node.items():
        if not isinstance(k, str):
            continue
        if k == "__lambda__" or k == "function_type" and value == "lambda":
            problems.append(Problem(f"{where}.{k}", _NEVER["__lambda__"]))
            continue
        if k in ("module", "class_name", "registered_name") and "class_name" in node:
            continue
        if k == "function" and node.get("class_name") == "Lambda":
            continue  # already refused as a Lambda layer
        _walk(value, f"{where}.{k}", custom, problems, k, depth + 1)


def _check_object(node, where, custom, problems):
    class_name, module = node.get("class_name"), node.get("module")
    registered = node.get("registered_name")
    name = node.get("config", {}).get("name") if isinstance(node.get("config"), dict) else None
    label = f"{where} ({class_name}" + (f" '{name}'" if isinstance(name, str) else "") + ")"
    if not isinstance(class_name, str):
        problems.append(Problem(where, f"class_name must be a string, not {type(class_name).__name__}"))
        return where
    if class_name in _NEVER:
        problems.append(Problem(label, _NEVER[class_name]))
        return label
    if class_name in (_KERAS_TENSOR, _TUPLE) and module is None:
        return where
    if class_name.startswith("__"):
        problems.append(Problem(label, f"Keras's special encoding {class_name!r} is not accepted in a config"))
        return label
    if class_name in custom or (isinstance(registered, str) and registered in custom):
        return label
    if class_name == "function":
        if module not in (None, "builtins") and not str(module).startswith("keras."):
            problems.append(Problem(label, f"a function from module {module!r} would be imported"))
        elif registered not in (None, "function") and registered != node.get("config"):
            problems.append(Problem(label, f"registered_name {registered!r} names a custom function"))
        elif not isinstance(node.get("config"), str):
            problems.append(Problem(label, "a function entry must name a built-in function"))
        elif node["config"] not in custom and node["config"] not in _function_names():
            problems.append(
                Problem(label, f"function {node['config'][:60]!r} is not an npconv activation, loss or metric")
            )
        return label
    if registered is not None and registered != class_name:
        problems.append(
            Problem(
                label, f"registered_name {registered!r} names a custom class; pass it in custom_objects= to allow it"
            )
        )
        return label
    allowed = (module, class_name) in _allowed() if module is not None else class_name in _names()
    if not allowed:
        if class_name in _names():
            reason = f"module {module!r} is not where Keras keeps {class_name}; npconv imports no module"
        else:
            reason = (
                f"class {class_name!r} (module {module!r}) is not one npconv provides; a custom class "
                f"loads only when passed in custom_objects="
            )
        problems.append(Problem(label, reason))
    return label
