"""Preprocessing layers that keras.applications put in front of their models:
Rescaling (``x * scale + offset``) and Normalization (``(x - mean) / std``).

Both cast their input to the layer's float dtype first, so uint8 images go
in as they are. Neither has trainable weights, but both have a backward pass,
so gradients flow through them to the input.
"""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

from .. import initializers
from ..arguments import invalid
from ..ops import as_float_array
from .base import Layer, Variable
from .merging import unbroadcast

_EPSILON = 1e-7  # Keras's backend.epsilon(): the smallest standard deviation divided by


def _numeric(value, name):
    """A number, or an array of numbers as a float64 ndarray. Keras's
    ``{"class_name": "__numpy__", "config": {"value": ..., "dtype": ...}}``
    encoding of an array is accepted too."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        value = value.get("config", {}).get("value")
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if value is None or isinstance(value, (str, bytes, bool)):
        raise invalid(name, "a number or a list of numbers", value, error=TypeError)
    try:
        array = np.asarray(value, dtype="float64")
    except (TypeError, ValueError):
        raise invalid(name, "a number or a list of numbers", value, error=TypeError) from None
    if array.dtype == object:
        raise invalid(name, "a number or a list of numbers", value, error=TypeError)
    return float(array) if array.ndim == 0 else array


def _plain(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


class Rescaling(Layer):
    """``y = x * scale + offset``, e.g. ``Rescaling(1 / 127.5, offset=-1)``
    maps [0, 255] pixels to [-1, 1].

    Args:
        scale: a number, or a list of numbers that broadcasts against the
            input's trailing axes (one per channel, for channels_last images).
        offset: a number, or a list that broadcasts the same way.
        **kwargs: base layer arguments (name, dtype, trainable).

    Input: any shape; integer inputs are cast to the layer's dtype.
    Output: the broadcast shape of x, scale and offset (x's shape in use).
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _numeric(scale, "scale")
        self.offset = _numeric(offset, "offset")

    def call(self, x, training=False):
        scale = np.asarray(self.scale, dtype=x.dtype)
        self._cache = (x.shape, scale)
        return x * scale + np.asarray(self.offset, dtype=x.dtype)

    def backward(self, dy, input_grad=True):
        x_shape, scale = self._cache
        return unbroadcast(np.asarray(dy) * scale, x_shape)

    def get_config(self):
        config = super().get_config()
        config.update(scale=_plain(self.scale), offset=_plain(self.offset))
        return config


def _standardize_normalization_axis(axis):
    expected = "None, an int, or a tuple of ints (the axes that keep their own mean and variance)"
    if axis is None:
        return ()
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return (int(axis),)
    if isinstance(axis, (list, tuple)) and all(
        isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis
    ):
        return tuple(int(a) for a in axis)
    raise invalid("axis", expected, axis, error=TypeError)


def _batches(data):
    """The batches of ``adapt``'s data: one array, or each item of an iterable
    (the first element of a tuple item, as Keras takes x from (x, y))."""
    if isinstance(data, np.ndarray) or hasattr(data, "__array__") and not hasattr(data, "__next__"):
        yield as_float_array(data, "data")
        return
    if hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(data, (list, tuple, str, dict)):
        data = map(data.__getitem__, range(len(data)))  # a PyDataset-like object
    if not hasattr(data, "__iter__") or isinstance(data, (str, bytes, dict)):
        raise invalid(
            "data",
            "an array, or an iterable (list, generator, PyDataset-like) of array batches",
            type(data).__name__,
            error=TypeError,
        )
    for batch in data:
        if isinstance(batch, tuple):
            batch = batch[0]
        array = as_float_array(batch, "data")
        if array.ndim == 0:
            raise invalid("data", "an iterable of array batches", "an iterable of numbers", error=TypeError)
        yield array


class Normalization(Layer):
    """``y = (x - mean) / sqrt(variance)``, with one mean and variance per
    index of ``axis``; ``invert=True`` computes ``mean + x * sqrt(variance)``.

    The standard deviation is floored at 1e-7 (Keras's epsilon), so a
    constant feature maps to 0 instead of NaN.

    Args:
        axis: the axes that keep their own statistics; -1 (the default) gives
            one per channel of channels_last data; None gives one overall.
        mean: None, or the mean to use (a number, or an array that
            broadcasts against the kept axes). Give ``variance`` with it.
        variance: None, or the variance, of mean's shape.
        invert: False to normalize; True to undo a normalization.
        **kwargs: base layer arguments (name, dtype, trainable).

    Weights (only when mean and variance are not given): mean and variance,
    shaped like the kept axes, and count, an int64 scalar; none trainable.
    They are set from ``adapt(data)`` or ``set_weights`` (for example from a
    Keras model's ``get_weights()``). As in Keras, ``adapt`` leaves count at 0.
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _standardize_normalization_axis(axis)
        if not isinstance(invert, (bool, np.bool_)):
            raise invalid("invert", "True or False", invert, error=TypeError)
        self.invert = bool(invert)
        if (mean is None) != (variance is None):
            raise invalid(
                "mean" if mean is None else "variance",
                "an array, given together with " + ("variance" if mean is None else "mean"),
                None,
                "Pass both mean and variance, or neither and call adapt().",
            )
        self.input_mean = None if mean is None else _numeric(mean, "mean")
        self.input_variance = None if variance is None else _numeric(variance, "variance")
        if mean is not None:
            if np.shape(self.input_mean) != np.shape(self.input_variance):
                raise invalid(
                    "variance",
                    f"an array of mean's shape {np.shape(self.input_mean)}",
                    f"shape {np.shape(self.input_variance)}",
                )
            if np.ndim(self.input_mean) > len(self.axis):
                raise invalid(
                    "mean",
                    f"an array of rank <= {len(self.axis)}, the number of axes (axis={self.axis})",
                    f"shape {np.shape(self.input_mean)}",
                )
            if np.any(np.asarray(self.input_variance) < 0):
                raise invalid("variance", "values >= 0", self.input_variance)
        self.mean = self.variance = self.count = None
        self._build_shape = None

    # ------------------------------------------------------------------ build
    def build(self, input_shape):
        shape = tuple(input_shape)
        ndim = len(shape)
        for a in self.axis:
            if not -ndim <= a < ndim:
                raise invalid("axis", f"axes between {-ndim} and {ndim - 1} for inputs of shape {shape}", self.axis)
        keep = tuple(sorted(a % ndim for a in self.axis))
        if len(set(keep)) != len(keep):
            raise invalid("axis", "distinct axes", self.axis)
        if any(shape[a] is None for a in keep):
            raise ValueError(
                f"Layer '{self.name}' needs the kept axes (axis={self.axis}) to have known lengths. "
                f"Received: input_shape={shape}."
            )
        self._keep = keep
        self._reduce = tuple(d for d in range(ndim) if d not in keep)
        self._broadcast_shape = tuple(shape[d] if d in keep else 1 for d in range(ndim))
        stats_shape = tuple(shape[d] for d in keep)
        self._build_shape = shape
        if self.input_mean is None:
            self.mean = self.add_weight(stats_shape, initializers.get("zeros"), "mean", trainable=False)
            self.variance = self.add_weight(stats_shape, initializers.get("ones"), "variance", trainable=False)
            self.count = Variable(np.zeros((), dtype="int64"), f"{self.name}/count", trainable=False)
            self._weights.append(self.count)
        else:
            self._given = (self._expand(self.input_mean), self._expand(self.input_variance))
        self.input_spec_shape = tuple(shape[d] if d in keep else None for d in range(1, ndim))
        self.built = True

    def _expand(self, value):
        """A given mean or variance broadcast to the kept axes (its trailing
        axes align with the last kept axes, as in Keras)."""
        array = np.asarray(value, dtype="float64")
        expanded = [1] * len(self._broadcast_shape)
        for i in range(1, array.ndim + 1):
            expanded[self._keep[-i]] = array.shape[-i]
        try:
            return np.broadcast_to(array.reshape(expanded), self._broadcast_shape).astype(self.dtype)
        except ValueError:
            raise invalid(
                "mean",
                f"an array that broadcasts to the kept axes' shape {tuple(self._broadcast_shape)}",
                f"shape {array.shape}",
            ) from None

    def _statistics(self):
        if self.input_mean is not None:
            return self._given
        shape = self._broadcast_shape
        return self.mean.value.reshape(shape), self.variance.value.reshape(shape)

    def _check_input(self, shape):
        if len(shape) != len(self._build_shape) or any(shape[d] != self._build_shape[d] for d in self._keep):
            raise ValueError(
                f"Input to layer '{self.name}' is incompatible: it was built for inputs of shape "
                f"{self._build_shape}, whose axes {self._keep} must match; received inputs with shape "
                f"{tuple(shape)}."
            )

    # ------------------------------------------------------------------ adapt
    def adapt(self, data):
        """Set mean and variance to the statistics of ``data`` over every axis
        but the kept ones.

        Args:
            data: an array, or an iterable of array batches (a list, a
                generator, a PyDataset-like object; from (x, y) tuples x is
                used). Batches are combined exactly (Chan et al.'s parallel
                formula), so the result does not depend on how data is split.
        """
        if self.input_mean is not None:
            raise ValueError(
                f"Layer '{self.name}' was given mean and variance, so it cannot adapt(). "
                f"Create it without mean and variance to learn them from data."
            )
        total_mean = total_m2 = None
        total = 0
        iterator = _batches(data)
        first = next(iterator, None)
        if first is None:
            raise invalid("data", "at least one batch", "an empty iterable")
        for batch in itertools.chain([first], iterator):
            if not self.built:
                self.build(batch.shape)
            else:
                self._check_input(batch.shape)
            batch = batch.astype("float64")
            n = math.prod(batch.shape[d] for d in self._reduce)
            mean = batch.mean(axis=self._reduce)
            m2 = np.square(batch - batch.mean(axis=self._reduce, keepdims=True)).sum(axis=self._reduce)
            if total == 0:
                total_mean, total_m2 = mean, m2
            else:
                delta = mean - total_mean
                total_mean = total_mean + delta * (n / (total + n))
                total_m2 = total_m2 + m2 + np.square(delta) * (total * n / (total + n))
            total += n
        self.mean.assign(total_mean)
        self.variance.assign(total_m2 / max(total, 1))

    # ------------------------------------------------------------------- call
    def call(self, x, training=False):
        mean, variance = self._statistics()
        std = np.maximum(np.sqrt(variance), x.dtype.type(_EPSILON)).astype(x.dtype)
        self._std = std
        if self.invert:
            return mean + x * std
        return (x - mean) / std

    def backward(self, dy, input_grad=True):
        """dx = dy / std (dy * std when inverting)."""
        dy = np.asarray(dy)
        return dy * self._std if self.invert else dy / self._std

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=self.axis,
            invert=self.invert,
            mean=_plain(self.input_mean),
            variance=_plain(self.input_variance),
        )
        return config
