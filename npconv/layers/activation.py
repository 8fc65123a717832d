"""Activation layers: ReLU, LeakyReLU, PReLU, ELU and Softmax.

Each is an element-wise function of its input (Softmax along ``axis``), so
the output has the input's shape. ReLU, LeakyReLU, ELU and Softmax run
:mod:`npconv.activations`' functions and derivatives through the kernel seam
(:func:`npconv.ops.kernels.apply_activation`, ``activation_forward`` and
``activation_backward``), which may hand a large float32 array to oneDNN;
PReLU, whose slope is a weight, computes its own.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from .. import activations, constraints, initializers, regularizers
from ..arguments import invalid
from ..ops import kernels
from ..ops.spec import EltwiseSpec
from .base import Layer, resolve, serialize_or_none


def _non_negative(value, name, allow_none=False):
    expected = "a number >= 0" + (" or None" if allow_none else "")
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise invalid(name, expected, value, error=TypeError)
    if not value >= 0:  # also rejects NaN
        raise invalid(name, expected, value)
    return float(value)


class _ElementwiseActivation(Layer):
    """An activation ``function`` with fixed keyword arguments, run through the
    kernel seam (:func:`npconv.ops.kernels.apply_activation`) both ways."""

    def _function(self):
        raise NotImplementedError

    def call(self, x, training=False):
        y, self._activated = kernels.apply_activation(self._function(), x, keep=True)
        return y

    def backward(self, dy, input_grad=True):
        return self._activated.gradient(np.asarray(dy))


class ReLU(_ElementwiseActivation):
    """Rectified linear unit with an optional cap, leak and threshold.

    ``y = x`` where ``threshold < x``, capped at ``max_value``; below the
    threshold ``y = negative_slope * (x - threshold)``. ``ReLU(6.0)`` is ReLU6.

    Args:
        max_value: None (no cap) or a number >= 0, the largest output.
        negative_slope: a number >= 0, the slope below the threshold.
        threshold: a number >= 0; inputs at or below it are not passed through.
        **kwargs: base layer arguments (name, dtype, trainable).

    Input and output: any shape, the same for both.

    Example:

    >>> ReLU(max_value=6.0)(np.array([[-3.0, 2.0, 9.0]], dtype="float32"))
    array([[0., 2., 6.]], dtype=float32)
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _non_negative(max_value, "max_value", allow_none=True)
        self.negative_slope = _non_negative(negative_slope, "negative_slope")
        self.threshold = _non_negative(threshold, "threshold")

    def _function(self):
        if self.max_value is None and self.negative_slope == 0 and self.threshold == 0:
            return activations.relu
        return functools.partial(
            activations.relu,
            negative_slope=self.negative_slope,
            max_value=self.max_value,
            threshold=self.threshold,
        )

    def get_config(self):
        config = super().get_config()
        config.update(max_value=self.max_value, negative_slope=self.negative_slope, threshold=self.threshold)
        return config


class LeakyReLU(_ElementwiseActivation):
    """``y = x`` for x >= 0 and ``negative_slope * x`` below.

    Args:
        negative_slope: a number >= 0 (0.3 by default, as Keras). Keras 2's
            name ``alpha`` is accepted too.
        **kwargs: base layer arguments (name, dtype, trainable).

    Input and output: any shape, the same for both.

    Example:

    >>> LeakyReLU(negative_slope=0.5)(np.array([[-2.0, 4.0]], dtype="float32"))
    array([[-1.,  4.]], dtype=float32)
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _non_negative(negative_slope, "negative_slope")

    def _function(self):
        return functools.partial(activations.leaky_relu, negative_slope=self.negative_slope)

    def get_config(self):
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


class ELU(_ElementwiseActivation):
    """Exponential linear unit: ``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    Args:
        alpha: a number; the output approaches ``-alpha`` as x goes to -inf.
        **kwargs: base layer arguments (name, dtype, trainable).

    Input and output: any shape, the same for both.
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool):
            raise invalid("alpha", "a number", alpha, error=TypeError)
        self.alpha = float(alpha)

    def _function(self):
        return functools.partial(activations.elu, alpha=self.alpha)

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


