"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum and Concatenate.

A merge layer takes a list of arrays and returns one: ``Add()([a, b])``.
Its ``backward(dy)`` returns a list with one gradient per input, in the
order of the call's list, each shaped like its input.

The element-wise layers broadcast as Keras does: every input must have the
same batch size; an input of lower rank gets new axes of length 1 right
after the batch axis until the ranks agree; then the other axes broadcast
NumPy's way (equal, or 1). Their gradients are summed back over the
broadcast axes.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..arguments import invalid
from ..ops import as_float_array
from .base import Layer


def _is_symbolic(value):
    """A graph tensor (it carries the layer call that made it), not an array."""
    return hasattr(value, "_keras_history")


def check_no_mask(layer, kwargs):
    """Keras passes ``mask=None`` in some node kwargs; npconv has no masks."""
    mask = kwargs.pop("mask", None)
    if mask is not None:
        raise invalid("mask", f"None (layer '{layer.name}' takes no mask)", "an array")
    if kwargs:
        raise TypeError(
            f"Layer '{layer.name}' was called with unexpected keyword arguments {sorted(kwargs)}. "
            f"It takes (inputs, training=None)."
        )


def broadcast_dims(padded):
    """The broadcast of shapes of equal rank (None: unknown), or None where two known sizes above 1 differ."""
    out = []
    for dims in zip(*padded):
        known = {d for d in dims if d not in (None, 1)}
        if len(known) > 1:
            return None
        out.append(known.pop() if known else (None if None in dims else 1))
    return tuple(out)


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


class Merge(Layer):
    """Base of the merge layers: ``call`` gets a list of arrays, ``backward``
    returns a list of their gradients. Merge layers have no weights.

    Args:
        **kwargs: base layer arguments (name, dtype, trainable).
    """

    min_inputs = 1
    max_inputs = None

    def __call__(self, inputs, training=None, **kwargs):
        if not isinstance(inputs, (list, tuple)):
            raise invalid(
                "inputs",
                f"a list of arrays for the merge layer '{self.name}'",
                f"a single {type(inputs).__name__}",
                f"Call it as {type(self).__name__}()([a, b]).",
                error=TypeError,
            )
        if any(_is_symbolic(v) for v in inputs):  # building a Functional graph
            return super().__call__(inputs, training=training, **kwargs)
        check_no_mask(self, kwargs)
        xs = [as_float_array(v, "inputs", self.dtype) for v in inputs]
        if not self.built:
            self.build([x.shape for x in xs])
        return self.call(xs, training=bool(training))

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def _check_count(self, shapes):
        n = len(shapes)
        low, high = self.min_inputs, self.max_inputs
        if n < low or (high is not None and n > high):
            count = f"exactly {low}" if low == high else f"at least {low}"
            raise invalid(
                "inputs",
                f"a list of {count} arrays for layer '{self.name}' ({type(self).__name__})",
                f"a list of {n}",
            )

    def _check_shapes(self, input_shape):
        """The shapes as tuples; a list of shapes, at least min_inputs of them, one batch size."""
        if not isinstance(input_shape, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise invalid(
                "input_shape", f"a list of shapes, one per input of the merge layer '{self.name}'", input_shape
            )
        shapes = [tuple(s) for s in input_shape]
        self._check_count(shapes)
        if any(len(s) < 1 for s in shapes):
            raise invalid("input_shape", "shapes with a batch axis", shapes)
        batches = {s[0] for s in shapes} - {None}
        if len(batches) > 1:
            raise ValueError(
                f"Layer '{self.name}' cannot merge inputs with different batch sizes. "
                f"Received inputs of shapes {', '.join(map(_shape_text, shapes))}."
            )
        return shapes


class _ElementwiseMerge(Merge):
    """An element-wise merge with Keras's broadcasting (see the module docs)."""

    def compute_output_shape(self, input_shape):
        shapes = self._check_shapes(input_shape)
        rank = max(len(s) for s in shapes)
        batch = next((s[0] for s in shapes if s[0] is not None), None)
        out = broadcast_dims([(1,) * (rank - len(s)) + s[1:] for s in shapes])
        if out is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) got inputs whose shapes do not "
                f"broadcast: {', '.join(map(_shape_text, shapes))}. Each axis after the batch "
                f"must be equal or 1 (lower-rank inputs gain axes right after the batch)."
            )
        return (batch, *out)

    def call(self, xs, training=False):
        shapes = [x.shape for x in xs]
        self.compute_output_shape(shapes)
        rank = max(x.ndim for x in xs)
        expanded = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]
        y = self._merge(expanded)
        self._cache = (shapes, expanded, y)
        return y

    def backward(self, dy, input_grad=True):
        """A list of dx, one per input: the broadcast gradient summed back to each input's shape."""
        shapes, expanded, y = self._cache
        dy = np.asarray(dy)
        grads = self._grads(dy, expanded, y)
        return [unbroadcast(g, x.shape).reshape(shape) for g, x, shape in zip(grads, expanded, shapes)]

    def _merge(self, xs):
        raise NotImplementedError

    def _grads(self, dy, xs, y):
        raise NotImplementedError


