"""The registry of convolution algorithms: the one place that names them.

Each backend is a package under :mod:`npconv.ops.backends` listed in
:data:`BACKENDS` (one line per backend). It provides:

- ``ALGORITHMS``: a tuple of :class:`Algorithm`, each for one pass;
- ``default(pass_, spec)``: the algorithm it would run for this spec, or None
  when it cannot run it (the next backend is then asked);
- ``available()``: ``(True, path)`` or ``(False, reason)``.

:func:`choose` picks, for a pass and a :class:`~npconv.ops.spec.ConvSpec`, the
forced algorithm if one is set and applies, else the selected backend's
default (falling back to numpy), and caches the choice per spec.

``set_algorithm('im2col')`` forces an algorithm in the current thread (or
asyncio task) only: the setting lives in a ``contextvars.ContextVar``, so other
threads keep the automatic choice. ``record()`` collects, in the current
thread, ``(pass, algorithm)`` for every call the seam runs.
"""

from __future__ import annotations

import contextvars
import importlib
import os
import threading
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from typing import NamedTuple

__all__ = [
    "BACKENDS",
    "Algorithm",
    "algorithms",
    "choose",
    "clear_cache",
    "fallback",
    "first_applying",
    "get_algorithm",
    "markdown_table",
    "names",
    "record",
    "set_algorithm",
]

# name -> module; the order is the order of preference when a backend declines a spec.
BACKENDS = {
    "onednn": "npconv.ops.backends.onednn",
    "numpy": "npconv.ops.backends.numpy",
}


class Algorithm(NamedTuple):
    """One way to run one pass of one op.

    Args:
        name: unique across backends within a pass, e.g. ``"im2col"``.
        backend: the backend's name.
        pass_: a convolution's ``"forward"``, ``"input_grad"`` or ``"kernel_grad"``,
            or another op family's pass (named ``"<family>_<pass>"``, e.g. ``"pool_forward"``).
        applies: ``applies(spec) -> bool``.
        run: the kernel. forward: ``run(spec, x, kernel, bias, keep) -> y``;
            input_grad: ``run(spec, dy, kernel) -> dx``; kernel_grad:
            ``run(spec, x, dy, kept) -> (dkernel, dbias or None)``.
        fuses: whether ``run`` adds the bias and applies ``spec.activation`` itself.
        summary: one line for the docs table.
    """

    name: str
    backend: str
    pass_: str
    applies: Callable
    run: Callable
    fuses: bool = False
    summary: str = ""


_modules: dict = {}


def backend_module(name: str):
    """The backend's module, imported on first use."""
    module = _modules.get(name)
    if module is None:
        module = _modules[name] = importlib.import_module(BACKENDS[name])
    return module


def algorithms(backend: str | None = None) -> tuple:
    """Every registered :class:`Algorithm` (of one backend, if named)."""
    found = []
    for name in BACKENDS if backend is None else (backend,):
        found.extend(backend_module(name).ALGORITHMS)
    return tuple(found)


def names() -> tuple:
    """Every algorithm name, without repeats."""
    return tuple(dict.fromkeys(a.name for a in algorithms()))


_FROM_ENVIRONMENT = object()  # the default: NPCONV_ALGORITHM, read on first use
_forced: contextvars.ContextVar = contextvars.ContextVar("npconv_algorithm", default=_FROM_ENVIRONMENT)
_environment: list = []
_recording: contextvars.ContextVar = contextvars.ContextVar("npconv_recording", default=None)


def _invalid(value):
    return ValueError(
        f"Invalid value for argument `algorithm`. Expected None or one of {list(names())}. Received: algorithm={value!r}"
    )