def _standardize_axes(axis, name="axis"):
    """An int, or a non-empty list of distinct ints (kept as a list, as Keras writes it)."""
    expected = "an int or a non-empty list of distinct ints"
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return int(axis)
    if isinstance(axis, (list, tuple)) and axis:
        if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis):
            if len(set(axis)) == len(axis):
                return [int(a) for a in axis]
        raise invalid(name, expected, axis)
    raise invalid(name, expected, axis, error=TypeError)


def _resolve_axes(axes, ndim, name="axis"):
    """Non-negative axes of an ndim-rank input, checked in range."""
    listed = [axes] if isinstance(axes, int) else axes
    for a in listed:
        if not -ndim <= a < ndim:
            raise invalid(name, f"axes between {-ndim} and {ndim - 1} for an input of rank {ndim}", axes)
    resolved = tuple(sorted(a % ndim for a in listed))
    if len(set(resolved)) != len(resolved):
        raise invalid(name, "distinct axes", axes)
    return resolved


class Softmax(Layer):
    """``exp(x) / sum(exp(x))`` along ``axis`` (one axis or several together).

    Args:
        axis: an int or a list of ints; the softmax is normalised over them.
        **kwargs: base layer arguments (name, dtype, trainable).

    Call arguments:
        inputs: any shape.
        mask: optional, broadcastable to inputs; where it is False (or <= 0.5)
            the input is replaced by a large negative number before the
            softmax and the output set to 0, as Keras does.

    Example:

    >>> Softmax()(np.log(np.array([[1.0, 3.0]], dtype="float32")))
    array([[0.25, 0.75]], dtype=float32)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _standardize_axes(axis)
        self._mask = None
        self._bypass = False

    @property
    def activation(self):
        """``activations.softmax`` for a last-axis softmax, else None.

        A model whose crossentropy loss follows this layer reads this, as it
        does a Dense layer's activation, and may set it to None for a step to
        take the logits, as Keras on TensorFlow computes the loss from the
        softmax's input (no clipping of tiny probabilities).
        """
        if self._bypass or self.axis not in (-1, [-1]):
            return None
        return activations.softmax

    @activation.setter
    def activation(self, value):
        self._bypass = value is None

    def __call__(self, inputs, training=None, mask=None, **kwargs):
        self._mask = mask
        try:
            return super().__call__(inputs, training=training, **kwargs)
        finally:
            self._mask = None

    def call(self, x, training=False):
        axes = _resolve_axes(self.axis, x.ndim)
        if self._bypass:  # a model takes the logits for its loss this step
            self._cache = None
            return x
        mask = None if self._mask is None else self._broadcast_mask(self._mask, x.shape)
        if mask is not None:
            x = np.where(mask, x, x.dtype.type(-3e4 if x.dtype == np.float16 else -1e9))
        spec = EltwiseSpec("softmax", (("axis", axes),), x.shape, x.dtype.name)
        y = kernels.activation_forward(spec, x)
        if mask is not None:
            y = np.where(mask, y, 0).astype(y.dtype)
        self._cache = (spec, y, mask)
        return y

    @staticmethod
    def _broadcast_mask(mask, shape):
        mask = np.asarray(mask)
        if mask.dtype != bool:
            mask = mask > 0.5
        expected = f"an array broadcastable to the inputs' shape {shape}"
        if mask.ndim > len(shape):
            raise invalid("mask", expected, f"an array of shape {mask.shape}")
        try:
            return np.broadcast_to(mask, shape)
        except ValueError:
            raise invalid("mask", expected, f"an array of shape {mask.shape}") from None

    def backward(self, dy, input_grad=True):
        """dx = y * (dy - sum(dy * y)) over the softmax axes; 0 where masked."""
        if self._cache is None:
            return np.asarray(dy)
        spec, y, mask = self._cache
        dx = kernels.activation_backward(spec, y, np.asarray(dy))
        return dx if mask is None else np.where(mask, dx, 0).astype(dx.dtype)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


class PReLU(Layer):
    """Parametric ReLU: ``y = x`` for x > 0 and ``alpha * x`` below, with a
    learnt ``alpha`` per input element (or shared along ``shared_axes``).

    Args:
        alpha_initializer: initializer of ``alpha`` (zeros by default).
        alpha_regularizer: optional regularizer of ``alpha``.
        alpha_constraint: optional constraint of ``alpha``.
        shared_axes: None, an int or a list of ints: input axes (1 = the
            first after the batch) along which one alpha is shared, e.g.
            ``[1, 2]`` for one alpha per channel of (batch, h, w, c) images.
        **kwargs: base layer arguments (name, dtype, trainable).

    Weights: alpha, shaped like the input without the batch, with 1 on each
    shared axis.
    """

    def __init__(
        self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.alpha_initializer = resolve(initializers, alpha_initializer, "alpha_initializer")
        self.alpha_regularizer = resolve(regularizers, alpha_regularizer, "alpha_regularizer")
        self.alpha_constraint = resolve(constraints, alpha_constraint, "alpha_constraint")
        self.shared_axes = self._standardize_shared_axes(shared_axes)
        self.alpha = None

    @staticmethod
    def _standardize_shared_axes(shared_axes):
        if shared_axes is None:
            return None
        listed = [shared_axes] if isinstance(shared_axes, numbers.Integral) else shared_axes
        expected = "None, a positive int or a list of positive ints (input axes after the batch)"
        if not isinstance(listed, (list, tuple)) or not all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in listed
        ):
            raise invalid("shared_axes", expected, shared_axes, error=TypeError)
        if any(a < 1 for a in listed):
            raise invalid("shared_axes", expected, shared_axes, "Axis 0 is the batch.")
        return [int(a) for a in listed]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for a in self.shared_axes or []:
            if a >= len(shape):
                raise invalid(
                    "shared_axes", f"axes between 1 and {len(shape) - 1} for inputs of shape {shape}", self.shared_axes
                )
        param_shape = [1 if i in (self.shared_axes or []) else d for i, d in enumerate(shape) if i > 0]
        if any(d is None for d in param_shape):
            raise ValueError(
                f"Layer '{self.name}' needs every unshared input axis to be known to build alpha. "
                f"Received: input_shape={shape}. Share the unknown axes with shared_axes."
            )
        self.alpha = self.add_weight(
            param_shape, self.alpha_initializer, "alpha", self.alpha_regularizer, self.alpha_constraint
        )
        shared = self.shared_axes or []
        self.input_spec_shape = tuple(None if i in shared else d for i, d in enumerate(shape) if i > 0)
        self.built = True

    def call(self, x, training=False):
        alpha = self.alpha.value
        y = np.where(x > 0, x, alpha * x).astype(x.dtype)
        self._x = x
        return y

    def backward(self, dy, input_grad=True):
        """dx = dy where x > 0, else alpha * dy (0 at exactly x = 0, as
        TensorFlow's autodiff of relu(x) - alpha * relu(-x)); dalpha sums
        dy * min(x, 0) over the batch and the shared axes."""
        x, dy = self._x, np.asarray(dy)
        alpha = self.alpha.value
        negative = x < 0
        dalpha = np.where(negative, dy * x, 0)
        reduce = (0, *[i + 1 for i, d in enumerate(alpha.shape) if d == 1])
        self.alpha.add_grad(dalpha.sum(axis=reduce).reshape(alpha.shape))
        return np.where(x > 0, dy, np.where(negative, alpha * dy, 0)).astype(dy.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            alpha_initializer=initializers.serialize(self.alpha_initializer),
            alpha_regularizer=serialize_or_none(regularizers, self.alpha_regularizer),
            alpha_constraint=serialize_or_none(constraints, self.alpha_constraint),
            shared_axes=self.shared_axes,
        )
        return config
