"""Keras 3's built-in activations on NumPy arrays.

Every function takes an array ``x`` of any shape and returns an array of the
same shape (``glu`` halves its ``axis``). A floating-point input keeps its
dtype (float32 in, float32 out); any other input is computed as float32, the
Keras default float type. The functions are stable for large ``|x|`` and
propagate NaN: a NaN input gives a NaN output in the same place (the
along-axis functions turn the whole slice that holds it into NaN).

Each function's derivative sits right below it, and :data:`ACTIVATIONS` maps
every name to both; :func:`gradient` reads the same table that :func:`get`
does.

Names resolve as in ``keras.activations.get``: every function by its own name,
plus the aliases ``"swish"`` (silu) and ``"hard_swish"`` (hard_silu).
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from .arguments import invalid

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _float(x):
    """``x`` as a floating-point array: float inputs keep their dtype."""
    x = np.asarray(x)
    if x.dtype.kind == "f":  # np.issubdtype(x.dtype, np.floating), without its microseconds
        return x
    return x.astype(np.float32)


def _real(value, name, allow_none=False):
    """A real number argument (not bool), as a Python float."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        expected = "a real number or None" if allow_none else "a real number"
        raise invalid(name, expected, value, error=TypeError)
    return float(value)


def _axis(axis, ndim):
    """An int axis, or a tuple of them, checked against ``ndim``."""
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    expected = f"an integer (or tuple of integers) in [-{ndim}, {ndim - 1}] for an input of rank {ndim}"
    for item in axes:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            raise invalid("axis", expected, axis, error=TypeError)
        if not -ndim <= item < ndim:
            raise invalid("axis", expected, axis)
    return tuple(int(a) for a in axes) if isinstance(axis, (tuple, list)) else int(axis)


def _softplus_f(x):
    return np.logaddexp(0.0, x)


def _stable_sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp is only taken of -|x|, so
    sigmoid(-20) keeps its 8 significant digits (1 + tanh(x / 2) would round it to 0)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


_logistic = _stable_sigmoid  # the derivatives' sigmoid


# --------------------------------------------------------------------------
# erf / erfc, vectorised, relative accuracy ~1e-15 in float64
# --------------------------------------------------------------------------
# Rational approximations from Cephes (S. L. Moshier, ndtr.c), highest power
# first: erf(x) = x T(x^2) / U(x^2) for |x| < 1, and
# erfc(x) = exp(-x^2) P(x) / Q(x) for 1 <= x < 8, exp(-x^2) R(x) / S(x) beyond.
# Q, S and U have an implied leading coefficient 1.
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)  # fmt: skip
_ERF_U = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)  # fmt: skip
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)  # fmt: skip
_ERFC_Q = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)  # fmt: skip
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)  # fmt: skip
_ERFC_S = (2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)  # fmt: skip


def _horner(x, coefficients, monic=False):
    """The polynomial with these coefficients (highest power first) at x;
    ``monic`` adds a leading coefficient 1."""
    y = x + coefficients[0] if monic else np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        y = y * x + c
    return y


def _erf_near_zero(a):
    """erf(a) for |a| < 1."""
    a2 = a * a
    return a * _horner(a2, _ERF_T) / _horner(a2, _ERF_U, monic=True)


def _erfc_positive(a):
    """erfc(a) for a >= 1 (NaN stays NaN; a beyond 30 underflows to 0)."""
    a = np.minimum(a, 30.0)
    middle = a < 8
    out = np.empty_like(a)
    m, f = a[middle], a[~middle]
    out[middle] = np.exp(-m * m) * _horner(m, _ERFC_P) / _horner(m, _ERFC_Q, monic=True)
    out[~middle] = np.exp(-f * f) * _horner(f, _ERFC_R) / _horner(f, _ERFC_S, monic=True)
    return out


def _erfc(z):
    """Complementary error function of a float64 array, accurate in both tails."""
    a = np.abs(z)
    near = a < 1
    upper = np.empty_like(a)  # erfc(|z|)
    upper[near] = 1 - _erf_near_zero(a[near])
    upper[~near] = _erfc_positive(a[~near])
    return np.where(z < 0, 2 - upper, upper)


