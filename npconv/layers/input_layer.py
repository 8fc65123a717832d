"""InputLayer and Input: where a model's graph starts (KerasTensor lives in ``node``).

``Input(shape)`` returns a :class:`KerasTensor`, a symbolic value with a shape
and a dtype but no data. Calling a layer on KerasTensors records a
:class:`Node` (which layer, called on which tensors) and returns new
KerasTensors; ``npconv.Model(inputs, outputs)`` walks those nodes back.
"""

from __future__ import annotations

import numpy as np

from ..arguments import invalid
from .base import Layer, standardize_dtype
from .node import KerasTensor, Node

_INPUT_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")


def _standardize_shape(shape, name):
    try:
        shape = tuple(shape)
    except TypeError:
        raise invalid(name, "a tuple of ints or None", shape, error=TypeError) from None
    for dim in shape:
        if dim is not None and (not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim <= 0):
            raise invalid(name, "a tuple of positive ints or None", shape)
    return tuple(None if dim is None else int(dim) for dim in shape)


def standardize_input_dtype(dtype):
    """A float dtype as layers use, or an integer/bool dtype for inputs such as
    Embedding's token ids."""
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", dtype)
    try:
        name = np.dtype(dtype).name if dtype is not None else "float32"
    except (TypeError, ValueError):
        name = None
    if name not in _INPUT_DTYPES:
        raise invalid("dtype", f"one of {list(_INPUT_DTYPES)}", str(dtype), error=TypeError)
    return name


def _require_off(name, value, off):
    if value not in off:
        raise invalid(
            name,
            f"{off[0]!r} (npconv has no {name} tensors)",
            value,
            f"Keras writes `{name}: {off[0]}` in its configs; only that value is accepted.",
        )


class InputLayer(Layer):
    """Holds a model's input shape. ``shape`` excludes the batch dimension;
    ``batch_shape`` includes it.

    Args:
        shape: the input shape without the batch, e.g. ``(28, 28, 1)``.
        batch_size: an optional fixed batch size.
        dtype: the input dtype; floats, or integers for token ids.
        batch_shape: the shape with the batch, instead of ``shape``.
        name: the layer name.
        sparse: Keras 3's config key, accepted only as False (or None).
        ragged: as ``sparse``.
        optional: as ``sparse``.
        input_tensor: accepted only as None: npconv makes the input tensor itself.
    """

    def __init__(
        self,
        shape=None,
        batch_size=None,
        dtype=None,
        batch_shape=None,
        name=None,
        sparse=False,
        ragged=False,
        optional=False,
        input_tensor=None,
        **kwargs,
    ):
        for key, value in (("sparse", sparse), ("ragged", ragged), ("optional", optional)):
            _require_off(key, value, (False, None))
        if input_tensor is not None:
            raise invalid("input_tensor", "None (npconv builds the input tensor itself)", type(input_tensor).__name__)
        if shape is not None and batch_shape is not None:
            raise invalid("shape", "None when batch_shape is given", shape, "Pass only one of the two.")
        if shape is None and batch_shape is None:
            raise invalid("shape", "a tuple such as (5, 5, 1)", None, "Pass shape= or batch_shape=.")
        if batch_shape is None:
            if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
                shape = (shape,)
            batch_shape = (batch_size, *_standardize_shape(shape, "shape"))
        self.batch_shape = _standardize_shape(batch_shape, "batch_shape")
        if not self.batch_shape:
            raise invalid("batch_shape", "a shape with a batch dimension", self.batch_shape)
        input_dtype = standardize_input_dtype(dtype)
        super().__init__(name=name, dtype=None, **kwargs)
        self.dtype = input_dtype
        self.built = True
        Node(self, (), {}, [KerasTensor(self.batch_shape, self.dtype, name=self.name)])

    def call(self, x, training=False):
        return x

    def backward(self, dy, input_grad=True):
        return dy

    def get_config(self):
        return {
            "batch_shape": self.batch_shape,
            "dtype": self.dtype,
            "sparse": False,
            "ragged": False,
            "name": self.name,
            "optional": False,
        }


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, **kwargs):
    """A symbolic model input, as ``keras.Input``.

    Args:
        shape: the shape without the batch dimension, e.g. ``(32, 32, 3)``.
        batch_size: an optional fixed batch size.
        dtype: 'float32' by default; an integer dtype for token ids.
        batch_shape: the shape with the batch, instead of ``shape``.
        name: the name of the InputLayer behind the tensor.

    Returns:
        A KerasTensor; call layers on it, then pass it to ``npconv.Model``.
    """
    return InputLayer(shape, batch_size, dtype, batch_shape, name, **kwargs).output


__all__ = ["Input", "InputLayer", "KerasTensor", "standardize_dtype"]
