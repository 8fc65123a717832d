"""Keras 3's weight regularizers on NumPy.

A regularizer is called on a weight array and returns the penalty as a NumPy
scalar of the array's float dtype (an integer array counts as float32).

Names resolve as in ``keras.regularizers.get``: each class by its own name
and its snake_case name (``"l1"``, ``"l2"``, ``"l1l2"``,
``"orthogonal_regularizer"``), built with default arguments. Keras 3 does not
accept ``"l1_l2"`` and neither does npconv; and ``"l1l2"`` means
``L1L2(l1=0.0, l2=0.0)``, a zero penalty, exactly as in Keras.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._registry import Configurable, Registry
from .arguments import invalid

_MODULE = "keras.regularizers"
_EPSILON = 1e-7  # Keras's backend.epsilon(), the floor of a row norm


def _factor(value, name):
    """A finite, non-negative real number, as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(name, "a non-negative float", value, error=TypeError)
    if not math.isfinite(value) or value < 0:
        raise invalid(name, "a non-negative float", value)
    return float(value)


def _float32(value):
    """``value`` rounded to float32: Keras keeps L1's and OrthogonalRegularizer's
    factors as float32 tensors, so that is the factor they apply and report."""
    return float(np.float32(value))


def _array(x):
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float32)


class Regularizer(Configurable):
    """Base class of the regularizers: ``regularizer(x) -> penalty``; the base penalty is 0.

    A layer adds the penalty of each regularized weight to the loss, and
    ``gradient(x)`` to that weight's gradient.
    """

    def __call__(self, x):
        """The penalty of a weight array.

        Args:
            x: a weight array of any shape; an integer array counts as float32.

        Returns:
            A NumPy scalar in x's float dtype, added to the training loss.
        """
        return np.zeros((), _array(x).dtype)[()]

    def gradient(self, x):
        """d penalty / d x: the penalty's contribution to the weight's gradient.

        Args:
            x: the weight array.

        Returns:
            An array of x's shape and float dtype (at 0, ``|x|`` has slope 0, as in TensorFlow).
        """
        return np.zeros_like(_array(x))


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x ** 2)``.

    Args:
        l1: the L1 factor, ``>= 0``; None counts as 0.
        l2: the L2 factor, ``>= 0``; None counts as 0.

    Example:
        >>> float(L1L2(l1=0.1, l2=0.5)(np.array([1.0, -2.0])))
        2.8
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = _array(x)
        penalty = np.zeros((), x.dtype)[()]
        if self.l1:
            penalty += self.l1 * np.sum(np.abs(x))
        if self.l2:
            penalty += self.l2 * np.sum(np.square(x))
        return penalty

    def gradient(self, x):
        x = _array(x)
        return (self.l1 * np.sign(x) + 2 * self.l2 * x).astype(x.dtype)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|x|)``.

    Args:
        l1: the factor, ``>= 0``; None means the default 0.01. Kept as float32, as in Keras.

    Example:
        >>> L1(0.5).gradient(np.array([-3.0, 0.0, 2.0]))
        array([-0.5,  0. ,  0.5])
    """

    def __init__(self, l1=0.01):
        self.l1 = _float32(_factor(0.01 if l1 is None else l1, "l1"))

    def __call__(self, x):
        x = _array(x)
        return self.l1 * np.sum(np.abs(x))

    def gradient(self, x):
        x = _array(x)
        return (self.l1 * np.sign(x)).astype(x.dtype)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x ** 2)``.

    Args:
        l2: the factor, ``>= 0``; None means the default 0.01.

    Example:
        >>> float(L2(0.5)(np.array([1.0, 2.0])))
        2.5
    """

    def __init__(self, l2=0.01):
        self.l2 = _factor(0.01 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = _array(x)
        return self.l2 * np.sum(np.square(x))

    def gradient(self, x):
        x = _array(x)
        return (2 * self.l2 * x).astype(x.dtype)

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Penalises the cosine similarity between the rows (or columns) of a 2D ``x``.

    With the rows (``mode="rows"``) or columns of x scaled to unit norm, the
    penalty is ``factor * mean(|<v_i, v_j>|)`` over the pairs i < j (Keras
    writes it as half the sum over i != j, divided by the number of pairs).

    x: ``(rows, columns)``. A single row (or column) has no pairs: the penalty is
    then 0 (Keras divides 0 by 0 there and returns NaN).

    Args:
        factor: the factor, ``>= 0``; kept as float32, as in Keras.
        mode: ``"rows"`` or ``"columns"``: which vectors should be orthogonal.

    Example:
        >>> float(OrthogonalRegularizer(factor=1.0)(np.eye(3)))
        0.0
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _float32(_factor(factor, "factor"))
        if mode not in ("rows", "columns"):
            raise invalid("mode", "one of ['rows', 'columns']", mode)
        self.mode = mode

    def __call__(self, x):
        x = _array(x)
        if x.ndim != 2:
            raise invalid("x.shape", "a rank-2 shape (rows, columns) for OrthogonalRegularizer", x.shape)
        norms, scale, unit, product = self._cosines(x)
        size = unit.shape[0]
        if size < 2:
            return np.zeros((), x.dtype)[()]
        num_pairs = size * (size - 1) / 2
        return (self.factor * 0.5 * np.sum(np.abs(product)) / num_pairs).astype(x.dtype)

    def gradient(self, x):
        """Through the product of unit vectors, then the normalisation."""
        x = _array(x)
        norms, scale, unit, product = self._cosines(x)
        size = unit.shape[0]
        if size < 2:
            return np.zeros_like(x)
        d_product = self.factor * 0.5 / (size * (size - 1) / 2) * np.sign(product)
        d_unit = (d_product + d_product.T) @ unit
        radial = np.sum(d_unit * unit, axis=1, keepdims=True)
        d_vectors = np.where(norms > _EPSILON, (d_unit - unit * radial) / scale, d_unit / scale)
        return (d_vectors if self.mode == "rows" else d_vectors.T).astype(x.dtype)

    def _cosines(self, x):
        """The vectors' norms, the norms floored at epsilon, the unit vectors, and their
        pairwise cosines ``(n, n)`` with a zero diagonal; n counts rows or columns by ``mode``."""
        vectors = x if self.mode == "rows" else x.T
        norms = np.sqrt(np.sum(np.square(vectors), axis=1, keepdims=True))
        scale = np.maximum(norms, _EPSILON)
        unit = vectors / scale
        product = unit @ unit.T
        np.fill_diagonal(product, 0)
        return norms, scale, unit, product

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# --------------------------------------------------------------------------
# names, serialization
# --------------------------------------------------------------------------
_registry = Registry(
    "regularizer",
    _MODULE,
    Regularizer,
    (Regularizer, L1, L2, L1L2, OrthogonalRegularizer),
    hints={"l1_l2": "For both penalties use L1L2(l1=..., l2=...); Keras 3 has no 'l1_l2' name."},
)
ALL_OBJECTS_DICT = _registry.objects
serialize, deserialize, get = _registry.serialize, _registry.deserialize, _registry.get