def erf(x):
    """The error function, element-wise, accurate to about 1e-16 in float64.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        ``erf(x)``, with x's shape and float dtype.
    """
    x = _float(x)
    z = x.astype(np.float64)
    near = np.abs(z) < 1
    out = np.empty_like(z)
    out[near] = _erf_near_zero(z[near])
    out[~near] = np.sign(z[~near]) * (1 - _erfc_positive(np.abs(z[~near])))
    return out.astype(x.dtype)


# --------------------------------------------------------------------------
# rectifiers
# --------------------------------------------------------------------------
def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit, with Keras's three optional twists.

    ``x`` above ``threshold`` passes and the rest becomes 0; the result is
    then clipped to ``[0, max_value]`` if a max is given; finally
    ``negative_slope * (x - threshold)`` is added below the threshold.

    Args:
        x: an array of any shape (ints are computed as float32).
        negative_slope: the slope below the threshold (0 by default).
        max_value: None (no cap) or the largest output.
        threshold: the value at and below which x is not passed through.

    Returns:
        An array of x's shape and float dtype.

    Example:

    >>> relu(np.array([-2.0, 1.0, 8.0]), max_value=6.0)
    array([0., 1., 6.])
    """
    x = _float(x)
    if negative_slope == 0 and max_value is None and threshold == 0 and type(negative_slope) in (int, float):
        return np.maximum(x, 0, dtype=x.dtype)  # the common case, in one pass
    negative_slope = _real(negative_slope, "negative_slope")
    max_value = _real(max_value, "max_value", allow_none=True)
    threshold = _real(threshold, "threshold")
    y = np.where(x <= threshold, 0, x).astype(x.dtype)
    if max_value is not None:
        y = np.clip(y, 0, max_value)
    if negative_slope:
        y = y - negative_slope * np.maximum(threshold - x, 0)
    return y


def _plain_relu(negative_slope=0.0, max_value=None, threshold=0.0):
    return negative_slope == 0 and max_value is None and threshold == 0


def _d_relu(x, y, negative_slope=0.0, max_value=None, threshold=0.0):
    """drelu/dx, elementwise (multiplied by dy in :func:`gradient`).

    Plain relu reads only y (y > 0 exactly where x > 0, NaN included), so a
    forward pass need not keep its input; with any option it reads only x."""
    if _plain_relu(negative_slope, max_value, threshold):
        return y > 0
    above = x > threshold
    if max_value is not None:  # clipped to [0, max_value]
        above &= (x > 0) & (x < max_value)
    local = above.astype(x.dtype)
    if negative_slope:
        local = local + negative_slope * (x < threshold)
    return local


def leaky_relu(x, negative_slope=0.2):
    """Leaky ReLU: ``x`` for x >= 0, ``negative_slope * x`` below.

    Args:
        x: an array of any shape (ints are computed as float32).
        negative_slope: the slope below 0 (0.2 by default, as Keras).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    negative_slope = _real(negative_slope, "negative_slope")
    return np.where(x < 0, negative_slope * x, x)


def _d_leaky_relu(x, y, negative_slope=0.2):
    """dleaky_relu/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return np.where(x > 0, 1.0, negative_slope)


def relu6(x):
    """ReLU capped at 6: ``min(max(x, 0), 6)``.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    return np.clip(_float(x), 0, 6)


def _d_relu6(x, y):
    """drelu6/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return ((x > 0) & (x < 6)).astype(x.dtype)


def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    Args:
        x: an array of any shape (ints are computed as float32).
        alpha: the scale of the negative part; outputs approach ``-alpha``
            as x goes to -inf.

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    alpha = _real(alpha, "alpha")
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _d_elu(x, y, alpha=1.0):
    """delu/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return np.where(x >= 0, 1.0, alpha * np.exp(np.minimum(x, 0)))


def selu(x):
    """Scaled exponential linear unit: ``scale * elu(x, alpha)``.

    ``alpha`` (about 1.6733) and ``scale`` (about 1.0507) are the
    self-normalising constants of Klambauer et al. (2017).

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    return _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))


def _d_selu(x, y):
    """dselu/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return _SELU_SCALE * np.where(x >= 0, 1.0, _SELU_ALPHA * np.exp(np.minimum(x, 0)))


