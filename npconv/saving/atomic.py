"""Atomic file writes: a write that fails or is killed leaves the old file as it was.

Every file npconv writes (models, weights, checkpoints, pictures, pages, batch
outputs) goes through :func:`atomic_write`: the bytes go to a temporary file in
the target's own directory, are flushed and fsynced, and only then replace the
target with ``os.replace``, which is atomic on POSIX and Windows.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", encoding: str | None = None):
    """Open a temporary file beside ``path``; on a clean exit, move it into place.

    On any exception the temporary file is removed and ``path`` is untouched.
    ``mode`` is ``"wb"`` or ``"w"`` (text, ``encoding`` defaults to UTF-8).

    Example:
        >>> with atomic_write("model.npconv") as file:  # doctest: +SKIP
        ...     file.write(data)
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"Invalid value for argument `mode`. Expected 'wb' or 'w'. Received: mode={mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot write {path!r}: it is a directory. Give a file path.")
    descriptor, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(descriptor, mode, encoding=(encoding or "utf-8") if mode == "w" else None) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual default
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
