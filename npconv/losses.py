"""Keras 3 losses on NumPy, each with its exact gradient.

Every loss has a function form that returns per-sample values, as in Keras::

    mean_squared_error(y_true, y_pred)          # (batch, *dims) -> (batch, *dims[:-1])

and a class form that reduces them (``reduction``, ``sample_weight``) and also
differentiates the reduced value with respect to ``y_pred``::

    loss = SparseCategoricalCrossentropy(from_logits=True)
    value = loss(y_true, y_pred)                # float
    dy_pred = loss.gradient(y_true, y_pred)     # same shape as y_pred

Gradients are those TensorFlow computes for the Keras formulas, including the
places where TF's chain rule differs from the mathematical derivative:

- probabilities are clipped to ``[1e-7, 1 - 1e-7]``; the clip passes the
  gradient inside that range (ends included) and blocks it outside;
- ``categorical_crossentropy`` on probabilities first divides ``y_pred`` by its
  sum over ``axis``, and the gradient flows through that division;
- the fused softmax crossentropy kernels return ``softmax - labels`` as the
  logits gradient, even when the labels do not sum to 1.

How the gradients are written: as everywhere in npconv, a backward takes the
gradient with respect to an output and returns the gradient with respect to an
input (layers: ``backward(dy) -> dx``; activations: ``gradient(x, y, dy) -> dx``).
Here each loss has one ``_<loss>_forward(y_true, y_pred, **arguments)``, whose
derivative is written right beside the forward formula, and which returns
``(values, backward, mask)``:

- ``values``: the per-sample losses, ``(batch, ...)``;
- ``backward(d_values) -> d_y_pred``: the gradient with respect to ``y_pred``
  given the gradient with respect to ``values``;
- ``mask``: where the entries count (``ignore_class``), or None.

The derivative is a closure rather than a separate function in a table (as the
activations have) because it reuses what the forward computed: the clipped
probabilities and where the clip passes, the softmax, the label mask.
``reduce_weighted_values`` then returns ``(loss, backward)`` with
``backward() -> d_values``, and ``Loss.value_and_gradient`` chains the two.
"""

from __future__ import annotations

import copy
import inspect
import numbers

import numpy as np

from ._registry import from_keras_dict, keras_dict, snake_case
from .arguments import invalid

EPSILON = 1e-7  # keras.config.epsilon()
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
_FLOAT_KINDS = "fiub"

__all__ = [
    "Loss",
    "LossFunctionWrapper",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Huber",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "get",
    "serialize",
    "deserialize",
]


# ---------------------------------------------------------------- helpers
def _as_numeric(value, name):
    array = np.asarray(value)
    if array.dtype.kind not in _FLOAT_KINDS:
        raise invalid(name, "a real-valued numeric array", f"array of dtype {array.dtype}", error=TypeError)
    return array


def _float_dtype(array, dtype=None):
    if dtype is not None:
        return np.dtype(dtype)
    return array.dtype if array.dtype.kind == "f" else np.dtype("float32")


def _prepare(y_true, y_pred, dtype=None):
    """y_pred as a float array; y_true cast to its dtype (Keras's convert_to_tensor)."""
    y_pred = _as_numeric(y_pred, "y_pred")
    y_pred = y_pred.astype(_float_dtype(y_pred, dtype), copy=False)
    y_true = _as_numeric(y_true, "y_true").astype(y_pred.dtype, copy=False)
    return y_true, y_pred


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rank matching: where two ranks differ by one and the longer ends in 1, match them.

    Args:
        x1, x2: arrays, e.g. y_true ``(batch, 1)`` and y_pred ``(batch,)``.
        expand_rank_1: if the shorter one has rank 1, give it a trailing axis
            instead of dropping the longer one's.

    Returns:
        ``(x1, x2)``, unchanged unless the rule applies.
    """
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _sum_to_shape(grad, shape):
    """Undo broadcasting: sum ``grad`` down to ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(lead))) if lead else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def _check_same_shape(y_true, y_pred, what):
    if y_true.shape != y_pred.shape:
        raise invalid(
            "y_true",
            f"an array with the shape of y_pred {y_pred.shape} ({what})",
            f"shape {y_true.shape}",
        )


