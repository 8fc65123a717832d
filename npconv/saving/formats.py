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
    """``.keras`` writes Keras 3's archive; ``.npconv`` npconv's own."""
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
    """A model from ``.keras``, legacy ``.h5`` or ``.npconv`` (see the module docstring)."""
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
    """``.weights.h5`` (or sharded ``.weights.json``) in Keras 3's layout; other paths npconv's ``.npz``."""
    path = _path(filepath)
    if path is None:
        return native.save_weights(model, filepath)
    if path.endswith(_KERAS_WEIGHTS) or max_shard_size is not None:
        return _keras().save_weights(model, path, max_shard_size=max_shard_size)
    return native.save_weights(model, path)


def load_weights(model, filepath):
    """Weights from ``.weights.h5``, ``.weights.json`` (sharded), ``.keras``, or npconv's ``.npz``."""
    path = _path(filepath)
    if path is None:
        return native.load_weights(model, filepath)
    if path.endswith(_KERAS_WEIGHTS + (".keras", ".h5", ".hdf5")):
        return _keras().load_weights(model, path)
    return native.load_weights(model, path)