def unbroadcast(grad, shape):
    """``grad``, of a broadcast result's shape, summed back to an operand's ``shape``
    (over the leading axes the operand lacked and the axes where it has length 1)."""
    grad = np.asarray(grad)
    shape = tuple(shape)
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    if not axes:
        return np.array(np.broadcast_to(grad, shape))
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


class Add(_ElementwiseMerge):
    """Sums a list of inputs element-wise: ``Add()([a, b, c]) = a + b + c``.

    Args:
        **kwargs: base layer arguments (name, dtype, trainable).

    Call arguments:
        inputs: a list of at least one array; shapes broadcast as described
            in :mod:`npconv.layers.merging`.
    """

    def _merge(self, xs):
        y = xs[0] + xs[1] if len(xs) > 1 else xs[0].copy()
        for x in xs[2:]:
            y += x
        return y

    def _grads(self, dy, xs, y):
        return [dy] * len(xs)


class Subtract(_ElementwiseMerge):
    """``Subtract()([a, b]) = a - b``, element-wise.

    Args:
        **kwargs: base layer arguments (name, dtype, trainable).

    Call arguments:
        inputs: a list of exactly two arrays, broadcast as in Add.
    """

    min_inputs = max_inputs = 2

    def _merge(self, xs):
        return xs[0] - xs[1]

    def _grads(self, dy, xs, y):
        return [dy, -dy]


class Multiply(_ElementwiseMerge):
    """Multiplies a list of inputs element-wise: ``a * b * c``.

    Args:
        **kwargs: base layer arguments (name, dtype, trainable).

    Call arguments:
        inputs: a list of at least one array, broadcast as in Add (a
            (batch, 1, 1, channels) gate times (batch, h, w, channels) maps,
            as in squeeze-and-excite blocks).
    """

    def _merge(self, xs):
        y = xs[0] * xs[1] if len(xs) > 1 else xs[0].copy()
        for x in xs[2:]:
            y *= x
        return y

    def _grads(self, dy, xs, y):
        """dy times the product of the other inputs (no division, so zeros are safe)."""
        grads = []
        for i in range(len(xs)):
            g = dy
            for j, x in enumerate(xs):
                if j != i:
                    g = g * x
            grads.append(g)
        return grads


class Average(_ElementwiseMerge):
    """The element-wise mean of a list of inputs: ``(a + b + c) / 3``.

    Args:
        **kwargs: base layer arguments (name, dtype, trainable).

    Call arguments:
        inputs: a list of at least one array, broadcast as in Add.
    """

    def _merge(self, xs):
        return Add._merge(self, xs) / np.asarray(len(xs), dtype=xs[0].dtype)

    def _grads(self, dy, xs, y):
        return [dy / np.asarray(len(xs), dtype=dy.dtype)] * len(xs)


class _Extremum(_ElementwiseMerge):
    """Maximum / Minimum: the gradient goes to the first input that holds the
    extreme value (as TensorFlow's pairwise maximum and minimum on ties)."""

    pick = None  # np.maximum or np.minimum
    beats = None  # np.greater or np.less

    def _merge(self, xs):
        y, winner = xs[0], np.zeros((), dtype=np.intp)
        for i, x in enumerate(xs[1:], start=1):
            winner = np.where(type(self).beats(x, y), i, winner)
            y = type(self).pick(y, x)
        self._winner = winner
        return np.array(y, copy=True) if y is xs[0] else y

    def _grads(self, dy, xs, y):
        return [np.where(self._winner == i, dy, 0).astype(dy.dtype) for i in range(len(xs))]


_EXTREMUM_DOC = """The element-wise {0} of a list of inputs.

    Args:
        **kwargs: base layer arguments (name, dtype, trainable).

    Call arguments:
        inputs: a list of at least one array, broadcast as in Add. On ties
            the gradient goes to the first input holding the {0}.
    """


