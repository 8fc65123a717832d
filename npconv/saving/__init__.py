"""Saving and loading: npconv's own zip format (:mod:`.native`), Keras's ``.keras``,
legacy ``.h5`` and ``.weights.h5`` files (:mod:`.keras_archive`), and the atomic file
writes every writer in the package goes through (:mod:`.atomic`)."""

from . import formats as _formats
from .atomic import atomic_path, atomic_write
from .native import *  # noqa: F401,F403
from .native import __all__ as _native_all

# The extension picks the format: .keras / .h5 / .weights.h5 / .weights.json are Keras's.
load_model, save_model = _formats.load_model, _formats.save_model
load_weights, save_weights = _formats.load_weights, _formats.save_weights

__all__ = ["atomic_path", "atomic_write", *_native_all]
