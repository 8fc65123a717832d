"""npconv: Keras's convolution layers and the conv nets built from them, in Python.

``import npconv as keras`` runs Keras convolution code with the same shapes,
the same weight layouts and the same numbers. Submodules that a model does not
need at import time (training, saving, explain) load on first use, so
``import npconv`` stays about as cheap as ``import numpy``.
"""

import importlib

from . import activations, constraints, geometry, initializers, layers, models, ops, regularizers
from ._version import __version__  # noqa: F401
from .layers import Input, InputLayer
from .models import Model, Sequential

_LAZY = {
    "callbacks",
    "datasets",
    "explain",
    "losses",
    "metrics",
    "optimizers",
    "saving",
    "translate",
    "utils",
}


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'npconv' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _LAZY)


__all__ = [
    "activations",
    "constraints",
    "geometry",
    "initializers",
    "layers",
    "models",
    "ops",
    "regularizers",
    "Input",
    "InputLayer",
    "Model",
    "Sequential",
    *sorted(_LAZY),
]
