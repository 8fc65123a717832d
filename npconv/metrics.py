"""Keras 3 metrics on NumPy: stateful means over batches.

A metric accumulates ``total`` and ``count`` in its dtype (float32 by default,
as Keras's ``floatx``) across ``update_state`` calls; ``result()`` is their
ratio. The accuracy variants and the regression metrics are means of a
per-sample function (``MeanMetricWrapper``).

``get('accuracy')`` follows Keras 3's ``compile()``: the variant is chosen
from the shapes of y_true and y_pred, not from the loss. y_pred with one
column is binary; y_true of lower rank than y_pred, or with one column against
several, is sparse; anything else is categorical.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np

from . import losses
from ._registry import from_keras_dict, keras_dict, snake_case
from .arguments import invalid
from .losses import squeeze_or_expand_to_same_rank

__all__ = [
    "Metric",
    "Mean",
    "MeanMetricWrapper",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "get",
    "serialize",
    "deserialize",
]


# ----------------------------------------------------------- per-sample fns
def accuracy(y_true, y_pred):
    """1.0 where y_pred equals y_true exactly, else 0.0.

    Args:
        y_true: targets, ``(batch, ...)``.
        y_pred: predictions, same shape (a trailing axis of 1 may differ).

    Returns:
        float32 matches, ``(batch, ...)``.
    """
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true).astype(y_pred.dtype, copy=False)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == y_pred).astype("float32")


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``y_pred > threshold`` agrees with the 0/1 target, elementwise.

    Args:
        y_true: 0/1 targets, ``(batch, ...)``.
        y_pred: probabilities (or scores), same shape.
        threshold: the cut between 0 and 1.

    Returns:
        float32 matches, ``(batch, ...)``.
    """
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
    return (y_true == (y_pred > threshold).astype(y_true.dtype)).astype("float32")


def categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_true) == argmax(y_pred)`` over the last axis.

    Args:
        y_true: one-hot targets, ``(batch, ..., classes)``.
        y_pred: scores, ``(batch, ..., classes)``.

    Returns:
        float32 matches, ``(batch, ...)``.
    """
    y_true = np.argmax(np.asarray(y_true), axis=-1)
    y_pred = np.asarray(y_pred)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim
    if reshape:
        y_true = y_true[..., 0]
    matches = (y_true == np.argmax(y_pred, axis=-1)).astype("float32")
    return matches.reshape(original_shape) if reshape else matches


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the integer label equals ``argmax(y_pred)`` over the last axis.

    Args:
        y_true: class indices, ``(batch, ...)`` or ``(batch, ..., 1)``.
        y_pred: scores, ``(batch, ..., classes)``.

    Returns:
        float32 matches, ``(batch, ...)``.

    Example:
        >>> sparse_categorical_accuracy([1, 0], [[0.2, 0.8], [0.3, 0.7]])
        array([1., 0.], dtype=float32)
    """
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true)
    y_true = y_true.astype(y_pred.dtype if y_pred.dtype.kind == "f" else "float32", copy=False)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    if reshape:
        y_true = y_true[..., 0]
    matches = (y_true == np.argmax(y_pred, axis=-1)).astype("float32")
    if reshape:
        matches = matches.reshape(original_shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches[..., 0]
    return matches


# ----------------------------------------------------------------- classes
class Metric:
    """Base of every metric: ``update_state`` accumulates, ``result`` reads, ``reset_state`` clears.

    Args:
        name: the logged name; the snake_case class name by default.
        dtype: the dtype of the state, ``"float32"`` (Keras's default) unless given.
    """

    def __init__(self, name=None, dtype=None):
        if name is not None and not isinstance(name, str):
            raise invalid("name", "a string", name, error=TypeError)
        self.name = name or snake_case(type(self).__name__)
        self.dtype = losses._standardize_dtype("float32" if dtype is None else dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch to the state.

        Args:
            y_true: targets, ``(batch, ...)``.
            y_pred: predictions, ``(batch, ...)``.
            sample_weight: None, or per-sample weights, ``(batch,)``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement update_state().")

    def result(self):
        """The metric over every batch since the last reset, as a float."""
        raise NotImplementedError(f"{type(self).__name__} must implement result().")

    def reset_state(self):
        """Forget every batch seen so far."""
        raise NotImplementedError(f"{type(self).__name__} must implement reset_state().")

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Update the state with one batch, then return the result so far (``update_state``'s arguments)."""
        self.update_state(y_true, y_pred, sample_weight=sample_weight)
        return self.result()

    def get_config(self):
        """The constructor arguments, as Keras lists them."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        """A new metric from ``get_config()``'s dict."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def _reduce_to_samplewise(values, sample_weight, dtype):
    """Keras's reduce_to_samplewise_values with mean: per-sample values and weights."""
    values = np.asarray(values).astype(dtype, copy=False)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight).astype(dtype, copy=False)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim = sample_weight.ndim
        if values.ndim > weight_ndim:
            values = values.mean(axis=tuple(range(weight_ndim, values.ndim)))
        try:
            sample_weight = np.broadcast_to(sample_weight, values.shape)
        except ValueError:
            raise invalid(
                "sample_weight",
                f"an array that broadcasts to the per-sample values of shape {values.shape}",
                f"shape {np.shape(sample_weight)}",
                "Pass one weight per sample, shape (batch,).",
            ) from None
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = sample_weight.mean(axis=tuple(range(1, weight_ndim)))
    if values.ndim > 1:
        values = values.mean(axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Mean(Metric):
    """Weighted mean of the values passed to ``update_state(values, sample_weight)``.

    The state is ``total`` and ``count``, accumulated in ``dtype``.

    Args:
        name: the logged name.
        dtype: the dtype of the state (float32 by default).

    Example:
        >>> mean = Mean()
        >>> mean.update_state([1.0, 2.0])
        >>> mean.update_state([6.0])
        >>> mean.result()
        3.0
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        """Set ``total`` and ``count`` back to 0."""
        self.total = np.zeros((), self.dtype)
        self.count = np.zeros((), self.dtype)

    def update_state(self, values, sample_weight=None):
        """Add per-sample values to the running mean.

        Args:
            values: ``(batch, ...)``; each sample counts as the mean of its entries.
            sample_weight: None, or weights that broadcast to ``(batch, ...)``; a
                sample adds ``weight * value`` to the total and ``weight`` to the count.
        """
        values, sample_weight = _reduce_to_samplewise(values, sample_weight, self.dtype)
        self.total = self.total + values.sum(dtype=self.dtype)
        if sample_weight is not None:
            count = sample_weight.sum(dtype=self.dtype)
        else:
            count = values.shape[0] if values.ndim else 1
        self.count = self.count + np.asarray(count, self.dtype)

    def result(self):
        """total / count as a float (0.0 before any update, as Keras's divide_no_nan)."""
        return float(self.total / self.count) if self.count else 0.0


class MeanMetricWrapper(Mean):
    """Mean over samples of ``fn(y_true, y_pred, **kwargs)``.

    Args:
        fn: a function returning one value per sample (or per entry), ``(batch, ...)``.
        name: the logged name; ``fn.__name__`` by default.
        dtype: the dtype of the state (float32 by default).
        **kwargs: passed to ``fn`` on every update.
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise invalid("fn", "a function fn(y_true, y_pred) returning per-sample values", fn, error=TypeError)
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add ``fn(y_true, y_pred)`` of one batch to the running mean.

        Args:
            y_true: targets, ``(batch, ...)``.
            y_pred: predictions, ``(batch, ...)``, with as many samples as y_true.
            sample_weight: None, or per-sample weights, ``(batch,)``.
        """
        _check_batch(y_true, y_pred)
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        return super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


def _check_batch(y_true, y_pred):
    true_shape, pred_shape = np.shape(y_true), np.shape(y_pred)
    if true_shape[:1] != pred_shape[:1]:
        raise invalid(
            "y_true",
            f"as many samples as y_pred ({pred_shape[0] if pred_shape else 'a scalar'})",
            f"shape {true_shape}",
        )


class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true exactly; see ``accuracy``.

    Args:
        name: the logged name.
        dtype: the dtype of the state.
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches the 0/1 target; see ``binary_accuracy``.

    Args:
        name: the logged name.
        dtype: the dtype of the state.
        threshold: the cut between 0 and 1.

    Example:
        >>> BinaryAccuracy()([[1.0], [0.0]], [[0.7], [0.6]])
        0.5
    """

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise invalid("threshold", "a number, usually in [0, 1]", threshold, error=TypeError)
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=float(threshold))
        self.threshold = float(threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often ``argmax(y_pred)`` equals ``argmax`` of the one-hot y_true; see ``categorical_accuracy``.

    Args:
        name: the logged name.
        dtype: the dtype of the state.
    """

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often ``argmax(y_pred)`` equals the integer label; see ``sparse_categorical_accuracy``.

    Args:
        name: the logged name.
        dtype: the dtype of the state.

    Example:
        >>> SparseCategoricalAccuracy()([1, 0], [[0.2, 0.8], [0.3, 0.7]])
        0.5
    """

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class MeanSquaredError(MeanMetricWrapper):
    """Mean over samples of ``losses.mean_squared_error``.

    Args:
        name: the logged name.
        dtype: the dtype of the state.
    """

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses.mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean over samples of ``losses.mean_absolute_error``.

    Args:
        name: the logged name.
        dtype: the dtype of the state.
    """

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses.mean_absolute_error, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """Mean over samples of ``losses.binary_crossentropy``.

    Args:
        name: the logged name.
        dtype: the dtype of the state.
        from_logits: whether y_pred holds logits rather than probabilities.
        label_smoothing: in [0, 1]; pulls the targets towards 0.5.
    """

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0):
        kwargs = losses._crossentropy_kwargs(from_logits, label_smoothing)
        super().__init__(losses.binary_crossentropy, name=name, dtype=dtype, **kwargs)


class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean over samples of ``losses.categorical_crossentropy``.

    Args:
        name: the logged name.
        dtype: the dtype of the state.
        from_logits: whether y_pred holds logits rather than probabilities.
        label_smoothing: in [0, 1]; mixes the targets with the uniform distribution.
        axis: the class axis.
    """

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0, axis=-1):
        kwargs = losses._crossentropy_kwargs(from_logits, label_smoothing, axis=axis)
        super().__init__(losses.categorical_crossentropy, name=name, dtype=dtype, **kwargs)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean over samples of ``losses.sparse_categorical_crossentropy``.

    Args:
        name: the logged name.
        dtype: the dtype of the state.
        from_logits: whether y_pred holds logits rather than probabilities.
        axis: must be -1, the class axis.
    """

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, axis=-1):
        kwargs = losses._crossentropy_kwargs(from_logits, axis=axis)
        super().__init__(losses.sparse_categorical_crossentropy, name=name, dtype=dtype, **kwargs)


class _ShapeResolvedAccuracy(Metric):
    """'accuracy' before the first batch: becomes the binary, sparse or categorical
    variant when it first sees y_true and y_pred, as Keras 3's compile() does."""

    def __init__(self, name="accuracy"):
        super().__init__(name=name)
        self.resolved = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.resolved is None:
            self.resolved = accuracy_for_shapes(np.shape(y_true), np.shape(y_pred), self.name)
        self.resolved.update_state(y_true, y_pred, sample_weight)

    def result(self):
        return 0.0 if self.resolved is None else self.resolved.result()

    def reset_state(self):
        if self.resolved is not None:
            self.resolved.reset_state()

    def get_config(self):
        return self.resolved.get_config() if self.resolved is not None else Metric.get_config(self)


_CLASSES = {
    cls.__name__: cls
    for cls in (
        Mean,
        Accuracy,
        BinaryAccuracy,
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
        MeanSquaredError,
        MeanAbsoluteError,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
    )
}
_BY_NAME = {snake_case(name): cls for name, cls in _CLASSES.items()}
_BY_NAME.update(
    {
        "mse": MeanSquaredError,
        "MSE": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "MAE": MeanAbsoluteError,
        "bce": BinaryCrossentropy,
        "BCE": BinaryCrossentropy,
    }
)


def accuracy_for_shapes(y_true_shape, y_pred_shape, name="accuracy"):
    """Keras 3's choice for ``"accuracy"``: binary, sparse or categorical, from the shapes.

    Args:
        y_true_shape: the targets' shape, rank >= 1.
        y_pred_shape: the predictions' shape, rank >= 1.
        name: the name the metric logs under.

    Returns:
        A new BinaryAccuracy, SparseCategoricalAccuracy or CategoricalAccuracy
        (binary when y_pred has one column; sparse when y_true has a lower rank,
        or one column against several; categorical otherwise).

    Example:
        >>> accuracy_for_shapes((32,), (32, 10))
        <SparseCategoricalAccuracy name=accuracy>
    """
    if not tuple(y_true_shape) or not tuple(y_pred_shape):
        raise invalid("y_pred", "arrays of rank >= 1 to choose the accuracy variant", f"shape {tuple(y_pred_shape)}")
    kind = losses._label_kind(y_true_shape, y_pred_shape)
    cls = {"binary": BinaryAccuracy, "sparse": SparseCategoricalAccuracy}.get(kind, CategoricalAccuracy)
    return cls(name=name)


def _names():
    return sorted(set(_BY_NAME) | set(_CLASSES) | {"accuracy", "acc"})


def get(identifier, loss=None, y_true=None, y_pred=None):
    """A Metric from a name, a dict config, a class, a function or a Metric, named as Keras logs it.

    A string identifier becomes the metric's name (``"acc"`` logs as ``acc``,
    ``"mae"`` as ``mae``). ``"accuracy"`` / ``"acc"`` resolve as Keras 3's
    ``compile()`` does, from the shapes of y_true and y_pred: at once when they
    are given, otherwise at the first ``update_state``.

    Args:
        identifier: a name, a dict, a Metric class or instance, or a function
            returning per-sample values (wrapped in a MeanMetricWrapper).
        loss: accepted for callers written for Keras 2, whose choice followed the
            loss; Keras 3 ignores it, and so does this function.
        y_true: optional example targets, used only to resolve ``"accuracy"``.
        y_pred: optional example predictions, likewise.

    Example:
        >>> get("acc", y_true=[[0.0, 1.0]], y_pred=[[0.3, 0.7]])
        <CategoricalAccuracy name=acc>
    """
    del loss  # Keras 3 chooses the accuracy variant from shapes alone.
    if identifier is None:
        raise invalid("metrics", "a metric name or object", None, f"Known names: {_names()}.")
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            if y_true is None or y_pred is None:
                return _ShapeResolvedAccuracy(name=identifier)
            return accuracy_for_shapes(np.shape(y_true), np.shape(y_pred), identifier)
        cls = _CLASSES.get(identifier) or _BY_NAME.get(identifier)
        if cls is None:
            raise invalid("metrics", f"a metric name, one of {_names()}", identifier, "Or pass a Metric object.")
        return cls(name=identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise invalid(
        "metrics", f"a metric name (one of {_names()}) or a Metric", type(identifier).__name__, error=TypeError
    )


def serialize(metric):
    """Keras's serialized form of a metric: ``{"module", "class_name", "config", "registered_name"}``.

    Args:
        metric: a built-in Metric (not a bare MeanMetricWrapper, whose function has no name to save).
    """
    if isinstance(metric, _ShapeResolvedAccuracy):
        metric = metric.resolved if metric.resolved is not None else Accuracy(name=metric.name)
    if not isinstance(metric, Metric) or type(metric) is MeanMetricWrapper:
        raise invalid("metric", "a built-in npconv Metric", type(metric).__name__, error=TypeError)
    return keras_dict("keras.metrics", metric)


def deserialize(config):
    """A Metric from ``serialize``'s dict, or from a name accepted by ``get``.

    Args:
        config: a serialized dict or a name.
    """
    if isinstance(config, str):
        return get(config)
    return from_keras_dict(config, _CLASSES)