def celu(x, alpha=1.0):
    """Continuously differentiable ELU: ``max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)``.

    Args:
        x: an array of any shape (ints are computed as float32).
        alpha: a non-zero number, the scale of the negative part.

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    alpha = _real(alpha, "alpha")
    if alpha == 0:
        raise invalid("alpha", "a non-zero real number", alpha)
    return np.maximum(x, 0) + alpha * np.expm1(np.minimum(x, 0) / alpha)


def _d_celu(x, y, alpha=1.0):
    """dcelu/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0) / alpha))


def softplus(x):
    """Softplus: ``log(1 + exp(x))``, computed as ``logaddexp(x, 0)`` so it never overflows.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    with np.errstate(invalid="ignore"):  # NaN in, NaN out, without a warning
        return np.logaddexp(x, np.zeros((), x.dtype))


def _d_softplus(x, y):
    """dsoftplus/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return _logistic(x)


def softsign(x):
    """Softsign: ``x / (1 + |x|)``.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    return x / (1 + np.abs(x))


def _d_softsign(x, y):
    """dsoftsign/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return 1.0 / np.square(1.0 + np.abs(x))


def squareplus(x, b=4):
    """Squareplus: ``(x + sqrt(x^2 + b)) / 2``.

    For x < 0 the equal form ``b / (2 * (sqrt(x^2 + b) - x))`` is used, which
    avoids the cancellation of the direct formula (Keras returns 0 there once
    x^2 swamps b).

    Args:
        x: an array of any shape (ints are computed as float32).
        b: a non-negative number, the smoothness near 0 (4 by default).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    b = _real(b, "b")
    if b < 0:
        raise invalid("b", "a non-negative real number", b)
    root = np.hypot(x, np.sqrt(np.asarray(b, x.dtype)))
    with np.errstate(divide="ignore", invalid="ignore"):
        negative = b / (2 * (root - x))
    return np.where(x < 0, negative, (x + root) / 2).astype(x.dtype)


def _d_squareplus(x, y, b=4):
    """dsquareplus/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return 0.5 * (1.0 + x / np.sqrt(np.square(x) + b))


def sparse_plus(x):
    """SparsePlus: 0 for x <= -1, ``(x + 1)^2 / 4`` for -1 < x < 1, ``x`` for x >= 1.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    middle = (x + 1) ** 2 / 4
    return np.where(x <= -1, 0, np.where(x >= 1, x, middle)).astype(x.dtype)


def _d_sparse_plus(x, y):
    """dsparse_plus/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return np.clip((x + 1.0) / 2.0, 0.0, 1.0)


def silu(x):
    """Sigmoid linear unit (also called swish): ``x * sigmoid(x)``.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    return x * _stable_sigmoid(x)


def _d_silu(x, y):
    """dsilu/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    s = _logistic(x)
    return s * (1.0 + x * (1.0 - s))


