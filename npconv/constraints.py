"""Keras 3's weight constraints on NumPy.

A constraint is called on a weight array ``w`` after each optimizer step and
returns the projected array, same shape, in w's float dtype (an integer array
counts as float32). The norm constraints work on the norms taken along
``axis`` (an int or a list of ints): for a conv kernel
``(*kernel_size, input_channels, filters)`` use ``axis=[0, ..., rank]`` to
constrain each filter as a whole.

The formulas are Keras's, epsilon included: ``w * desired / (epsilon + norm)``
with ``epsilon = 1e-7``, so a zero column stays zero and a norm already in
range moves by a relative 1e-7 / norm.

Names resolve as in ``keras.constraints.get``: ``"max_norm"``,
``"min_max_norm"``, ``"non_neg"``, ``"unit_norm"`` and the class names.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._registry import Configurable, Registry
from .arguments import invalid

_MODULE = "keras.constraints"
_EPSILON = 1e-7  # Keras's backend.epsilon()


def _array(w):
    w = np.asarray(w)
    return w if np.issubdtype(w.dtype, np.floating) else w.astype(np.float32)


def _non_negative(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(name, "a non-negative real number", value, error=TypeError)
    if not math.isfinite(value) or value < 0:
        raise invalid(name, "a non-negative real number", value)
    return value


def _axis(axis):
    """An int, or a list or tuple of ints, kept as given for get_config."""
    items = axis if isinstance(axis, (list, tuple)) else [axis]
    if not items or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in items):
        raise invalid("axis", "an integer or a list of integers", axis, error=TypeError)
    return type(axis)(int(a) for a in axis) if isinstance(axis, (list, tuple)) else int(axis)


def _norms(w, axis):
    """L2 norms of w along ``axis``, kept as size-1 axes so they broadcast."""
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    if any(not -w.ndim <= a < w.ndim for a in (axis if isinstance(axis, tuple) else (axis,))):
        raise invalid("axis", f"axes within the rank {w.ndim} of w.shape={w.shape}", axis)
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class Constraint(Configurable):
    """Base class of the constraints: ``constraint(w) -> projected w``; the base leaves w as it is.

    The optimizer applies a weight's constraint after each update.
    """

    def __call__(self, w):
        """The projected weights.

        Args:
            w: a weight array of any shape; an integer array counts as float32.

        Returns:
            An array of w's shape in w's float dtype.
        """
        return w


class MaxNorm(Constraint):
    """Scales down each slice whose norm along ``axis`` exceeds ``max_value``.

    ``w * clip(norm, 0, max_value) / (epsilon + norm)``.

    Args:
        max_value: the largest norm allowed, ``>= 0``.
        axis: the axis (or list of axes) the norms are taken along. For a Dense
            kernel ``(input_dim, units)`` the default 0 constrains each unit's
            weight vector; for a conv kernel use every axis but the last.

    Example:
        >>> MaxNorm(1.0)(np.array([[3.0], [4.0]])).round(4)
        array([[0.6],
               [0.8]])
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value = _non_negative(max_value, "max_value")
        self.axis = _axis(axis)

    def __call__(self, w):
        w = _array(w)
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return w * (desired / (_EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves each slice's norm along ``axis`` into ``[min_value, max_value]``.

    The new norm is ``rate * clip(norm, min_value, max_value) + (1 - rate) * norm``;
    ``rate=1`` enforces the bounds at once, a smaller rate moves towards them.

    Args:
        min_value: the smallest norm, ``>= 0``.
        max_value: the largest norm, ``>= min_value``.
        rate: in [0, 1], how far to move towards the bounds.
        axis: the axis (or list of axes) the norms are taken along.
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = _non_negative(min_value, "min_value")
        self.max_value = _non_negative(max_value, "max_value")
        if self.max_value < self.min_value:
            raise invalid("max_value", f"a number >= min_value={self.min_value}", self.max_value)
        self.rate = _non_negative(rate, "rate")
        if self.rate > 1:
            raise invalid("rate", "a real number in [0, 1]", self.rate)
        self.axis = _axis(axis)

    def __call__(self, w):
        w = _array(w)
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (_EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class NonNeg(Constraint):
    """Sets negative weights to 0: ``max(w, 0)``.

    Example:
        >>> NonNeg()(np.array([-1.0, 2.0]))
        array([0., 2.])
    """

    def __call__(self, w):
        return np.maximum(_array(w), 0)


class UnitNorm(Constraint):
    """Scales each slice along ``axis`` to unit norm: ``w / (epsilon + norm)``.

    Args:
        axis: the axis (or list of axes) the norms are taken along.
    """

    def __init__(self, axis=0):
        self.axis = _axis(axis)

    def __call__(self, w):
        w = _array(w)
        return w / (_EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


# --------------------------------------------------------------------------
# names, serialization
# --------------------------------------------------------------------------
_registry = Registry("constraint", _MODULE, Constraint, (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm))
ALL_OBJECTS_DICT = _registry.objects
serialize, deserialize, get = _registry.serialize, _registry.deserialize, _registry.get