class Maximum(_Extremum):
    __doc__ = _EXTREMUM_DOC.format("maximum")
    pick, beats = staticmethod(np.maximum), staticmethod(np.greater)


class Minimum(_Extremum):
    __doc__ = _EXTREMUM_DOC.format("minimum")
    pick, beats = staticmethod(np.minimum), staticmethod(np.less)


class Concatenate(Merge):
    """Joins a list of inputs along ``axis``.

    Args:
        axis: the axis to join along (-1, the channels of channels_last
            maps, by default). Every other axis must have the same length in
            all inputs.
        **kwargs: base layer arguments (name, dtype, trainable).

    Call arguments:
        inputs: a list of at least one array, all of the same rank.

    Output: the inputs' shape, with ``axis`` the sum of their lengths.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
            raise invalid("axis", "an int", axis, error=TypeError)
        self.axis = int(axis)

    def _resolve_axis(self, shapes):
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(
                f"Layer '{self.name}' (Concatenate) needs inputs of one rank. Received inputs of shapes "
                f"{', '.join(map(_shape_text, shapes))}."
            )
        if not -rank <= self.axis < rank:
            raise invalid("axis", f"an axis between {-rank} and {rank - 1} for inputs of rank {rank}", self.axis)
        axis = self.axis % rank
        if axis == 0:
            raise invalid("axis", "an axis other than the batch axis 0", self.axis)
        return axis

    def compute_output_shape(self, input_shape):
        shapes = self._check_shapes(input_shape)
        axis = self._resolve_axis(shapes)
        out = list(shapes[0])
        for i in range(1, len(out)):
            if i == axis:
                out[i] = None if any(s[i] is None for s in shapes) else sum(s[i] for s in shapes)
                continue
            known = {s[i] for s in shapes} - {None}
            if len(known) > 1:
                raise ValueError(
                    f"Layer '{self.name}' (Concatenate, axis={self.axis}) needs inputs whose shapes "
                    f"match on every axis but {self.axis}. Received inputs of shapes "
                    f"{', '.join(map(_shape_text, shapes))}."
                )
            out[i] = known.pop() if known else None
        out[0] = next((s[0] for s in shapes if s[0] is not None), None)
        return tuple(out)

    def call(self, xs, training=False):
        shapes = [x.shape for x in xs]
        self.compute_output_shape(shapes)
        axis = self._resolve_axis(shapes)
        self._cache = (axis, np.cumsum([x.shape[axis] for x in xs])[:-1])
        return np.concatenate(xs, axis=axis)

    def backward(self, dy, input_grad=True):
        """A list of dx: dy split back into each input's slice along the axis."""
        axis, splits = self._cache
        return [np.ascontiguousarray(part) for part in np.split(np.asarray(dy), splits, axis=axis)]

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


# --------------------------------------------------------------------------
# Keras's functional shortcuts: keras.layers.add([a, b]) and friends
# --------------------------------------------------------------------------
def _shortcut(layer_class, what, inputs_text="a list of arrays (or graph tensors)"):
    """The function ``name(inputs, **kwargs)`` = ``layer_class(**kwargs)(inputs)``."""

    def shortcut(inputs, **kwargs):
        return layer_class(**kwargs)(inputs)

    name = layer_class.__name__
    shortcut.__name__ = shortcut.__qualname__ = name.lower()
    shortcut.__doc__ = (
        f"``{name}(**kwargs)(inputs)``: {what}.\n\n"
        f"    Args:\n        inputs: {inputs_text}.\n        **kwargs: {name}'s arguments (name, dtype).\n    "
    )
    return shortcut


add = _shortcut(Add, "the element-wise sum of a list of inputs")
subtract = _shortcut(Subtract, "``inputs[0] - inputs[1]``", "a list of exactly two arrays (or graph tensors)")
multiply = _shortcut(Multiply, "the element-wise product of a list of inputs")
average = _shortcut(Average, "the element-wise mean of a list of inputs")
maximum = _shortcut(Maximum, "the element-wise maximum of a list of inputs")
minimum = _shortcut(Minimum, "the element-wise minimum of a list of inputs")


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis, **kwargs)(inputs)``: a list of inputs joined along ``axis``.

    Args:
        inputs: a list of arrays (or graph tensors).
        axis: the axis to join along (-1 by default).
        **kwargs: Concatenate's other arguments (name, dtype).
    """
    return Concatenate(axis=axis, **kwargs)(inputs)
