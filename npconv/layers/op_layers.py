"""Layers for the objects Keras writes into model configs outside ``keras.layers``.

keras.applications models contain bare operations, recorded when a model is
built with Python arithmetic on tensors: MobileNetV3's hard sigmoid is
``ReLU(6.0)(x + 3.0) * (1.0 / 6.0)``, and ConvNeXt adds its residuals with
``+``. Keras writes each as a node of a ``keras.src.ops.numpy`` class (``Add``,
``Multiply``...) whose config holds only a name; the other operand, often a
Python number, sits in the node's arguments. ConvNeXt also writes its own
``LayerScale`` layer (``keras.src.applications.convnext``).

npconv rebuilds these from a fixed table in :mod:`npconv.layers`
(``KERAS_OPERATIONS``); a module named in a config is never imported.

Call contract of an operation layer: ``op(a, b)`` with positional arguments,
each an array or a Python number (a constant); at least one must be an array.
NumPy broadcasting applies. ``backward(dy)`` returns the gradients of the
array arguments only, in argument order (constants get none): a single array
when one argument was an array, else a list.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import initializers
from ..arguments import invalid
from ..ops import as_float_array
from .base import Layer, snake_case, unique_name
from .merging import _is_symbolic, broadcast_dims, check_no_mask, unbroadcast
from .node import SYMBOLIC_OPERATIONS

_OPS_MODULE = "keras.src.ops.numpy"


def _is_constant(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class OperationLayer(Layer):
    """Base of the ``keras.src.ops.numpy`` element-wise operations (see the module docs).

    Args:
        name: the node's name, as in the Keras config (``add``, ``multiply_3``...).

    Keras's configs for these hold nothing but the name, and so do npconv's.
    """

    keras_module = _OPS_MODULE
    keras_class_name = None
    arity = 2

    def __init__(self, name=None, **kwargs):
        super().__init__(name=name or unique_name(snake_case(self.keras_class_name)), **kwargs)
        self.built = True  # no weights

    def __call__(self, *args, training=None, **kwargs):
        if any(_is_symbolic(a) for a in args):  # building a Functional graph
            return self._symbolic_call(args, kwargs)
        check_no_mask(self, kwargs)
        if len(args) != self.arity:
            raise TypeError(
                f"Operation layer '{self.name}' ({self.keras_class_name}) takes {self.arity} "
                f"positional argument(s); received {len(args)}."
            )
        values = [a if _is_constant(a) else as_float_array(a, f"argument {i + 1}") for i, a in enumerate(args)]
        if all(_is_constant(v) for v in values):
            raise invalid(
                "arguments", f"at least one array for the operation layer '{self.name}'", list(args), error=TypeError
            )
        self._values = values
        return np.asarray(self._forward(*values))

    def compute_output_shape(self, *shapes):
        """The broadcast shape of the array arguments (shapes given as tuples, constants as numbers)."""
        listed = [tuple(s) for s in shapes if not _is_constant(s)]
        rank = max(len(s) for s in listed)
        out = broadcast_dims([(1,) * (rank - len(s)) + s for s in listed])
        if out is None:
            raise ValueError(
                f"Operation layer '{self.name}' ({self.keras_class_name}) got operands whose shapes "
                f"do not broadcast: {listed}."
            )
        return out

    def backward(self, dy, input_grad=True):
        dy = np.asarray(dy)
        grads = self._grads(dy, *self._values)
        arrays = [
            unbroadcast(g, v.shape).astype(v.dtype, copy=False)
            for g, v in zip(grads, self._values)
            if not _is_constant(v)
        ]
        return arrays[0] if len(arrays) == 1 else arrays

    def get_config(self):
        return {"name": self.name}


class NumpyAdd(OperationLayer):
    """``a + b`` (Keras's ``keras.src.ops.numpy.Add``, as written by ``x + y``)."""

    keras_class_name = "Add"

    def _forward(self, a, b):
        return a + b

    def _grads(self, dy, a, b):
        return dy, dy


class NumpySubtract(OperationLayer):
    """``a - b`` (Keras's ``keras.src.ops.numpy.Subtract``)."""

    keras_class_name = "Subtract"

    def _forward(self, a, b):
        return a - b

    def _grads(self, dy, a, b):
        return dy, -dy


class NumpyMultiply(OperationLayer):
    """``a * b`` (Keras's ``keras.src.ops.numpy.Multiply``)."""

    keras_class_name = "Multiply"

    def _forward(self, a, b):
        return a * b

    def _grads(self, dy, a, b):
        return dy * b, dy * a


class NumpyDivide(OperationLayer):
    """``a / b`` (Keras's ``keras.src.ops.numpy.Divide``, from ``ops.divide``)."""

    keras_class_name = "Divide"

    def _forward(self, a, b):
        return a / b

    def _grads(self, dy, a, b):
        return dy / b, -dy * a / (b * b)


class NumpyTrueDivide(NumpyDivide):
    """``a / b`` (Keras's ``keras.src.ops.numpy.TrueDivide``, as written by ``x / y``)."""

    keras_class_name = "TrueDivide"


class _NumpyExtremum(OperationLayer):
    """``_pick(a, b)``; the gradient goes where ``_wins(a, b)``, else to ``b``."""

    def _forward(self, a, b):
        return type(self)._pick(a, b)

    def _grads(self, dy, a, b):
        first = type(self)._wins(a, b)
        return np.where(first, dy, 0), np.where(first, 0, dy)


class NumpyMaximum(_NumpyExtremum):
    """``maximum(a, b)``; on ties the gradient goes to ``a`` (as TensorFlow)."""

    keras_class_name = "Maximum"
    _pick, _wins = np.maximum, np.greater_equal


class NumpyMinimum(_NumpyExtremum):
    """``minimum(a, b)``; on ties the gradient goes to ``a`` (as TensorFlow)."""

    keras_class_name = "Minimum"
    _pick, _wins = np.minimum, np.less_equal


class NumpyNegative(OperationLayer):
    """``-a`` (Keras's ``keras.src.ops.numpy.Negative``, as written by ``-x``)."""

    keras_class_name = "Negative"
    arity = 1

    def _forward(self, a):
        return -a

    def _grads(self, dy, a):
        return (-dy,)


OPERATION_LAYERS = (
    NumpyAdd,
    NumpySubtract,
    NumpyMultiply,
    NumpyDivide,
    NumpyTrueDivide,
    NumpyMaximum,
    NumpyMinimum,
    NumpyNegative,
)
SYMBOLIC_OPERATIONS.update({cls.keras_class_name: cls for cls in OPERATION_LAYERS if cls.keras_module == _OPS_MODULE})


class LayerScale(Layer):
    """ConvNeXt's learnt per-channel scale: ``y = x * gamma``.

    Args:
        init_values: the initial value of every entry of gamma (ConvNeXt uses 1e-6).
        projection_dim: the number of channels (the input's last axis).
        **kwargs: base layer arguments (name, dtype, trainable).

    Weights: gamma, shape (projection_dim,).
    Input and output: (batch, ..., projection_dim).
    """

    keras_module = "keras.src.applications.convnext"

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        if not _is_constant(init_values):
            raise invalid("init_values", "a number", init_values, error=TypeError)
        if not isinstance(projection_dim, numbers.Integral) or isinstance(projection_dim, bool):
            raise invalid("projection_dim", "a positive int", projection_dim, error=TypeError)
        if projection_dim < 1:
            raise invalid("projection_dim", "a positive int", projection_dim)
        self.init_values = float(init_values)
        self.projection_dim = int(projection_dim)
        self.gamma = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) < 2 or shape[-1] not in (None, self.projection_dim):
            raise invalid(
                "input_shape",
                f"a shape (batch, ..., {self.projection_dim}) for layer '{self.name}' (projection_dim="
                f"{self.projection_dim})",
                shape,
            )
        self.gamma = self.add_weight((self.projection_dim,), initializers.Constant(self.init_values), "gamma")
        self.input_spec_shape = (*[None] * (len(shape) - 2), self.projection_dim)
        self.built = True

    def call(self, x, training=False):
        self._x = x
        return x * self.gamma.value

    def backward(self, dy, input_grad=True):
        """dx = dy * gamma; dgamma sums dy * x over every axis but the last."""
        dy = np.asarray(dy)
        self.gamma.add_grad((dy * self._x).reshape(-1, self.projection_dim).sum(axis=0))
        return dy * self.gamma.value

    def get_config(self):
        config = super().get_config()
        config.update(init_values=self.init_values, projection_dim=self.projection_dim)
        return config
