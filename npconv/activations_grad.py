"""Gradients of the built-in activations of :mod:`npconv.activations`.

``gradient(activation, x, y, dy)`` returns dx for ``y = activation(x)``:
x is the activation's input, y its output (reused where that is cheaper),
dy the gradient with respect to y. Softmax, log_softmax, sparsemax and glu
work along their ``axis`` (-1 unless bound with ``functools.partial``).

A built-in is recognised by name (``activation.__name__``, or the wrapped
function's for a ``functools.partial``, whose keywords are honoured) when it
is npconv's own function. Any other callable needs a ``gradient`` attribute,
``activation.gradient(x, y, dy) -> dx``, or gradient() raises
NotImplementedError.

Subgradients at kinks follow TensorFlow's autodiff of Keras's definitions
(relu's is 0 at 0; elu's and selu's take the x > 0 side; hard_tanh passes
at +-1), except celu at 0, where TensorFlow's 2 is an artefact and the
derivative is 1.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .activations import erf

__all__ = ["gradient"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softplus(x):
    return np.logaddexp(0.0, x)


# --------------------------------------------------------------------------
# element-wise: each returns dy/dx (the local derivative), multiplied by dy later
# --------------------------------------------------------------------------
def _relu(x, y, negative_slope=0.0, max_value=None, threshold=0.0):
    above = x > threshold
    if max_value is not None:  # clipped to [0, max_value]
        above &= (x > 0) & (x < max_value)
    local = above.astype(x.dtype)
    if negative_slope:
        local = local + negative_slope * (x < threshold)
    return local


def _leaky_relu(x, y, negative_slope=0.2):
    return np.where(x > 0, 1.0, negative_slope)


def _relu6(x, y):
    return ((x > 0) & (x < 6)).astype(x.dtype)


def _elu(x, y, alpha=1.0):
    return np.where(x >= 0, 1.0, alpha * np.exp(np.minimum(x, 0)))


def _selu(x, y):
    return _SELU_SCALE * np.where(x >= 0, 1.0, _SELU_ALPHA * np.exp(np.minimum(x, 0)))


def _celu(x, y, alpha=1.0):
    return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0) / alpha))


def _softplus_grad(x, y):
    return _sigmoid(x)


def _softsign(x, y):
    return 1.0 / np.square(1.0 + np.abs(x))


def _soft_shrink(x, y, threshold=0.5):
    return (np.abs(x) > threshold).astype(x.dtype)


def _hard_shrink(x, y, threshold=0.5):
    return (np.abs(x) > threshold).astype(x.dtype)


def _sparse_plus(x, y):
    return np.clip((x + 1.0) / 2.0, 0.0, 1.0)


def _silu(x, y):
    s = _sigmoid(x)
    return s * (1.0 + x * (1.0 - s))


def _squareplus(x, y, b=4):
    return 0.5 * (1.0 + x / np.sqrt(np.square(x) + b))


def _gelu(x, y, approximate=False):
    if approximate:
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
        t = np.tanh(inner)
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
    cdf = 0.5 * (1.0 + erf(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * np.square(x)) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf


def _tanh(x, y):
    return 1.0 - np.square(y)


def _tanh_shrink(x, y):
    return np.square(np.tanh(x))


def _hard_tanh(x, y):
    return ((x >= -1) & (x <= 1)).astype(x.dtype)  # clip passes its bounds, as in TensorFlow


def _threshold(x, y, threshold=None, default_value=None):
    return (x > threshold).astype(x.dtype)


def _sigmoid_grad(x, y):
    return y * (1.0 - y)


def _exponential(x, y):
    return y


def _hard_sigmoid(x, y):
    return ((x > -3) & (x < 3)) / 6.0


def _log_sigmoid(x, y):
    return _sigmoid(-x)


def _sparse_sigmoid(x, y):
    return ((x > -1) & (x < 1)) * 0.5


def _hard_silu(x, y):
    """d/dx x * hard_sigmoid(x) = hard_sigmoid(x) + x * hard_sigmoid'(x)."""
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0 + x * _hard_sigmoid(x, y)


