"""Atomic file writes: a write that fails or is killed leaves the old file as it was.

Every file npconv writes (models, weights, checkpoints, pictures, pages, batch
outputs) goes through :func:`atomic_write` or :func:`atomic_path`: the bytes go
to a temporary file in the target's own directory, are flushed and fsynced, and
only then replace the target with ``os.replace``, which is atomic on POSIX and
Windows.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on a clean exit, fsync it and move it into place.

    For writers that need a path rather than an open file (``np.lib.format.open_memmap``,
    ``zipfile``). On any exception the temporary file is removed and ``path`` is untouched.

    Args:
        path: the file to write; a directory or a device is refused.

    Example:
        >>> with atomic_path("out.npy") as temporary:  # doctest: +SKIP
        ...     np.save(temporary, y)
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot write {path!r}: it is a directory. Give a file path.")
    if os.path.lexists(path) and not os.path.isfile(path):
        # a device, pipe or socket: replacing it would destroy it, not write to it
        raise ValueError(f"Cannot write {path!r}: it is not a regular file. Give a file path.")
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(descriptor)
    try:
        yield temporary
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual default
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", encoding: str | None = None):
    """Open a temporary file beside ``path``; on a clean exit, move it into place.

    On any exception the temporary file is removed and ``path`` is untouched.

    Args:
        path: the file to write; a directory or a device is refused.
        mode: ``"wb"`` (binary) or ``"w"`` (text).
        encoding: the text encoding for ``mode="w"`` (default UTF-8).

    Example:
        >>> with atomic_write("model.npconv") as file:  # doctest: +SKIP
        ...     file.write(data)
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"Invalid value for argument `mode`. Expected 'wb' or 'w'. Received: mode={mode!r}")
    with atomic_path(path) as temporary:
        with open(temporary, mode, encoding=(encoding or "utf-8") if mode == "w" else None) as file:
            yield file


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