class set_algorithm:
    """Force an algorithm wherever it applies, in the current thread only
    (``None`` restores the automatic choice).

    Works as a call, ``set_algorithm('im2col')``, or as a context manager,
    ``with set_algorithm('im2col'): ...``, which restores the previous setting
    on exit. Other threads are not affected.

    Args:
        algorithm: an algorithm name (see :func:`names`) or None.
    """

    def __init__(self, algorithm: str | None):
        if algorithm is not None and algorithm not in names():
            raise _invalid(algorithm)
        self._token = _forced.set(algorithm)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _forced.reset(self._token)
        return False


def get_algorithm() -> str | None:
    """The algorithm forced in this thread, or None when each call picks its own."""
    forced = _forced.get()
    if forced is _FROM_ENVIRONMENT:
        if not _environment:
            _environment.append(_read_environment())
        forced = _environment[0]
    return forced


@contextmanager
def record():
    """Collect ``(pass, algorithm)`` for every seam call inside the block (this thread)."""
    previous, seen = _recording.get(), []
    token = _recording.set(seen)
    try:
        yield seen
    finally:
        _recording.reset(token)
        if previous is not None:
            previous.extend(seen)


def note(pass_: str, name: str) -> None:
    seen = _recording.get()
    if seen is not None:
        seen.append((pass_, name))


_cache: dict = {}
_CACHE_LIMIT = 4096
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every cached choice."""
    with _lock:
        _cache.clear()


def choose(pass_: str, spec, backend: str) -> Algorithm:
    """The algorithm that runs ``pass_`` of ``spec`` when ``backend`` is selected."""
    forced = _forced.get()
    if forced is _FROM_ENVIRONMENT:
        forced = get_algorithm()
    if forced is not None:
        for algorithm in algorithms():
            if algorithm.name == forced and algorithm.pass_ == pass_ and _applies(algorithm, spec):
                return algorithm
    key = (pass_, spec, backend)
    algorithm = _cache.get(key)
    if algorithm is None:
        algorithm = _default(pass_, spec, backend)
        with _lock:
            if len(_cache) >= _CACHE_LIMIT:
                _cache.clear()
            _cache[key] = algorithm
    return algorithm


def fallback(pass_: str, spec) -> Algorithm:
    """The numpy algorithm for a spec another backend refused; remembered for this spec."""
    algorithm = backend_module("numpy").default(pass_, spec)
    with _lock:
        for name in BACKENDS:
            if (pass_, spec, name) in _cache:
                _cache[pass_, spec, name] = algorithm
    return algorithm


def _applies(algorithm, spec) -> bool:
    module = backend_module(algorithm.backend)
    return module.available()[0] and algorithm.applies(spec)


def _default(pass_, spec, backend):
    order = [backend] + [name for name in BACKENDS if name != backend and name == "numpy"]
    for name in order:
        module = backend_module(name)
        if not module.available()[0]:
            continue
        algorithm = module.default(pass_, spec)
        if algorithm is not None:
            return algorithm
    raise RuntimeError(f"No backend can run the {pass_} pass of {spec}.")  # numpy runs every spec


def first_applying(candidates, pass_: str, spec) -> Algorithm | None:
    """The first of ``candidates`` for ``pass_`` that applies to ``spec``, or None."""
    for algorithm in candidates:
        if algorithm.pass_ == pass_ and algorithm.applies(spec):
            return algorithm
    return None


def markdown_table() -> str:
    """The table of every algorithm in docs/performance.md, generated from the registry."""
    rows = ["| backend | pass | algorithm | where and how |", "|---|---|---|---|"]
    for algorithm in algorithms():
        rows.append(f"| {algorithm.backend} | {algorithm.pass_} | `{algorithm.name}` | {algorithm.summary} |")
    return "\n".join(rows)


def _read_environment():
    value = os.environ.get("NPCONV_ALGORITHM", "").strip()
    if not value or value.lower() in ("auto", "none"):
        return None
    if value not in names():
        warnings.warn(f"Ignoring NPCONV_ALGORITHM={value!r}: expected one of {list(names())}.", stacklevel=2)
        return None
    return value


if __name__ == "__main__":  # python -m npconv.ops.registry: the docs table
    print(markdown_table())