def gelu(x, approximate=False):
    """Gaussian error linear unit: ``x * P(N(0, 1) <= x)``.

    Exact (``approximate=False``): ``x/2 * erfc(-x/sqrt(2))``, computed in
    float64. Approximate: the tanh form
    ``x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))``.

    Args:
        x: an array of any shape (ints are computed as float32).
        approximate: whether to use the tanh form (False by default).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    if not isinstance(approximate, (bool, np.bool_)):
        raise invalid("approximate", "True or False", approximate, error=TypeError)
    if approximate:
        with np.errstate(over="ignore"):
            inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
        return x / 2 * (1 + np.tanh(inner))
    x64 = x.astype(np.float64)
    return (x64 / 2 * _erfc(-x64 / math.sqrt(2))).astype(x.dtype)


def _d_gelu(x, y, approximate=False):
    """dgelu/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    if approximate:
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
        t = np.tanh(inner)
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
    cdf = 0.5 * (1.0 + erf(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * np.square(x)) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf


def mish(x):
    """Mish: ``x * tanh(softplus(x))``.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    return x * np.tanh(softplus(x))


def _d_mish(x, y):
    """dmish/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    t = np.tanh(_softplus_f(x))
    return t + x * (1.0 - t * t) * _logistic(x)


def exponential(x):
    """Exponential: ``exp(x)``; overflows to inf like any exp.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    return np.exp(_float(x))


def _d_exponential(x, y):
    """dexponential/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return y


def linear(x):
    """The identity: returns ``x`` unchanged (not copied).

    Args:
        x: an array of any shape.

    Returns:
        ``np.asarray(x)``.
    """
    return np.asarray(x)


def _d_linear(x, y):
    """dlinear/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return np.ones_like(x)


# --------------------------------------------------------------------------
# squashing and shrinking
# --------------------------------------------------------------------------
def sigmoid(x):
    """Sigmoid: ``1 / (1 + exp(-x))``, with no overflow for large ``|x|``.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype, in [0, 1].
    """
    x = _float(x)
    return _stable_sigmoid(x).astype(x.dtype)


def _d_sigmoid(x, y):
    """dsigmoid/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return y * (1.0 - y)


def log_sigmoid(x):
    """Logarithm of the sigmoid: ``log(sigmoid(x)) = -softplus(-x)``.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    return -softplus(-_float(x))


def _d_log_sigmoid(x, y):
    """dlog_sigmoid/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return _logistic(-x)


def hard_sigmoid(x):
    """Piecewise-linear sigmoid: ``clip(x + 3, 0, 6) / 6``.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    return np.clip(x + 3, 0, 6) / 6


def _d_hard_sigmoid(x, y):
    """dhard_sigmoid/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return ((x > -3) & (x < 3)) / 6.0


def hard_silu(x):
    """Hard SiLU (also called hard swish): ``x * hard_sigmoid(x)``.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    return x * hard_sigmoid(x)


def _d_hard_silu(x, y):
    """d/dx x * hard_sigmoid(x) = hard_sigmoid(x) + x * hard_sigmoid'(x)."""
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0 + x * _d_hard_sigmoid(x, y)


def sparse_sigmoid(x):
    """Sparse sigmoid: 0 for x <= -1, ``(x + 1) / 2`` in between, 1 for x >= 1.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    return np.clip((x + 1) / 2, 0, 1)


def _d_sparse_sigmoid(x, y):
    """dsparse_sigmoid/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return ((x > -1) & (x < 1)) * 0.5


def tanh(x):
    """Hyperbolic tangent.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype, in [-1, 1].
    """
    return np.tanh(_float(x))


def _d_tanh(x, y):
    """dtanh/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return 1.0 - np.square(y)


def tanh_shrink(x):
    """Tanh shrink: ``x - tanh(x)``.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    return x - np.tanh(x)


def _d_tanh_shrink(x, y):
    """dtanh_shrink/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return np.square(np.tanh(x))


def hard_tanh(x):
    """Hard tanh: ``clip(x, -1, 1)``.

    Args:
        x: an array of any shape (ints are computed as float32).

    Returns:
        An array of x's shape and float dtype.
    """
    return np.clip(_float(x), -1, 1)


def _d_hard_tanh(x, y):
    """dhard_tanh/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return ((x >= -1) & (x <= 1)).astype(x.dtype)  # clip passes its bounds, as in TensorFlow


def soft_shrink(x, threshold=0.5):
    """Soft shrink: moves ``x`` towards 0 by ``threshold``, stopping at 0.

    That is ``x - clip(x, -threshold, threshold)``.

    Args:
        x: an array of any shape (ints are computed as float32).
        threshold: how far x moves towards 0 (0.5 by default).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    threshold = _real(threshold, "threshold")
    return x - np.clip(x, -threshold, threshold)


def _d_soft_shrink(x, y, threshold=0.5):
    """dsoft_shrink/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return (np.abs(x) > threshold).astype(x.dtype)


def hard_shrink(x, threshold=0.5):
    """Hard shrink: ``x`` where ``|x| > threshold``, 0 elsewhere.

    Args:
        x: an array of any shape (ints are computed as float32).
        threshold: the largest ``|x|`` set to 0 (0.5 by default).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    threshold = _real(threshold, "threshold")
    return np.where(np.abs(x) <= threshold, 0, x).astype(x.dtype)


def _d_hard_shrink(x, y, threshold=0.5):
    """dhard_shrink/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return (np.abs(x) > threshold).astype(x.dtype)


def threshold(x, threshold, default_value):
    """Threshold: ``x`` where ``x > threshold``, ``default_value`` elsewhere.

    Args:
        x: an array of any shape (ints are computed as float32).
        threshold: the value at and below which x is replaced.
        default_value: what replaces it.

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    threshold = _real(threshold, "threshold")
    default_value = _real(default_value, "default_value")
    return np.where(x <= threshold, default_value, x).astype(x.dtype)


def _d_threshold(x, y, threshold=None, default_value=None):
    """dthreshold/dx, elementwise (multiplied by dy in :func:`gradient`)."""
    return (x > threshold).astype(x.dtype)


# --------------------------------------------------------------------------
# along an axis
# --------------------------------------------------------------------------
def softmax(x, axis=-1):
    """Softmax: ``exp(x) / sum(exp(x))`` along ``axis``.

    The max is subtracted first, so large inputs do not overflow; a NaN or
    +Inf in a slice makes the whole slice NaN.

    Args:
        x: an array of any shape (ints are computed as float32).
        axis: an int or a tuple of ints, the axes normalised together (-1 by default).

    Returns:
        An array of x's shape and float dtype whose slices along ``axis`` sum to 1.

    Example:

    >>> softmax(np.array([[0.0, np.log(3.0)]]))
    array([[0.25, 0.75]])
    """
    x = _float(x)
    axis = _axis(axis, x.ndim)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _d_softmax(x, y, dy, axis=-1):
    """dx of softmax along ``axis``, from x, y and dy."""
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def log_softmax(x, axis=-1):
    """Log-softmax: ``x - logsumexp(x)`` along ``axis``, stable for large inputs.

    Args:
        x: an array of any shape (ints are computed as float32).
        axis: an int or a tuple of ints (-1 by default).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    axis = _axis(axis, x.ndim)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _d_log_softmax(x, y, dy, axis=-1):
    """dx of log_softmax along ``axis``, from x, y and dy."""
    return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)


