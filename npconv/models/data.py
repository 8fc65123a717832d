"""Where fit, evaluate and predict get their batches: arrays, a PyDataset-like
object (``__len__`` and ``__getitem__``) or a generator.

Each source yields ``(xs, ys, sample_weight)``: a list of input arrays (one
per model input), a list of targets (one per output, None where an output has
no loss) and per-sample weights or None.
"""

from __future__ import annotations

import numpy as np

from ..arguments import invalid


def is_dask_collection(value) -> bool:
    """True for a dask array (or a list, tuple or dict holding one), without importing dask.

    Args:
        value: a model input, as given to ``fit``, ``evaluate`` or ``predict``.
    """
    if isinstance(value, dict):
        return any(is_dask_collection(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_dask_collection(v) for v in value)
    return type(value).__module__.split(".")[0] == "dask"


def is_array_data(x):
    return isinstance(x, (np.ndarray, list, tuple, dict)) or np.isscalar(x) or hasattr(x, "__array__")


def make_source(model, x, y, sample_weight, batch_size, steps, shuffle=True, class_weight=None, targets=True):
    """The right source for ``x``; checks everything it can up front."""
    if x is None:
        raise invalid("x", "an array, a list or dict of arrays, a PyDataset or a generator", None)
    if is_array_data(x):
        if targets:
            xs, ys, weights = model._prepare(x, y, sample_weight, class_weight)
        else:
            xs, ys, weights = model._flatten_inputs(x, "x"), None, None
            if xs[0].ndim == 0:
                raise invalid("x", "an array with a batch dimension", xs[0].tolist())
            if len(xs[0]) == 0:
                raise invalid("x", "at least one sample", "0 samples")
        return ArraySource(model, xs, ys, weights, batch_size or 32, steps, shuffle)
    if y is not None or sample_weight is not None:
        name = "y" if y is not None else "sample_weight"
        raise invalid(
            name,
            "None when x is a dataset or generator (its batches carry the targets and weights)",
            type(y if y is not None else sample_weight).__name__,
        )
    if batch_size is not None:
        raise invalid("batch_size", "None when x is a dataset or generator (it makes its own batches)", batch_size)
    if hasattr(x, "__getitem__") and hasattr(x, "__len__"):
        return DatasetSource(model, x, steps, shuffle, class_weight, targets)
    if hasattr(x, "__iter__") or hasattr(x, "__next__"):
        return GeneratorSource(model, x, steps, class_weight, targets)
    raise invalid(
        "x", "an array, a list or dict of arrays, a PyDataset or a generator", type(x).__name__, error=TypeError
    )


def make_validation(model, validation_data, batch_size, steps):
    if isinstance(validation_data, (list, tuple)):
        if len(validation_data) not in (2, 3):
            raise invalid(
                "validation_data",
                "(x_val, y_val) or (x_val, y_val, sample_weight), or a dataset",
                f"a {type(validation_data).__name__} of {len(validation_data)} items",
            )
        try:
            return make_source(model, *validation_data, batch_size, steps, shuffle=False)
        except (ValueError, TypeError) as error:
            raise type(error)(f"Invalid `validation_data`: {error}") from None
    return make_source(model, validation_data, None, None, None, steps, shuffle=False)


def apply_class_weight(class_weight, ys, sample_weight, outputs):
    """Per-sample weights from ``{class index: weight}``: each sample's class is
    its integer label, or the argmax of a one-hot row; multiplied into
    ``sample_weight`` when both are given."""
    if not isinstance(class_weight, dict):
        raise invalid("class_weight", "a dict from class index to weight", type(class_weight).__name__, error=TypeError)
    if outputs != 1:
        raise invalid("class_weight", "None for a model with several outputs", "a dict", "Use sample_weight instead.")
    y = np.asarray(ys[0])
    labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else np.round(y.reshape(len(y), -1)[:, 0])
    labels = labels.astype("int64")
    missing = sorted(set(labels.tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise invalid("class_weight", f"a weight for every class in y (missing {missing[:10]})", sorted(class_weight))
    table = {int(key): float(value) for key, value in class_weight.items()}
    weights = np.array([table[label] for label in labels.tolist()], dtype="float64")
    return weights if sample_weight is None else weights * sample_weight


def _batch_parts(item, targets):
    """(x, y, sample_weight) from one dataset or generator item."""
    if isinstance(item, tuple):
        if not 1 <= len(item) <= 3:
            raise invalid("x", "batches of (x,), (x, y) or (x, y, sample_weight)", f"a tuple of {len(item)} items")
        x, y, weights = (*item, None, None)[:3]
    else:
        x, y, weights = item, None, None
    if targets and y is None:
        raise invalid(
            "x", "batches of (x, y) or (x, y, sample_weight) for training and evaluation", "batches of x only"
        )
    return x, y, weights


class ArraySource:
    def __init__(self, model, xs, ys, sample_weight, batch_size, steps, shuffle):
        self.model, self.xs, self.ys, self.weights = model, xs, ys, sample_weight
        self.batch_size, self.shuffle = batch_size, shuffle
        self.samples = len(xs[0])
        full = -(-self.samples // batch_size)
        self.steps = full if steps is None else min(steps, full)
        self.exhausted = False

    def batches(self, rng):
        order = rng.permutation(self.samples) if (self.shuffle and rng is not None) else None
        for step in range(self.steps):
            part = slice(step * self.batch_size, (step + 1) * self.batch_size)
            index = part if order is None else order[part]
            xs = [x[index] for x in self.xs]
            ys = None if self.ys is None else [None if y is None else y[index] for y in self.ys]
            yield xs, ys, None if self.weights is None else self.weights[index]

    def split(self, fraction):
        """(train, validation): the last ``fraction`` of the samples held out, as Keras does."""
        split_at = int(np.floor(self.samples * (1.0 - fraction)))
        if split_at in (0, self.samples):
            raise invalid(
                "validation_split", f"a fraction that leaves both parts of {self.samples} samples non-empty", fraction
            )

        def part(index):
            return ArraySource(
                self.model,
                [x[index] for x in self.xs],
                [None if y is None else y[index] for y in self.ys],
                None if self.weights is None else self.weights[index],
                self.batch_size,
                None,
                self.shuffle,
            )

        validation = part(slice(split_at, None))
        validation.weights = None  # Keras does not weight the held-out part
        return part(slice(0, split_at)), validation

    def check(self, model):
        """Run one sample through the model and the losses, in inference mode:
        a shape that does not fit raises here, before training starts."""
        xs = [x[:1] for x in self.xs]
        ys = [None if y is None else y[:1] for y in self.ys]
        try:
            model._step(xs, ys, None, training=False)
        except (ValueError, TypeError) as error:
            raise type(error)(f"Invalid `validation_data`: {error}") from None


class DatasetSource:
    """A PyDataset-like object: ``len(dataset)`` batches, ``dataset[i]`` each;
    its ``on_epoch_end()`` is called after every epoch when it has one."""

    def __init__(self, model, dataset, steps, shuffle, class_weight, targets):
        self.model, self.dataset, self.shuffle = model, dataset, shuffle
        self.class_weight, self.targets = class_weight, targets
        length = len(dataset)
        if length == 0:
            raise invalid("x", "a dataset with at least one batch", "len(x) == 0")
        self.steps = length if steps is None else min(steps, length)
        self.exhausted = False

    def batches(self, rng):
        indices = np.arange(len(self.dataset))
        if self.shuffle and rng is not None:
            indices = rng.permutation(indices)
        for index in indices[: self.steps]:
            yield _convert(self.model, self.dataset[int(index)], self.class_weight, self.targets)
        if hasattr(self.dataset, "on_epoch_end"):
            self.dataset.on_epoch_end()

    def check(self, model):
        xs, ys, _ = _convert(model, self.dataset[0], None, True)
        try:
            model._step([x[:1] for x in xs], [None if y is None else y[:1] for y in ys], None, training=False)
        except (ValueError, TypeError) as error:
            raise type(error)(f"Invalid `validation_data`: {error}") from None


class GeneratorSource:
    """A generator or iterator of batches: ``steps`` batches per epoch, or
    until it stops when ``steps`` is None."""

    def __init__(self, model, iterable, steps, class_weight, targets):
        self.model, self.steps, self.class_weight, self.targets = model, steps, class_weight, targets
        self.iterator = iter(iterable)
        self.exhausted = False

    def batches(self, rng):
        step = 0
        while self.steps is None or step < self.steps:
            try:
                item = next(self.iterator)
            except StopIteration:
                self.exhausted = True
                return
            yield _convert(self.model, item, self.class_weight, self.targets)
            step += 1

    def check(self, model):
        """A generator cannot be looked into without consuming it; its batches
        are checked as they come."""


def _convert(model, item, class_weight, targets):
    x, y, weights = _batch_parts(item, targets)
    if not targets:
        xs = model._flatten_inputs(x, "x")
        return xs, None, None
    return model._prepare(x, y, weights, class_weight)