def _check_axis(axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise invalid("axis", "an integer", axis, error=TypeError)
    if not -ndim <= axis < ndim:
        raise invalid("axis", f"an integer in [-{ndim}, {ndim}) for y_pred of rank {ndim}", axis)
    return int(axis) % ndim


def _clip_probabilities(p):
    """Keras's clip to [eps, 1 - eps]; returns the clipped array and where TF passes the gradient."""
    low, high = p.dtype.type(EPSILON), p.dtype.type(1.0 - EPSILON)
    return np.clip(p, low, high), (p >= low) & (p <= high)


def _mean_over(per_element, d_per_element, axis=-1, passes=None):
    """The mean of a per-element loss over ``axis``, as a forward's ``(values, backward, mask)``.

    Args:
        per_element: the elementwise loss, y_pred's shape.
        d_per_element: its derivative with respect to y_pred, same shape.
        axis: the axis averaged away.
        passes: None, or where the gradient passes (it is 0 elsewhere).
    """
    n = per_element.dtype.type(per_element.shape[axis])
    values = per_element.mean(axis=axis)

    def backward(d_values):
        d_y_pred = d_per_element * (np.expand_dims(d_values, axis) / n)
        return d_y_pred if passes is None else np.where(passes, d_y_pred, 0)

    return values, backward, None


def _log_softmax(logits, axis):
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=axis, keepdims=True)
    return shifted, exp / sum_exp, np.log(sum_exp)


# ------------------------------------------------------ forward / backward
def _mse_forward(y_true, y_pred):
    error = y_pred - y_true
    return _mean_over(np.square(error), 2 * error)


def _mae_forward(y_true, y_pred):
    error = y_pred - y_true
    return _mean_over(np.abs(error), np.sign(error))


def _huber_forward(y_true, y_pred, delta=1.0):
    error = y_pred - y_true
    abs_error = np.abs(error)
    delta = y_pred.dtype.type(delta)
    half = y_pred.dtype.type(0.5)
    quadratic = abs_error <= delta
    per_element = np.where(quadratic, half * np.square(error), delta * abs_error - half * np.square(delta))
    d_per_element = np.where(quadratic, error, delta * np.sign(error))
    return _mean_over(per_element, d_per_element)


def _sigmoid_xent_logits(labels, logits):
    """tf.nn.sigmoid_cross_entropy_with_logits, elementwise, and its gradient."""
    positive = logits >= 0
    e = np.exp(-np.abs(logits))
    loss = np.where(positive, logits, 0) - logits * labels + np.log1p(e)
    sig_part = e / (1 + e)
    grad = np.where(positive, (1 - labels) - sig_part, sig_part - labels)
    return loss, grad