def sparsemax(x, axis=-1):
    """Sparsemax: the Euclidean projection of each slice along ``axis`` onto the simplex.

    Returns ``max(x - tau, 0)``, where tau makes each slice sum to 1; unlike
    softmax, small entries become exactly 0.

    Args:
        x: an array of any shape (ints are computed as float32).
        axis: an int or a tuple of ints (-1 by default).

    Returns:
        An array of x's shape and float dtype.
    """
    x = _float(x)
    axis = _axis(axis, x.ndim)
    z = np.moveaxis(x, axis, -1)
    z_sorted = -np.sort(-z, axis=-1)
    cumsum = np.cumsum(z_sorted, axis=-1)
    k = np.arange(1, z.shape[-1] + 1, dtype=x.dtype)
    support = 1 + k * z_sorted > cumsum
    size = np.sum(support, axis=-1, keepdims=True)
    total = np.take_along_axis(cumsum, np.maximum(size - 1, 0), axis=-1)
    tau = (total - 1) / size
    tau = np.where(np.isnan(z).any(axis=-1, keepdims=True), np.nan, tau)
    return np.moveaxis(np.maximum(z - tau, 0), -1, axis).astype(x.dtype)


def _d_sparsemax(x, y, dy, axis=-1):
    """dx of sparsemax along ``axis``, from x, y and dy."""
    support = y > 0
    count = np.maximum(np.sum(support, axis=axis, keepdims=True), 1)
    mean = np.sum(dy * support, axis=axis, keepdims=True) / count
    return support * (dy - mean)


def glu(x, axis=-1):
    """Gated linear unit: split ``x`` in halves a, b along ``axis``; ``a * sigmoid(b)``.

    Args:
        x: an array (..., 2n, ...) whose ``axis`` has even length.
        axis: one int (-1 by default).

    Returns:
        An array (..., n, ...) of x's float dtype.
    """
    x = _float(x)
    axis = _axis(axis, x.ndim)
    if isinstance(axis, tuple) or x.shape[axis] % 2:
        raise invalid("axis", f"one axis of even length; x.shape={x.shape}", axis)
    a, b = np.split(x, 2, axis=axis)
    return a * _stable_sigmoid(b)


