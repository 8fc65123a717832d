"""The file extension picks the format.

- ``.keras``: Keras 3's model archive (read and written, :mod:`.keras_archive`);
- ``.h5`` / ``.hdf5``: Keras's legacy model file (read only);
- ``.weights.h5``: Keras 3's weights file; ``.weights.json``: its sharded index;
- anything else: npconv's own format (:mod:`.native`).
"""

from __future__ import annotations

import os

from . import native

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]

_KERAS_WEIGHTS = (".weights.h5", ".weights.json")


def _path(filepath):
    """The path as a str, or None for a file object (which npconv's own format takes)."""
    if isinstance(filepath, (str, os.PathLike)):
        return os.fspath(filepath)
    return None


def _keras():
    """:mod:`.keras_archive`, imported on first use."""
    from . import keras_archive  # reason: import time, ~50 ms, only for Keras files

    return keras_archive


def save_model(model, filepath):
    """Write a whole model; the extension picks the format.

    Args:
        model: a built npconv model.
        filepath: a ``.keras`` path (Keras 3's archive, which Keras loads), any
            other path (npconv's own ``.npconv`` archive), or a binary file
            object (npconv's own). A legacy ``.h5`` path is refused.
    """
    path = _path(filepath)
    if path is None:
        return native.save_model(model, filepath)
    if path.endswith(".keras"):
        return _keras().save_model(model, path)
    if path.endswith((".h5", ".hdf5")):
        raise ValueError(
            f"Invalid value for argument `filepath`. npconv reads legacy .h5 model files but writes Keras 3's "
            f"'.keras' archive. Received: filepath={path!r}. Use a '.keras' path."
        )
    return native.save_model(model, path)


def load_model(filepath, custom_objects=None, compile=True):
    """Load a whole model; the extension picks the format (see the module docstring).

    Args:
        filepath: a ``.keras``, legacy ``.h5``/``.hdf5`` or ``.npconv`` file,
            or a binary file object holding an ``.npconv`` archive.
        custom_objects: optional dict of name -> class for your own classes in
            a Keras file; a file alone never brings in a class npconv lacks.
        compile: restore the saved compile settings and optimizer state.

    Returns:
        A Sequential or Functional model, built, with the file's weights.
    """
    path = _path(filepath)
    if path is None:
        return native.load_model(filepath, compile=compile)
    if path.endswith((".keras", ".h5", ".hdf5")) and not path.endswith(_KERAS_WEIGHTS):
        return _keras().load_model(path, custom_objects=custom_objects, compile=compile)
    if path.endswith(_KERAS_WEIGHTS):
        raise ValueError(
            f"Invalid value for argument `filepath`. {path!r} holds weights only; build the model, then call "
            f"model.load_weights({path!r})."
        )
    return native.load_model(path, compile=compile)


def save_weights(model, filepath, max_shard_size=None):
    """Write a model's weights; the extension picks the format.

    Args:
        model: a built npconv model.
        filepath: ``.weights.h5`` (Keras 3's layout), ``.weights.json`` (Keras
            3's sharded layout), or another path or binary file object
            (npconv's ``.weights.npz``).
        max_shard_size: in GB: write Keras 3's sharded layout, no shard larger
            than this.
    """
    path = _path(filepath)
    if path is None:
        return native.save_weights(model, filepath)
    if path.endswith(_KERAS_WEIGHTS) or max_shard_size is not None:
        return _keras().save_weights(model, path, max_shard_size=max_shard_size)
    return native.save_weights(model, path)


def load_weights(model, filepath):
    """Read weights into a built model; on any error the model keeps its weights.

    Args:
        model: the built npconv model to fill.
        filepath: ``.weights.h5``, ``.weights.json`` (sharded), ``.keras``,
            legacy ``.h5``, or npconv's ``.weights.npz`` / ``.npconv`` (a path
            or a binary file object).
    """
    path = _path(filepath)
    if path is None:
        return native.load_weights(model, filepath)
    if path.endswith(_KERAS_WEIGHTS + (".keras", ".h5", ".hdf5")):
        return _keras().load_weights(model, path)
    return native.load_weights(model, path)
