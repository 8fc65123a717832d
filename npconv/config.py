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

__all__ = ["BACKEND_NAMES", "backend", "set_backend"]

BACKEND_NAMES = ("numpy", "onednn")

_selected: list = []  # [name] once resolved
_lock = threading.Lock()


def _check(name, argument):
    if name not in BACKEND_NAMES:
        raise ValueError(
            f"Invalid value for {argument}. Expected one of {list(BACKEND_NAMES)}. Received: {argument}={name!r}"
        )


def _resolve(requested: str | None, argument: str) -> str:
    from .ops.registry import backend_module

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
