"""InputLayer and Input: where a model learns its input shape."""

from __future__ import annotations

from ..arguments import invalid
from .base import Layer, standardize_dtype


def _standardize_shape(shape, name):
    try:
        shape = tuple(shape)
    except TypeError:
        raise invalid(name, "a tuple of ints or None", shape, error=TypeError) from None
    for dim in shape:
        if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0):
            raise invalid(name, "a tuple of positive ints or None", shape)
    return shape


class InputLayer(Layer):
    """Holds a model's input shape. ``shape`` excludes the batch dimension;
    ``batch_shape`` includes it."""

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, **kwargs):
        if shape is not None and batch_shape is not None:
            raise invalid("shape", "None when batch_shape is given", shape, "Pass only one of the two.")
        if shape is None and batch_shape is None:
            raise invalid("shape", "a tuple such as (5, 5, 1)", None, "Pass shape= or batch_shape=.")
        if batch_shape is None:
            batch_shape = (batch_size, *_standardize_shape(shape, "shape"))
        self.batch_shape = _standardize_shape(batch_shape, "batch_shape")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.built = True

    def get_config(self):
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "name": self.name}


class KerasTensor:
    """The symbolic value ``Input`` returns: a shape and a dtype, no data."""

    def __init__(self, layer):
        self._input_layer = layer
        self.shape = layer.batch_shape
        self.dtype = layer.dtype
        self.name = layer.name

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None):
    """A symbolic model input, as ``keras.Input``. shape excludes the batch."""
    return KerasTensor(InputLayer(shape, batch_size, standardize_dtype(dtype), batch_shape, name))