def _d_glu(x, y, dy, axis=-1):
    """dx of glu along ``axis``, from x, y and dy."""
    a, b = np.split(x, 2, axis=axis)
    gate = _logistic(b)
    return np.concatenate([dy * gate, dy * a * gate * (1.0 - gate)], axis=axis)


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------
# name -> (function, derivative). An element-wise derivative returns dy/dx,
# multiplied by dy in gradient(); an along-axis one (softmax, log_softmax,
# sparsemax, glu) takes dy and returns dx itself.
ACTIVATIONS = {
    "relu": (relu, _d_relu),
    "leaky_relu": (leaky_relu, _d_leaky_relu),
    "relu6": (relu6, _d_relu6),
    "softmax": (softmax, _d_softmax),
    "celu": (celu, _d_celu),
    "elu": (elu, _d_elu),
    "selu": (selu, _d_selu),
    "softplus": (softplus, _d_softplus),
    "softsign": (softsign, _d_softsign),
    "squareplus": (squareplus, _d_squareplus),
    "soft_shrink": (soft_shrink, _d_soft_shrink),
    "sparse_plus": (sparse_plus, _d_sparse_plus),
    "silu": (silu, _d_silu),
    "gelu": (gelu, _d_gelu),
    "glu": (glu, _d_glu),
    "tanh": (tanh, _d_tanh),
    "tanh_shrink": (tanh_shrink, _d_tanh_shrink),
    "threshold": (threshold, _d_threshold),
    "sigmoid": (sigmoid, _d_sigmoid),
    "sparse_sigmoid": (sparse_sigmoid, _d_sparse_sigmoid),
    "exponential": (exponential, _d_exponential),
    "hard_sigmoid": (hard_sigmoid, _d_hard_sigmoid),
    "hard_silu": (hard_silu, _d_hard_silu),
    "hard_tanh": (hard_tanh, _d_hard_tanh),
    "hard_shrink": (hard_shrink, _d_hard_shrink),
    "linear": (linear, _d_linear),
    "mish": (mish, _d_mish),
    "log_softmax": (log_softmax, _d_log_softmax),
    "log_sigmoid": (log_sigmoid, _d_log_sigmoid),
    "sparsemax": (sparsemax, _d_sparsemax),
}
_ALONG_AXIS = {softmax, log_softmax, sparsemax, glu}
ALL_OBJECTS_DICT = {name: function for name, (function, _) in ACTIVATIONS.items()}
ALL_OBJECTS_DICT["swish"] = silu
ALL_OBJECTS_DICT["hard_swish"] = hard_silu
swish = silu
hard_swish = hard_silu


def _lookup(name):
    if name not in ALL_OBJECTS_DICT:
        raise invalid("activation", f"one of {sorted(ALL_OBJECTS_DICT)}", name)
    return ALL_OBJECTS_DICT[name]


def deserialize(config):
    """The activation function named by ``config``.

    Args:
        config: a name such as ``"relu"``, or Keras's function dict
            ``{"class_name": "function", "config": "relu", ...}``.

    Returns:
        The function, e.g. :func:`relu`.
    """
    if isinstance(config, dict):
        if config.get("class_name") != "function" or not isinstance(config.get("config"), str):
            expected = "a dict with 'class_name': 'function' and the function's name as 'config'"
            raise invalid("config", expected, config)
        return _lookup(config["config"])
    if isinstance(config, str):
        return _lookup(config)
    raise invalid("config", "an activation name or its dict", config, error=TypeError)


def get(identifier):
    """An activation function from None (linear), a name, a dict or a callable.

    Args:
        identifier: None, a name such as ``"relu"`` (or an alias such as
            ``"swish"``), a Keras function dict, or any callable (returned as is).

    Returns:
        A callable ``f(x) -> y``.

    Example:

    >>> get("swish") is silu
    True
    """
    if identifier is None:
        return linear
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise invalid("activation", "None, an activation name, a dict or a callable", identifier, error=TypeError)


def serialize(activation):
    """The name under which a built-in activation is saved (``"silu"`` for swish).

    Args:
        activation: one of this module's functions.

    Returns:
        Its name, a string.
    """
    name = getattr(activation, "__name__", None)
    if ALL_OBJECTS_DICT.get(name) is not activation:
        fix = "Only npconv's built-in activations have a name to save; pass one of them or its name."
        raise invalid("activation", "a built-in activation function", activation, fix)
    return name