def _bce_forward(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    _check_same_shape(y_true, y_pred, "binary crossentropy compares them elementwise")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        per_element, d_per_element = _sigmoid_xent_logits(y_true, y_pred)
        passes = None
    else:
        clipped, passes = _clip_probabilities(y_pred)
        per_element = -(y_true * np.log(clipped) + (1 - y_true) * np.log(1 - clipped))
        d_per_element = -y_true / clipped + (1 - y_true) / (1 - clipped)
    return _mean_over(per_element, d_per_element, _check_axis(axis, y_pred.ndim), passes)


def _softmax_xent_logits(labels, logits, axis):
    """tf.nn.softmax_cross_entropy_with_logits: its loss and TF's ``softmax - labels``."""
    shifted, softmax, log_sum_exp = _log_softmax(logits, axis)
    values = np.sum(labels * (log_sum_exp - shifted), axis=axis)
    return values, softmax - labels


def _cce_forward(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    if y_pred.ndim < 1:
        raise invalid("y_pred", "an array of rank >= 1 (..., num_classes)", "a scalar")
    _check_same_shape(y_true, y_pred, "one-hot labels, one column per class")
    axis = _check_axis(axis, y_pred.ndim)
    if label_smoothing:
        num_classes = y_pred.dtype.type(y_true.shape[-1])
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    if from_logits:
        values, d_logits = _softmax_xent_logits(y_true, y_pred, axis)
        return values, lambda d_values: np.expand_dims(d_values, axis) * d_logits, None
    total = y_pred.sum(axis=axis, keepdims=True)
    normalized = y_pred / total
    clipped, passes = _clip_probabilities(normalized)
    values = -np.sum(y_true * np.log(clipped), axis=axis)

    def backward(d_values):
        d_normalized = np.where(passes, -np.expand_dims(d_values, axis) * y_true / clipped, 0)
        d_total = np.sum(d_normalized * (-y_pred / total / total), axis=axis, keepdims=True)
        return d_normalized / total + d_total

    return values, backward, None


def _sparse_labels(y_true, y_pred, axis, ignore_class):
    """Integer labels of shape y_pred.shape[:-1], checked against the class count."""
    if axis not in (-1, y_pred.ndim - 1):
        raise invalid("axis", "-1 (sparse crossentropy reads classes from the last axis)", axis)
    if y_pred.ndim < 1:
        raise invalid("y_pred", "an array of rank >= 1 (..., num_classes)", "a scalar")
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise invalid(
            "y_true",
            f"integer labels of shape {y_pred.shape[:-1]} (or {(*y_pred.shape[:-1], 1)}) for y_pred of shape {y_pred.shape}",
            f"shape {y_true.shape}",
            "For one-hot labels use categorical_crossentropy." if y_true.shape == y_pred.shape else None,
        )
    valid = None if ignore_class is None else y_true != ignore_class
    checked = y_true if valid is None else y_true[valid]
    if not np.all(np.isfinite(checked)):
        raise invalid("y_true", "finite integer class labels", "an array containing NaN or inf")
    labels = np.where(valid, y_true, 0) if valid is not None else y_true
    labels = labels.astype(np.int64)
    num_classes = y_pred.shape[-1]
    bad = (labels < 0) | (labels >= num_classes)
    if np.any(bad):
        value = labels[bad].flat[0]
        raise invalid(
            "y_true",
            f"class labels in [0, {num_classes}) because y_pred has {num_classes} classes",
            f"an array containing the label {int(value)}",
            "Labels must be integer class indices, not one-hot rows; for one-hot labels use categorical_crossentropy.",
        )
    return labels, valid


def _sparse_xent_logits(labels, logits):
    """tf.nn.sparse_softmax_cross_entropy_with_logits and its ``softmax - one_hot``."""
    shifted, softmax, log_sum_exp = _log_softmax(logits, -1)
    picked = np.take_along_axis(shifted, labels[..., None], axis=-1)
    values = (log_sum_exp - picked)[..., 0]
    d_logits = softmax
    np.put_along_axis(d_logits, labels[..., None], np.take_along_axis(softmax, labels[..., None], -1) - 1, -1)
    return values, d_logits


def _scce_forward(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    labels, valid = _sparse_labels(y_true, y_pred, axis, ignore_class)
    if valid is not None:
        y_pred = np.where(valid[..., None], y_pred, 0)
    if from_logits:
        values, d_logits = _sparse_xent_logits(labels, y_pred)
        d_y_pred = d_logits
    else:
        clipped, passes = _clip_probabilities(y_pred)
        values, d_logits = _sparse_xent_logits(labels, np.log(clipped))
        d_y_pred = np.where(passes, d_logits / clipped, 0)
    if valid is not None:
        values = np.where(valid, values, 0)
        d_y_pred = np.where(valid[..., None], d_y_pred, 0)
    return values, lambda d_values: d_values[..., None] * d_y_pred, valid


# ----------------------------------------------------------- function form
def _function(forward, y_true, y_pred, **kwargs):
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return forward(y_true, y_pred, **kwargs)[0]


def mean_squared_error(y_true, y_pred):
    """Mean squared error over the last axis: ``mean((y_true - y_pred) ** 2, axis=-1)``.

    Args:
        y_true: targets, ``(batch, ..., d)``.
        y_pred: predictions, same shape (a trailing axis of 1 may be missing on either).

    Returns:
        Per-sample losses, ``(batch, ...)``.

    Example:
        >>> mean_squared_error([[0.0, 1.0]], [[1.0, 1.0]])
        array([0.5])
    """
    return _function(_mse_forward, y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """Mean absolute error over the last axis: ``mean(|y_true - y_pred|, axis=-1)``.

    Args:
        y_true: targets, ``(batch, ..., d)``.
        y_pred: predictions, same shape.

    Returns:
        Per-sample losses, ``(batch, ...)``.
    """
    return _function(_mae_forward, y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    """Huber loss over the last axis: quadratic near zero, linear beyond ``delta``.

    With ``e = y_pred - y_true``, each element costs ``0.5 * e**2`` where
    ``|e| <= delta`` and ``delta * |e| - 0.5 * delta**2`` elsewhere; the result
    is their mean over the last axis.

    Args:
        y_true: targets, ``(batch, ..., d)``.
        y_pred: predictions, same shape.
        delta: where the quadratic part turns linear, ``>= 0``.

    Returns:
        Per-sample losses, ``(batch, ...)``.
    """
    return _function(_huber_forward, y_true, y_pred, delta=delta)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary crossentropy of 0/1 targets, averaged over ``axis``.

    Each element costs ``-(t * log(p) + (1 - t) * log(1 - p))``, with ``p`` the
    probability clipped to ``[1e-7, 1 - 1e-7]`` (or ``sigmoid(y_pred)``, computed
    stably, when ``from_logits``).

    Args:
        y_true: targets in [0, 1], ``(batch, ..., d)``.
        y_pred: probabilities, or logits if ``from_logits``; y_true's shape.
        from_logits: whether y_pred holds logits rather than probabilities.
        label_smoothing: in [0, 1]; targets become ``t * (1 - s) + 0.5 * s``.
        axis: the axis averaged away.

    Returns:
        Per-sample losses, y_pred's shape without ``axis``.

    Example:
        >>> binary_crossentropy([[1.0, 0.0]], [[0.9, 0.2]]).round(4)
        array([0.1643])
    """
    return _function(_bce_forward, y_true, y_pred, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Crossentropy of one-hot (or soft) targets: ``-sum(y_true * log(p), axis)``.

    For probabilities, y_pred is first divided by its sum over ``axis`` and then
    clipped to ``[1e-7, 1 - 1e-7]``; for logits, ``p = softmax(y_pred)``, computed
    as a stable log-softmax.

    Args:
        y_true: one row of class weights per sample, ``(batch, ..., classes)``.
        y_pred: probabilities, or logits if ``from_logits``; y_true's shape.
        from_logits: whether y_pred holds logits.
        label_smoothing: in [0, 1]; targets become ``t * (1 - s) + s / classes``.
        axis: the class axis.

    Returns:
        Per-sample losses, ``(batch, ...)``.

    Example:
        >>> categorical_crossentropy([[0.0, 1.0, 0.0]], [[0.1, 0.8, 0.1]]).round(4)
        array([0.2231])
    """
    return _function(_cce_forward, y_true, y_pred, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Crossentropy of integer class labels: ``-log(p[label])``.

    Args:
        y_true: class indices, ``(batch, ...)`` or ``(batch, ..., 1)``.
        y_pred: probabilities, or logits if ``from_logits``, ``(batch, ..., classes)``.
        from_logits: whether y_pred holds logits.
        ignore_class: a label whose entries give a loss of 0 (None: none).
        axis: must be -1, the class axis.

    Returns:
        Per-sample losses, ``(batch, ...)``.

    Example:
        >>> sparse_categorical_crossentropy([1], [[0.1, 0.8, 0.1]]).round(4)
        array([0.2231])
    """
    return _function(_scce_forward, y_true, y_pred, from_logits=from_logits, ignore_class=ignore_class, axis=axis)


_FORWARDS = {
    mean_squared_error: _mse_forward,
    mean_absolute_error: _mae_forward,
    huber: _huber_forward,
    binary_crossentropy: _bce_forward,
    categorical_crossentropy: _cce_forward,
    sparse_categorical_crossentropy: _scce_forward,
}


# --------------------------------------------------------------- reduction
def standardize_reduction(reduction):
    """Checks a ``reduction`` name; None becomes ``"none"``.

    Args:
        reduction: one of ``"sum_over_batch_size"``, ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"``, ``"none"`` or None.
    """
    if reduction not in REDUCTIONS:
        raise invalid("reduction", f"one of {list(REDUCTIONS)}", reduction)
    return "none" if reduction is None else reduction


def _mask_weight(mask, reduction, dtype):
    """Keras's apply_mask: masked entries weigh 0; under means the rest weigh total/valid."""
    if reduction in ("mean", "sum_over_batch_size"):
        valid = mask.sum(dtype=dtype)
        ratio = dtype.type(mask.size) / valid if valid else dtype.type(0)
        return np.where(mask, ratio, dtype.type(0))
    return mask.astype(dtype)


def _combine_weights(sample_weight, mask, values, reduction):
    dtype = values.dtype
    if sample_weight is not None:
        sample_weight = _as_numeric(sample_weight, "sample_weight").astype(dtype, copy=False)
    if mask is None:
        return sample_weight
    float_mask = _mask_weight(mask, reduction, dtype)
    if sample_weight is None:
        return float_mask
    float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
    return sample_weight * float_mask


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Keras's reduction of per-sample losses, and its backward.

    Args:
        values: per-sample losses, ``(batch, ...)``.
        sample_weight: None, or weights that broadcast against ``values``, e.g. ``(batch,)``.
        mask: None, or a boolean array of values' shape: where entries count.
        reduction: how to combine: ``"sum_over_batch_size"`` (and ``"mean"``)
            divide the weighted sum by the number of entries, ``"sum"`` does not
            divide, ``"mean_with_sample_weight"`` divides by the sum of the
            weights, ``"none"`` keeps the weighted values.

    Returns:
        ``(loss, backward)``: ``backward()`` is d(loss)/d(values), values' shape
        (for ``"none"``, the gradient of the sum).
    """
    reduction = standardize_reduction(reduction)
    sample_weight = _combine_weights(sample_weight, mask, values, reduction)
    shaped, weight = values, None
    if sample_weight is not None:
        shaped, weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        try:
            weighted = shaped * weight
        except ValueError:
            raise invalid(
                "sample_weight",
                f"an array that broadcasts against the per-sample losses of shape {values.shape}",
                f"shape {sample_weight.shape}",
                "Pass one weight per sample, shape (batch,).",
            ) from None
    else:
        weighted = values
    one, zero = values.dtype.type(1), values.dtype.type(0)
    if reduction == "none" or weighted.shape in ((), (0,)):
        loss, scale = weighted, one
    elif reduction == "sum":
        loss, scale = weighted.sum(), one
    else:
        if reduction == "mean_with_sample_weight" and weight is not None:
            divisor = weight.sum(dtype=values.dtype)
        else:
            divisor = values.dtype.type(weighted.size)
        # divide_no_nan: a zero divisor gives a zero loss
        loss = weighted.sum() / divisor if divisor else zero
        scale = one / divisor if divisor else zero

    def backward():
        d_weighted = np.full(weighted.shape, scale, dtype=values.dtype)
        if weight is None:
            return d_weighted
        return _sum_to_shape(d_weighted * weight, shaped.shape).reshape(values.shape)

    return loss, backward


# ------------------------------------------------------------------ classes
class Loss:
    """Base of every loss: per-sample values, reduced, and their gradient.

    Subclasses implement ``forward(y_true, y_pred) -> (values, backward, mask)``
    on arrays already cast to the computation dtype (see the module docstring).

    Args:
        name: the name logged for this loss; the snake_case class name by default.
        reduction: how per-sample values combine into one number; see
            ``reduce_weighted_values``.
        dtype: None computes in y_pred's float dtype (float32 for integer y_pred).
            Keras computes in ``keras.config.floatx()`` (float32) unless told;
            pass ``dtype='float32'`` to reproduce that for float64 inputs.
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if name is not None and not isinstance(name, str):
            raise invalid("name", "a string", name, error=TypeError)
        self.name = name or snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self.dtype = None if dtype is None else _standardize_dtype(dtype)

    def forward(self, y_true, y_pred):
        """Per-sample values and their backward: ``(values, backward, mask)``.

        Args:
            y_true: targets, already in the computation dtype.
            y_pred: predictions, ``(batch, ...)``, likewise.

        Returns:
            ``values`` ``(batch, ...)``; ``backward(d_values) -> d_y_pred``;
            ``mask``, a boolean array of values' shape or None.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement forward(y_true, y_pred).")

    def call(self, y_true, y_pred):
        """Per-sample loss values, before reduction.

        Args:
            y_true: targets, ``(batch, ...)``.
            y_pred: predictions, ``(batch, ...)``.

        Returns:
            An array, ``(batch, ...)`` (the loss's reduced axis removed).
        """
        y_true, y_pred = _prepare(y_true, y_pred, self.dtype)
        return self.forward(y_true, y_pred)[0]

    def _run(self, y_true, y_pred, sample_weight):
        y_true, y_pred = _prepare(y_true, y_pred, self.dtype)
        values, backward, mask = self.forward(y_true, y_pred)
        loss, reduce_backward = reduce_weighted_values(values, sample_weight, mask, self.reduction)
        return loss, backward, reduce_backward, y_pred

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss of a batch.

        Args:
            y_true: targets, ``(batch, ...)``.
            y_pred: predictions, ``(batch, ...)``.
            sample_weight: None, or per-sample weights, e.g. ``(batch,)``.

        Returns:
            A float (an array of per-sample losses for ``reduction="none"``).
        """
        loss = self._run(y_true, y_pred, sample_weight)[0]
        return loss if self.reduction == "none" else float(loss)

    def value_and_gradient(self, y_true, y_pred, sample_weight=None):
        """The reduced loss and its gradient with respect to ``y_pred``, in one pass.

        Args:
            y_true: targets, ``(batch, ...)``.
            y_pred: predictions, ``(batch, ...)``.
            sample_weight: None, or per-sample weights.

        Returns:
            ``(loss, d_y_pred)``: loss as ``__call__`` returns it; d_y_pred has
            y_pred's shape (and its dtype, when float).
        """
        y_pred_in = np.asarray(y_pred)
        loss, backward, reduce_backward, y_pred = self._run(y_true, y_pred, sample_weight)
        grad = np.asarray(backward(reduce_backward()), dtype=y_pred.dtype).reshape(y_pred_in.shape)
        if y_pred_in.dtype.kind == "f":
            grad = grad.astype(y_pred_in.dtype, copy=False)
        return (loss if self.reduction == "none" else float(loss)), grad

    def gradient(self, y_true, y_pred, sample_weight=None):
        """d(reduced loss)/d(y_pred), y_pred's shape (for ``reduction="none"``: of the sum).

        Args:
            y_true: targets, ``(batch, ...)``.
            y_pred: predictions, ``(batch, ...)``.
            sample_weight: None, or per-sample weights.
        """
        return self.value_and_gradient(y_true, y_pred, sample_weight)[1]

    def logits_equivalent(self, activation):
        """The loss Keras's TensorFlow backend really computes after ``activation``.

        When y_pred comes straight out of a ``softmax`` or ``sigmoid`` (a Dense
        activation or an Activation layer), Keras 3 on TensorFlow computes the
        three crossentropies from the cached pre-activation logits instead of
        the probabilities: no clipping, no renormalising. This returns that
        loss (a copy with ``from_logits=True``) to apply to the logits, or None
        where Keras uses y_pred as it is.
        """
        return None

    def get_config(self):
        """The constructor arguments, as Keras lists them."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        """A new loss from ``get_config()``'s dict."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """A loss function used as a Loss: Keras's rank matching, then ``fn(y_true, y_pred, **kwargs)``.

    The functions of this module have exact gradients. Any other ``fn`` gives
    values only; for its gradient, subclass ``Loss`` and implement ``forward``.

    Args:
        fn: a function ``fn(y_true, y_pred, **kwargs)`` returning per-sample losses.
        reduction: see ``Loss``.
        name: the logged name; ``fn.__name__`` by default.
        dtype: see ``Loss``.
        **kwargs: passed to ``fn`` on every call.
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise invalid("fn", "a loss function such as npconv.losses.mean_squared_error", fn, error=TypeError)
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def forward(self, y_true, y_pred):
        """``fn``'s values after rank matching, with its gradient when ``fn`` is one of this module's."""
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        forward = _FORWARDS.get(self.fn)
        if forward is not None:
            return forward(y_true, y_pred, **self._fn_kwargs)
        values = np.asarray(self.fn(y_true, y_pred, **self._fn_kwargs))

        def backward(d_values):
            raise ValueError(
                f"The loss function {getattr(self.fn, '__name__', self.fn)!r} has no gradient in npconv. "
                f"Subclass npconv.losses.Loss and implement forward(y_true, y_pred) returning "
                f"(values, backward, mask)."
            )

        return values, backward, None

    def logits_equivalent(self, activation):
        if self.fn in _CROSSENTROPY_CLASSES:
            return _CROSSENTROPY_CLASSES[self.fn](
                name=self.name, reduction=self.reduction, dtype=self.dtype, **self._fn_kwargs
            ).logits_equivalent(activation)
        return None

    def get_config(self):
        return {**super().get_config(), "fn": getattr(self.fn, "__name__", None), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" not in config:
            return cls(**config)
        fn = config.pop("fn")
        if isinstance(fn, str):
            if fn not in _FUNCTIONS:
                raise invalid("fn", f"one of {sorted(_FUNCTIONS)}", fn)
            fn = _FUNCTIONS[fn]
        return cls(fn, **config)

    def __repr__(self):
        return f"<LossFunctionWrapper({getattr(self.fn, '__name__', self.fn)}, kwargs={self._fn_kwargs})>"


class _BuiltinLoss(LossFunctionWrapper):
    """A Keras loss class around one of this module's functions.

    The function's keyword arguments are also attributes (``loss.from_logits``),
    and ``get_config`` lists those named in ``_config_keys``, as Keras does.
    """

    _config_keys = ()

    def __init__(self, fn, reduction, name, dtype, **kwargs):
        super().__init__(fn, reduction=reduction, name=name, dtype=dtype, **kwargs)
        self.__dict__.update(kwargs)

    def get_config(self):
        return {**Loss.get_config(self), **{key: getattr(self, key) for key in self._config_keys}}


class MeanSquaredError(_BuiltinLoss):
    """Mean of squared errors over the last axis, reduced over the batch.

    Args:
        reduction: see ``Loss``; the mean over the batch by default.
        name: the logged name.
        dtype: see ``Loss``.

    Example:
        >>> loss = MeanSquaredError()
        >>> loss([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
        0.5
        >>> loss.gradient([[0.0, 1.0]], [[1.0, 1.0]])
        array([[1., 0.]])
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction, name, dtype)


class MeanAbsoluteError(_BuiltinLoss):
    """Mean of absolute errors over the last axis, reduced over the batch.

    Args:
        reduction: see ``Loss``.
        name: the logged name.
        dtype: see ``Loss``.

    Example:
        >>> MeanAbsoluteError()([[0.0, 1.0]], [[1.0, 1.0]])
        0.5
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction, name, dtype)


class Huber(_BuiltinLoss):
    """Huber loss: quadratic for errors up to ``delta``, linear beyond; see ``huber``.

    Args:
        delta: where the quadratic part turns linear, ``>= 0``. Keras's own
            ``get_config`` leaves it out; npconv keeps it.
        reduction: see ``Loss``.
        name: the logged name.
        dtype: see ``Loss``.

    Example:
        >>> Huber(delta=1.0)([[0.0]], [[3.0]])
        2.5
    """

    # Keras leaves delta out (so its round trip resets it to 1.0); npconv keeps it.
    _config_keys = ("delta",)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not delta >= 0:
            raise invalid("delta", "a non-negative number", delta)
        super().__init__(huber, reduction, name, dtype, delta=float(delta))


def _crossentropy_kwargs(from_logits, label_smoothing=None, **others):
    """The checked keyword arguments of a crossentropy: from_logits a bool,
    label_smoothing (unless None) a float in [0, 1], then ``others`` as given."""
    if not isinstance(from_logits, (bool, np.bool_)):
        raise invalid("from_logits", "True or False", from_logits, error=TypeError)
    kwargs = {"from_logits": bool(from_logits)}
    if label_smoothing is not None:
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
            raise invalid("label_smoothing", "a float in [0, 1]", label_smoothing, error=TypeError)
        if not 0 <= label_smoothing <= 1:
            raise invalid("label_smoothing", "a float in [0, 1]", label_smoothing)
        kwargs["label_smoothing"] = float(label_smoothing)
    return {**kwargs, **others}


class _Crossentropy(_BuiltinLoss):
    _config_keys = ("from_logits", "label_smoothing", "axis")

    def logits_equivalent(self, activation):
        name = getattr(activation, "__name__", activation)
        if name not in ("softmax", "sigmoid") or getattr(self, "ignore_class", None) is not None:
            return None
        twin = copy.copy(self)
        twin.from_logits = True
        twin._fn_kwargs = {**self._fn_kwargs, "from_logits": True}
        return twin


class BinaryCrossentropy(_Crossentropy):
    """Crossentropy of 0/1 targets, averaged over ``axis``; see ``binary_crossentropy``.

    Shapes: ``y_true`` and ``y_pred`` are ``(batch, ..., d)``; the per-sample
    losses drop ``axis``.

    Args:
        from_logits: whether y_pred holds logits rather than probabilities in [0, 1].
        label_smoothing: in [0, 1]; pulls the targets towards 0.5.
        axis: the axis averaged away.
        reduction: see ``Loss``.
        name: the logged name.
        dtype: see ``Loss``.

    Example:
        >>> loss = BinaryCrossentropy(from_logits=True)
        >>> round(loss([[1.0], [0.0]], [[2.0], [-1.0]]), 4)
        0.2201
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        kwargs = _crossentropy_kwargs(from_logits, label_smoothing, axis=axis)
        super().__init__(binary_crossentropy, reduction, name, dtype, **kwargs)


class CategoricalCrossentropy(_Crossentropy):
    """Crossentropy of one-hot targets along ``axis``; see ``categorical_crossentropy``.

    Probabilities are renormalised to sum to 1 along ``axis`` and clipped to
    ``[1e-7, 1 - 1e-7]``; with ``from_logits`` the softmax is folded into a stable
    log-softmax, and the gradient with respect to the logits is ``softmax - y_true``.

    Shapes: ``y_true`` and ``y_pred`` are ``(batch, ..., classes)``; the
    per-sample losses are ``(batch, ...)``.

    Args:
        from_logits: whether y_pred holds logits rather than probabilities.
        label_smoothing: in [0, 1]; mixes the targets with the uniform distribution.
        axis: the class axis.
        reduction: see ``Loss``.
        name: the logged name.
        dtype: see ``Loss``.

    Example:
        >>> loss = CategoricalCrossentropy()
        >>> round(loss([[0.0, 1.0, 0.0]], [[0.1, 0.8, 0.1]]), 4)
        0.2231
        >>> loss.gradient([[0.0, 1.0]], [[0.5, 0.5]])
        array([[ 1., -1.]])
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
    ):
        kwargs = _crossentropy_kwargs(from_logits, label_smoothing)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise invalid("axis", "an integer", axis, error=TypeError)
        super().__init__(categorical_crossentropy, reduction, name, dtype, **kwargs, axis=int(axis))


class SparseCategoricalCrossentropy(_Crossentropy):
    """Crossentropy of integer labels; see ``sparse_categorical_crossentropy``.

    Shapes: ``y_true`` is ``(batch, ...)`` (or ``(batch, ..., 1)``), ``y_pred``
    is ``(batch, ..., classes)``; the per-sample losses are ``(batch, ...)``.

    Args:
        from_logits: whether y_pred holds logits rather than probabilities.
        ignore_class: a label whose entries count neither in the sum nor in the
            mean (None: every label counts).
        reduction: see ``Loss``.
        axis: must be -1, the class axis.
        name: the logged name.
        dtype: see ``Loss``.

    Example:
        >>> loss = SparseCategoricalCrossentropy(from_logits=True)
        >>> round(loss([0, 1], [[2.0, 0.0], [0.0, 2.0]]), 4)
        0.1269
    """

    _config_keys = ("from_logits", "ignore_class")

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        kwargs = _crossentropy_kwargs(from_logits)
        if ignore_class is not None and (
            isinstance(ignore_class, bool) or not isinstance(ignore_class, numbers.Integral)
        ):
            raise invalid("ignore_class", "None or an integer class id", ignore_class, error=TypeError)
        ignore_class = None if ignore_class is None else int(ignore_class)
        super().__init__(
            sparse_categorical_crossentropy, reduction, name, dtype, **kwargs, ignore_class=ignore_class, axis=axis
        )


_CROSSENTROPY_CLASSES = {
    binary_crossentropy: BinaryCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
}
_CLASSES = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        Huber,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        LossFunctionWrapper,
    )
}
_FUNCTIONS = {fn.__name__: fn for fn in _FORWARDS}
_ALIASES = {
    "mse": mean_squared_error,
    "MSE": mean_squared_error,
    "mae": mean_absolute_error,
    "MAE": mean_absolute_error,
    "bce": binary_crossentropy,
    "BCE": binary_crossentropy,
}


# ---------------------------------------------------------------- lookup
def _standardize_dtype(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in ("float16", "float32", "float64"):
        raise invalid("dtype", "None, 'float16', 'float32' or 'float64'", str(dtype), error=TypeError)
    return name


def _names():
    return sorted(set(_CLASSES) - {"LossFunctionWrapper"} | set(_FUNCTIONS) | set(_ALIASES))


def serialize(loss):
    """Keras's serialized form of a loss: ``{"module", "class_name", "config", "registered_name"}``.

    Args:
        loss: a Loss, or one of this module's functions.
    """
    if inspect.isfunction(loss):
        return {"module": "builtins", "class_name": "function", "config": loss.__name__, "registered_name": "function"}
    if not isinstance(loss, Loss):
        raise invalid("loss", "an npconv Loss or loss function", type(loss).__name__, error=TypeError)
    return keras_dict("keras.losses", loss)


def deserialize(config):
    """A Loss from ``serialize``'s dict, or from a name.

    Args:
        config: a serialized dict, or a name accepted by ``get``.
    """
    if isinstance(config, str):
        return get(config)
    if isinstance(config, dict) and config.get("class_name") == "function":
        return get(config["config"])
    return from_keras_dict(config, _CLASSES)


def get(identifier, y_true=None, y_pred=None):
    """A Loss from a name, a dict config, a class, a function or a Loss.

    Names are Keras's: class names (``"BinaryCrossentropy"``), function names
    (``"binary_crossentropy"``) and the aliases ``"mse"``, ``"mae"``, ``"bce"``.
    Functions come back wrapped in a LossFunctionWrapper named after the
    identifier, as Keras's ``compile()`` wraps them. ``"crossentropy"`` /
    ``"ce"`` pick binary (y_pred has one column), sparse (y_true has a lower
    rank, or one column against several) or categorical from the shapes.

    Args:
        identifier: None (gives None), a name, a dict, a Loss class or instance, or a callable.
        y_true: optional example targets, used only to resolve ``"crossentropy"``.
        y_pred: optional example predictions, likewise.

    Example:
        >>> get("mse")
        <LossFunctionWrapper(mean_squared_error, kwargs={})>
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() in ("crossentropy", "ce"):
            fn = _crossentropy_for_shapes(identifier, y_true, y_pred)
            return LossFunctionWrapper(fn, name=identifier)
        if identifier in _CLASSES and identifier != "LossFunctionWrapper":
            return _CLASSES[identifier]()
        fn = _FUNCTIONS.get(identifier) or _ALIASES.get(identifier)
        if fn is None:
            raise invalid("loss", f"one of {_names()}", identifier, "Or pass a npconv.losses.Loss object.")
        return LossFunctionWrapper(fn, name=identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise invalid(
        "loss", f"a loss name (one of {_names()}) or a Loss object", type(identifier).__name__, error=TypeError
    )


def _crossentropy_for_shapes(identifier, y_true, y_pred):
    if y_true is None or y_pred is None:
        raise invalid(
            "loss",
            "a specific crossentropy name when no data shapes are known",
            identifier,
            "Pass y_true and y_pred, or name the loss ('binary_crossentropy', ...).",
        )
    kind = _label_kind(np.shape(y_true), np.shape(y_pred))
    return {"binary": binary_crossentropy, "sparse": sparse_categorical_crossentropy}.get(
        kind, categorical_crossentropy
    )


def _label_kind(y_true_shape, y_pred_shape):
    """Which labels Keras 3's ``compile()`` assumes for 'crossentropy' and 'accuracy'.

    Args:
        y_true_shape: the labels' shape, rank >= 1.
        y_pred_shape: the predictions' shape, rank >= 1.

    Returns:
        ``"binary"`` when y_pred has one column; ``"sparse"`` when y_true has a
        lower rank, or one column against several; ``"categorical"`` otherwise.
    """
    true_shape, pred_shape = tuple(y_true_shape), tuple(y_pred_shape)
    if pred_shape[-1] == 1:
        return "binary"
    if len(true_shape) < len(pred_shape) or (true_shape[-1] == 1 and pred_shape[-1] > 1):
        return "sparse"
    return "categorical"
