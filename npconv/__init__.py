"""npconv: Keras's convolution layers on NumPy alone.

``import npconv as keras`` runs Keras convolution code with the same shapes,
the same weights layout and the same numbers.
"""

from . import activations, constraints, geometry, initializers, layers, models, ops, regularizers
from .layers import Input, InputLayer
from .models import Sequential

__version__ = "0.1.0"

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
    "Sequential",
]