def _linear(x, y):
    return np.ones_like(x)


def _mish(x, y):
    t = np.tanh(_softplus(x))
    return t + x * (1.0 - t * t) * _sigmoid(x)


_LOCAL = {
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "relu6": _relu6,
    "elu": _elu,
    "selu": _selu,
    "celu": _celu,
    "softplus": _softplus_grad,
    "softsign": _softsign,
    "soft_shrink": _soft_shrink,
    "hard_shrink": _hard_shrink,
    "sparse_plus": _sparse_plus,
    "silu": _silu,
    "swish": _silu,
    "squareplus": _squareplus,
    "gelu": _gelu,
    "tanh": _tanh,
    "tanh_shrink": _tanh_shrink,
    "hard_tanh": _hard_tanh,
    "threshold": _threshold,
    "sigmoid": _sigmoid_grad,
    "exponential": _exponential,
    "hard_sigmoid": _hard_sigmoid,
    "log_sigmoid": _log_sigmoid,
    "sparse_sigmoid": _sparse_sigmoid,
    "hard_silu": _hard_silu,
    "hard_swish": _hard_silu,
    "linear": _linear,
    "mish": _mish,
}


# --------------------------------------------------------------------------
# along an axis: each returns dx directly
# --------------------------------------------------------------------------
def _softmax(x, y, dy, axis=-1):
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def _log_softmax(x, y, dy, axis=-1):
    return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)


def _sparsemax(x, y, dy, axis=-1):
    support = y > 0
    count = np.maximum(np.sum(support, axis=axis, keepdims=True), 1)
    mean = np.sum(dy * support, axis=axis, keepdims=True) / count
    return support * (dy - mean)


def _glu(x, y, dy, axis=-1):
    a, b = np.split(x, 2, axis=axis)
    gate = _sigmoid(b)
    return np.concatenate([dy * gate, dy * a * gate * (1.0 - gate)], axis=axis)


_ALONG_AXIS = {"softmax": _softmax, "log_softmax": _log_softmax, "sparsemax": _sparsemax, "glu": _glu}


# --------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------
def _unwrap(activation):
    """(function, keywords) of a plain function or a functools.partial of one."""
    keywords = {}
    while isinstance(activation, functools.partial):
        if activation.args:
            break
        keywords = {**activation.keywords, **keywords}
        activation = activation.func
    return activation, keywords


def _builtin_name(function):
    """The name of an npconv built-in activation, or None for anything else."""
    from . import activations

    name = getattr(function, "__name__", None)
    if not isinstance(name, str) or name not in _LOCAL and name not in _ALONG_AXIS:
        return None
    if getattr(activations, name, None) is function:
        return name
    if (getattr(function, "__module__", None) or "").startswith("npconv.activations"):
        return name
    return None


def gradient(activation, x, y, dy):
    """dx for ``y = activation(x)``, given dy = dLoss/dy.

    x, y, dy: arrays of the activation's input and output shapes (the same
    shape, except for glu, whose output is half the input along its axis).
    Returns an array shaped like x, in dy's dtype.
    """
    x, y, dy = np.asarray(x), np.asarray(y), np.asarray(dy)
    if activation is None:
        return dy
    function, keywords = _unwrap(activation)
    name = _builtin_name(function)
    if name == "relu" and not keywords:
        return dy * (x > 0)  # the common case, without the general path's temporaries
    if name is None:
        custom = getattr(activation, "gradient", None)
        if callable(custom):
            return np.asarray(custom(x, y, dy))
        label = getattr(activation, "__name__", type(activation).__name__)
        raise NotImplementedError(
            f"npconv has no gradient for the custom activation {label!r}, so layers that use "
            f"it cannot be trained. Use a built-in activation from npconv.activations, or give "
            f"the callable a `gradient(x, y, dy) -> dx` attribute."
        )
    if name in _ALONG_AXIS:
        dx = _ALONG_AXIS[name](x, y, dy, **keywords)
    else:
        dx = dy * _LOCAL[name](x, y, **keywords)
    return np.asarray(dx).astype(dy.dtype, copy=False)