# --------------------------------------------------------------------------
# gradients
# --------------------------------------------------------------------------
def _unwrap(activation):
    """(function, keywords) of a plain function or a functools.partial of one."""
    keywords = {}
    while isinstance(activation, functools.partial) and not activation.args:
        keywords = {**activation.keywords, **keywords}
        activation = activation.func
    return activation, keywords


# The activations whose derivative reads only the output y; every other one reads only
# the input x (plain relu reads y as well: see gradient_reads_output).
_FROM_OUTPUT = frozenset({"sigmoid", "tanh", "exponential", "softmax", "log_softmax", "sparsemax"})


def gradient_reads_output(name, **keywords):
    """Whether the derivative of a built-in activation reads its output or its input.

    No derivative here needs both, so a forward pass keeps one array for the
    backward pass: y where this is True, x where it is False.

    Args:
        name: a key of :data:`ACTIVATIONS`, e.g. ``"sigmoid"``.
        **keywords: the activation's keyword arguments, e.g. ``max_value=6.0``.

    Returns:
        True when the derivative reads only y, False when it reads only x.

    Example:

    >>> gradient_reads_output("sigmoid"), gradient_reads_output("relu", max_value=6.0)
    (True, False)
    """
    if name == "relu":
        return _plain_relu(**keywords)
    return name in _FROM_OUTPUT


def builtin(activation):
    """The name and keyword arguments of a built-in activation, or None.

    Args:
        activation: any callable, e.g. :func:`elu` or
            ``functools.partial(elu, alpha=0.5)``.

    Returns:
        ``(name, keywords)``, e.g. ``("elu", {"alpha": 0.5})``, or None for a
        callable that is not one of this module's functions.
    """
    function, keywords = _unwrap(activation)
    name = getattr(function, "__name__", None)
    entry = ACTIVATIONS.get(name) if isinstance(name, str) else None
    if entry is None or entry[0] is not function:
        return None
    return name, keywords


def derivative(name, x, y, dy, **keywords):
    """dx of a built-in activation, by name, given dy.

    Args:
        name: a key of :data:`ACTIVATIONS`.
        x: the activation's input, or None where :func:`gradient_reads_output` is True.
        y: its output, or None where :func:`gradient_reads_output` is False.
        dy: the loss's gradient with respect to y.
        **keywords: the activation's keyword arguments.

    Returns:
        dx, an array of x's shape in dy's dtype.
    """
    function, local = ACTIVATIONS[name]
    dy = np.asarray(dy)
    dx = local(x, y, dy, **keywords) if function in _ALONG_AXIS else dy * local(x, y, **keywords)
    return np.asarray(dx).astype(dy.dtype, copy=False)


def gradient(activation, x, y, dy):
    """dx for ``y = activation(x)``, given ``dy``, the loss's gradient with respect to y.

    A built-in is recognised as itself (or a ``functools.partial`` of it, whose
    keywords are honoured); any other callable needs a ``gradient(x, y, dy) -> dx``
    attribute. Subgradients at kinks follow TensorFlow's autodiff of Keras's
    definitions (relu's is 0 at 0; elu and selu take the x > 0 side; hard_tanh
    passes at +-1), except celu at 0, whose derivative is 1.

    Args:
        activation: the activation function, or None (linear).
        x: its input.
        y: its output.
        dy: an array of y's shape.

    Returns:
        dx, an array of x's shape in dy's dtype.

    Example:

    >>> x = np.array([-1.0, 2.0])
    >>> gradient(relu, x, relu(x), np.array([5.0, 5.0]))
    array([0., 5.])
    """
    x, y, dy = np.asarray(x), np.asarray(y), np.asarray(dy)
    if activation is None:
        return dy
    if activation is relu:
        return dy * (y > 0)  # the common case, without the general path's temporaries
    found = builtin(activation)
    if found is None:
        custom = getattr(activation, "gradient", None)
        if callable(custom):
            return np.asarray(custom(x, y, dy))
        label = getattr(activation, "__name__", type(activation).__name__)
        raise NotImplementedError(
            f"npconv has no gradient for the custom activation {label!r}, so layers that use "
            f"it cannot be trained. Use a built-in activation from npconv.activations, or give "
            f"the callable a `gradient(x, y, dy) -> dx` attribute."
        )
    name, keywords = found
    return derivative(name, x, y, dy, **keywords)
