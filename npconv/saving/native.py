"""Saving and loading models, with no code execution on load.

Two formats, both plain zip archives that any tool can open:

- weights (``save_weights``): an ``.npz`` file. ``manifest`` holds UTF-8 JSON
  listing each weight's name, shape and dtype in ``get_weights()`` order, and
  ``w0``, ``w1``, ... hold the arrays.
- whole model (``save``, extension ``.npconv``): a zip with ``config.json``
  (``model.get_config()``), ``metadata.json`` (format version) and
  ``model.weights.npz`` (the weights file above). The layout follows Keras's
  ``.keras`` archive (config.json, metadata.json, model.weights.h5), so reading
  Keras's own files later only changes the weights member.

Loading uses ``np.load(allow_pickle=False)`` and builds layers only from
npconv's own class registry and activation names. Every array is read and
checked before any weight changes, so a corrupt or truncated file leaves the
model as it was.
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

FORMAT_VERSION = 1

__all__ = ["FORMAT_VERSION", "save_weights", "load_weights", "save_model", "load_model"]


def _reject_keras_paths(path):
    if str(path).endswith((".keras", ".h5")):
        raise ValueError(
            f"Invalid value for argument `filepath`. npconv does not read or write Keras's own "
            f".keras/.h5 files yet. Received: filepath={str(path)!r}. Use a '.npconv' path for "
            f"a whole model, or '.weights.npz' for weights."
        )


def _weights_bytes(model):
    weights = model.weights
    manifest = [{"name": w.name, "shape": list(w.shape), "dtype": w.dtype.name} for w in weights]
    arrays = {f"w{i}": w.value for i, w in enumerate(weights)}
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _read_weights(source, path):
    """The weight arrays of a weights file, in order. Raises ValueError on any damage."""
    try:
        with np.load(source, allow_pickle=False) as archive:
            manifest = json.loads(bytes(archive["manifest"]).decode())
            arrays = [archive[f"w{i}"] for i in range(len(manifest))]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{str(path)!r} is not a readable npconv weights file ({type(error).__name__}: {error}). "
            f"It may be truncated or corrupt; the model's weights were not changed."
        ) from None
    for entry, array in zip(manifest, arrays):
        if list(array.shape) != entry["shape"]:
            raise ValueError(
                f"{str(path)!r} is damaged: weight {entry['name']!r} should have shape "
                f"{entry['shape']} but holds {list(array.shape)}. The model's weights were not changed."
            )
    return arrays


def save_weights(model, filepath):
    _reject_keras_paths(filepath)
    with open(filepath, "wb") as file:
        file.write(_weights_bytes(model))


def load_weights(model, filepath):
    _reject_keras_paths(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No weights file at {str(filepath)!r}.")
    model.set_weights(_read_weights(filepath, filepath))


def save_model(model, filepath):
    _reject_keras_paths(filepath)
    with zipfile.ZipFile(filepath, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps({"format": "npconv", "version": FORMAT_VERSION}))
        archive.writestr("config.json", json.dumps(model.get_config(), default=_json_default))
        archive.writestr("model.weights.npz", _weights_bytes(model))


def _json_default(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Cannot save {type(value).__name__} in a model config.")


def load_model(filepath):
    """A Sequential or Functional model from ``save``'s archive, weights included."""
    from ..models import Model, Sequential

    _reject_keras_paths(filepath)
    try:
        with zipfile.ZipFile(filepath) as archive:
            config = json.loads(archive.read("config.json"))
            weights = archive.read("model.weights.npz")
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ValueError(
            f"{str(filepath)!r} is not a readable npconv model file ({type(error).__name__}: {error})."
        ) from None
    functional = isinstance(config, dict) and "input_layers" in config
    model = (Model if functional else Sequential).from_config(config)
    arrays = _read_weights(io.BytesIO(weights), filepath)
    if not model.built:
        raise ValueError(f"{str(filepath)!r} holds a model with no input shape; it cannot be rebuilt.")
    model.set_weights(arrays)
    return model
