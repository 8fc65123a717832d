"""Which backend runs npconv's kernels, in the style of ``keras.config``.

The environment variable ``NPCONV_BACKEND`` (``numpy`` or ``onednn``) chooses
before the first kernel call. Unset, npconv runs oneDNN where its library can
be loaded and NumPy everywhere else. Asking for ``onednn`` by name where the
library cannot be loaded is an error that says why. Whatever the backend, a
call oneDNN cannot run (float64, for one) runs on NumPy.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from ._version import __version__
from .ops.registry import backend_module

__all__ = ["BACKEND_NAMES", "backend", "info", "set_backend"]

BACKEND_NAMES = ("numpy", "onednn")

_selected: list = []  # [name] once resolved
_lock = threading.Lock()


def _check(name, argument):
    if name not in BACKEND_NAMES:
        raise ValueError(
            f"Invalid value for {argument}. Expected one of {list(BACKEND_NAMES)}. Received: {argument}={name!r}"
        )


def _resolve(requested: str | None, argument: str) -> str:
    if requested is None:
        return "onednn" if backend_module("onednn").available()[0] else "numpy"
    _check(requested, argument)
    if requested == "onednn":
        ok, detail = backend_module("onednn").available()
        if not ok:
            raise RuntimeError(
                f"{argument}='onednn' was requested but oneDNN cannot be loaded: {detail}. "
                "Install the `onednn-cpu-gomp` wheel (Linux x86-64), set NPCONV_ONEDNN_LIBRARY to the path "
                "of libdnnl.so.3, or choose 'numpy'."
            )
    return requested


def backend() -> str:
    """The selected backend: ``"onednn"`` or ``"numpy"``.

    Resolved on the first call from ``NPCONV_BACKEND`` (or, unset, from
    whether oneDNN loads), then fixed until :func:`set_backend`.
    """
    if _selected:
        return _selected[0]
    with _lock:
        if not _selected:
            requested = os.environ.get("NPCONV_BACKEND", "").strip().lower() or None
            _selected.append(_resolve(requested, "NPCONV_BACKEND"))
    return _selected[0]


def set_backend(name: str | None) -> str:
    """Select the backend for every later kernel call, in every thread.

    Args:
        name: ``"numpy"``, ``"onednn"``, or None for the default choice.

    Returns:
        The backend now selected.
    """
    resolved = _resolve(name, "name")
    with _lock:
        _selected[:] = [resolved]
    return resolved


def info() -> dict:
    """What runs npconv's kernels here, as plain values (``npconv info`` prints it).

    Returns:
        A dict with the versions of npconv and NumPy, the selected backend (or
        the error selecting it raised), oneDNN's library path and version (or
        why it cannot load), the CPU ISA oneDNN detected, and the OpenMP
        thread count with the environment variables that set it.
    """
    # reason: import time, ~20 ms: the oneDNN bindings (ctypes) load on first use, not on `import npconv`
    from .ops.backends.onednn import ONE_THREAD_MACS
    from .ops.backends.onednn import library as onednn_library

    try:
        selected = backend()
    except RuntimeError as error:
        selected = f"error: {error}"
    library, detail = onednn_library.load()
    result = {
        "npconv": __version__,
        "numpy": np.__version__,
        "backend": selected,
        "onednn library": detail if library is not None else None,
        "onednn unavailable because": None if library is not None else detail,
    }
    if library is not None:
        result["onednn version"] = library.version()
        result["cpu isa"] = library.cpu_isa()
        result["threads"] = library.threads
        result["one thread up to"] = f"{ONE_THREAD_MACS} multiply-adds per call"
    for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY"):
        result[name] = os.environ.get(name)
    return result
