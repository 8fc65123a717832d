"""The layer contract: __init__ (validate) -> build (weights) -> call ->
compute_output_shape -> get_config, plus Keras's weight API."""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import re
from collections import defaultdict

import numpy as np

from .. import regularizers
from ..arguments import check_keras_init, invalid
from ..ops import as_float_array
from .node import KerasTensor, Node, is_symbolic, map_structure, symbolic_leaves

_name_counters = defaultdict(itertools.count)
_placeholders = contextvars.ContextVar("npconv_placeholder_weights", default=False)
_FLOAT_DTYPES = ("float16", "float32", "float64")


def unique_name(base):
    """Keras-style auto names: conv2d, conv2d_1, conv2d_2, ..."""
    index = next(_name_counters[base])
    return base if index == 0 else f"{base}_{index}"


def snake_case(class_name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower().replace("conv1_d", "conv1d")


def standardize_dtype(dtype):
    if dtype is None:
        return "float32"
    if isinstance(dtype, dict):  # Keras's get_config() gives a DTypePolicy dict
        dtype = dtype.get("config", {}).get("name", dtype)
    try:
        name = np.dtype(dtype).name
    except (TypeError, ValueError):
        name = None
    if name not in _FLOAT_DTYPES:
        raise invalid("dtype", f"one of {list(_FLOAT_DTYPES)}", str(dtype), error=TypeError)
    return name


# --------------------------------------------------------------------------
# argument helpers shared by every layer module
# --------------------------------------------------------------------------
def resolve(module, identifier, name):
    """``module.get(identifier)``, with the argument's name added to any error."""
    try:
        return module.get(identifier)
    except (ValueError, TypeError) as error:
        raise type(error)(f"Invalid value for argument `{name}`. {error}") from None


def serialize_or_none(module, obj):
    return None if obj is None else module.serialize(obj)


def check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise invalid(name, "True or False", value, error=TypeError)
    return bool(value)


def _drop_off_kwargs(layer, kwargs):
    """Keras passes ``mask=None`` to some layer calls (it is in every config's
    node kwargs); npconv has no masks, so only None is accepted."""
    if kwargs.pop("mask", None) is not None:
        raise invalid("mask", "None (npconv layers take no masks)", "an array")
    if kwargs:
        raise TypeError(
            f"Layer '{layer.name}' was called with unexpected keyword arguments {sorted(kwargs)}. "
            f"npconv layers take (inputs, training=None)."
        )


def require_none(name, value, reason):
    """Accept a Keras argument only as None, the value that means "off" (such
    as ``quantization_config``, which Keras 3 writes into every Dense config)."""
    if value is not None:
        raise invalid(name, f"None ({reason})", value, f"Remove `{name}` or set it to None.")


def assign_all(variables, values):
    """Set each variable from its value, after checking every dtype and shape:
    a bad entry raises and changes nothing."""
    arrays = [as_float_array(value, "weights", variable.dtype) for variable, value in zip(variables, values)]
    for variable, array in zip(variables, arrays):
        if array.shape != variable.shape:
            raise invalid("weights", f"shape {variable.shape} for weight '{variable.name}'", f"shape {array.shape}")
    for variable, array in zip(variables, arrays):
        variable.value[...] = array


@contextlib.contextmanager
def placeholder_weights():
    """Inside this block, ``add_weight`` gives each weight a read-only
    zero-memory placeholder of its shape and dtype instead of initialising it.

    The loader builds a model this way, checks every weight's shape against the
    file, and only then puts the file's arrays in place, so a config that asks
    for huge weights costs nothing before it is refused.
    """
    token = _placeholders.set(True)
    try:
        yield
    finally:
        _placeholders.reset(token)


class Variable:
    """A named weight: a NumPy array plus its regularizer and constraint.

    Args:
        value: the array.
        name: ``"<layer name>/<weight name>"``, as Keras's variable paths.
        trainable: whether optimizers update it (False for a BatchNormalization's moving statistics).
        regularizer: a penalty on the value added to the loss, or None.
        constraint: a projection applied to the value after each update, or None.
    """

    def __init__(self, value, name, trainable=True, regularizer=None, constraint=None):
        self.value = value
        self.name = name
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint
        self.grad = None  # filled by Layer.backward, summed with +=

    def add_grad(self, grad):
        """Accumulate a gradient of the loss with respect to this weight."""
        if self.grad is None:
            self.grad = np.array(grad, dtype=self.value.dtype)
        else:
            self.grad += grad

    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)
    ndim = property(lambda self: self.value.ndim)

    def numpy(self):
        """A copy of the value."""
        return self.value.copy()

    def assign(self, value):
        """Set the value; the shape must match, and the dtype is the variable's.

        Args:
            value: an array of the variable's shape.
        """
        assign_all([self], [value])

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Variable name={self.name}, shape={self.shape}, dtype={self.dtype.name}>"


class Layer:
    """Base of every npconv layer.

    The training contract: ``call(x, training)`` computes the output and keeps
    on ``self`` what ``backward`` needs; ``backward(dy, input_grad=True)``
    returns dx, the gradient with respect to the last call's input, and adds
    each weight's gradient to ``variable.grad`` (``Variable.add_grad``). With
    ``input_grad=False`` (a model's first layer) a layer may skip dx and
    return None.

    Three call forms, and what backward returns for each:

    - one array, ``layer(x)``: dx, an array shaped like x (None where the
      input has no gradient, as Embedding's integer ids);
    - a list, ``layer([a, b, ...])`` (merge layers): a list of dx, one per
      list entry, in order, each shaped like its input;
    - positional arguments, ``op(a, 3.0)`` (the operation layers Keras writes
      for ``x + 3.0``): the gradients of the array arguments only, in
      argument order (constants get none); a bare array when only one
      argument was an array, else a list.

    A graph can route all three the same way: the gradients line up with the
    call's array inputs in order, wrapped in a list when backward returned a
    bare array.

    Args:
        name: the layer's name, unique by default (``conv2d``, ``conv2d_1``, ...).
        dtype: the weights' and outputs' float dtype (default ``"float32"``).
        trainable: False freezes the layer's weights.
        activity_regularizer: a penalty on the layer's output, added to the loss, or None.
        input_shape: the input shape without the batch, for a layer that opens
            a Sequential (Keras's shortcut for an ``Input``).
        batch_size: a fixed batch size to go with ``input_shape``.
        input_dim: ``input_shape=(input_dim,)``, Keras's older spelling.
        **kwargs: none are accepted; an unknown keyword raises TypeError naming it.
    """

    def __init__(
        self,
        name=None,
        dtype=None,
        trainable=True,
        activity_regularizer=None,
        input_shape=None,
        batch_size=None,
        input_dim=None,
        **kwargs,
    ):
        check_keras_init(self, kwargs, name)
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.dtype = standardize_dtype(dtype)
        self.trainable = bool(trainable)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else tuple(input_shape)
        self._batch_size_arg = batch_size
        self._weights = []
        self.built = False
        self.input_spec_shape = None  # shape (batch excluded) fixed at build

    # ------------------------------------------------------------------ weights
    def add_weight(self, shape, initializer, name, regularizer=None, constraint=None, trainable=True):
        """Create a weight, initialised, and keep it in ``self.weights``.

        Args:
            shape: the weight's shape.
            initializer: called as ``initializer(shape, dtype=self.dtype)``.
            name: the weight's name inside the layer; the variable is named ``"<layer>/<name>"``.
            regularizer: a penalty on the weight, added to the loss, or None.
            constraint: a projection applied after each update, or None.
            trainable: False keeps optimizers off it (moving statistics).

        Returns:
            The new :class:`Variable`.
        """
        if _placeholders.get():
            value = np.broadcast_to(np.zeros((), self.dtype), tuple(shape))  # no memory, not initialised
        else:
            value = np.asarray(initializer(tuple(shape), dtype=self.dtype), dtype=self.dtype)
        variable = Variable(value, f"{self.name}/{name}", trainable, regularizer, constraint)
        self._weights.append(variable)
        return variable

    @property
    def weights(self):
        return list(self._weights)

    @property
    def trainable_weights(self):
        return [w for w in self._weights if w.trainable and self.trainable]

    @property
    def non_trainable_weights(self):
        return [w for w in self._weights if not (w.trainable and self.trainable)]

    def get_weights(self):
        """Copies of the weights' arrays, in Keras's order."""
        return [w.numpy() for w in self._weights]

    def set_weights(self, weights):
        """Set every weight at once; a wrong count or shape changes nothing.

        Args:
            weights: one array per weight, in :meth:`get_weights` order.
        """
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise invalid(
                "weights",
                f"a list of {len(self._weights)} arrays for layer '{self.name}' "
                f"(shapes {[w.shape for w in self._weights]})",
                f"a list of {len(weights)} arrays",
                "Build the layer first, or pass one array per weight, in get_weights() order.",
            )
        assign_all(self._weights, weights)

    def count_params(self):
        """The number of scalars in the weights; the layer must be built."""
        if not self.built:
            raise ValueError(
                f"Layer '{self.name}' is not built, so it has no weights to count yet. "
                f"Call it on an input or call build(input_shape) first."
            )
        return int(sum(w.value.size for w in self._weights))

    # -------------------------------------------------------------- execution
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch included); the base has none.

        Args:
            input_shape: the full input shape, e.g. ``(None, 28, 28, 1)``.
        """
        self.built = True

    def __call__(self, inputs, training=None, **kwargs):
        """Run the layer on arrays, or record a graph node on KerasTensors.

        A list or tuple of inputs (merge layers) reaches ``call`` as a list of
        arrays, and ``backward`` then returns a list of dx, one per input.
        """
        if is_symbolic(inputs) or (isinstance(inputs, (list, tuple)) and symbolic_leaves(inputs)):
            if training is not None:
                kwargs["training"] = training
            return self._symbolic_call((inputs,), kwargs)
        _drop_off_kwargs(self, kwargs)
        if isinstance(inputs, (list, tuple)):
            x = [as_float_array(value, "inputs", self.dtype) for value in inputs]
            if not self.built:
                self._build_or_undo([value.shape for value in x])
            return self.call(x, training=bool(training))
        if self.built and type(inputs) is np.ndarray and inputs.dtype == self.dtype:
            x = inputs  # the common case: skip the conversion
        else:
            x = as_float_array(inputs, "inputs", self.dtype)
            if not self.built:
                self._build_or_undo(x.shape)
        checked = (x.shape, self.input_spec_shape)
        if checked != getattr(self, "_checked", None):
            self._check_input(x.shape)
            self._checked = checked
        return self.call(x, training=bool(training))

    def _build_or_undo(self, input_shape):
        """build(input_shape); a build that raises leaves the layer unbuilt, with no weights."""
        try:
            self.build(input_shape)
        except Exception:
            self._weights, self.built = [], False
            raise

    def _symbolic_call(self, args, kwargs):
        """Record ``self(*args, **kwargs)`` on KerasTensors; returns the output
        KerasTensor (a list of them for several outputs).

        ``build`` gets the first argument's shape (a list of shapes for a
        list), ``compute_output_shape`` gets every argument with each tensor
        replaced by its shape, so constants such as ``x * 2.0`` pass through.
        """
        shapes = map_structure(lambda v: tuple(v.shape) if is_symbolic(v) else v, tuple(args))
        if not self.built:
            self._build_or_undo(shapes[0])
        elif is_symbolic(args[0]):
            self._check_input(shapes[0])
        output_shape = self.compute_output_shape(*shapes)
        several = isinstance(output_shape, list)
        outputs = [
            KerasTensor(shape, self.dtype, name=f"{self.name}_output{i}" if several else f"{self.name}_output")
            for i, shape in enumerate(output_shape if several else [output_shape])
        ]
        Node(self, args, kwargs, outputs)
        return outputs if several else outputs[0]

    # ------------------------------------------------------------ graph info
    def _node_attribute(self, attribute):
        nodes = getattr(self, "_inbound_nodes", [])
        if not nodes:
            raise AttributeError(
                f"Layer '{self.name}' has never been called on a symbolic tensor, so it has no "
                f"{attribute}. Call it on npconv.Input(...) or a layer's output first."
            )
        tensors = getattr(nodes[0], "inputs" if attribute == "input" else "outputs")
        return tensors[0] if len(tensors) == 1 else list(tensors)

    @property
    def input(self):
        """The KerasTensor(s) this layer was first called on."""
        return self._node_attribute("input")

    @property
    def output(self):
        """The KerasTensor(s) of this layer's first call."""
        return self._node_attribute("output")

    def call(self, x, training=False):
        """The forward pass on arrays; keeps on ``self`` what :meth:`backward` needs.

        Args:
            x: the input array (a list for merge layers).
            training: True inside ``fit`` (dropout drops, batch norm uses batch statistics).
        """
        return x

    def backward(self, dy, input_grad=True):
        """dx for the last call; adds weight gradients to each Variable.grad."""
        raise NotImplementedError(f"{type(self).__name__} has no backward pass yet.")

    def _check_input(self, shape):
        expected = self.input_spec_shape
        if expected is None:
            return
        mismatch = len(shape) != len(expected) + 1 or any(e is not None and e != s for e, s in zip(expected, shape[1:]))
        if mismatch:
            want = ", ".join("None" if e is None else str(e) for e in (None, *expected))
            raise ValueError(
                f"Input to layer '{self.name}' is incompatible: expected shape "
                f"({want}), received inputs with shape {tuple(shape)}. This layer was "
                f"built for that shape; create a new layer for a different channel "
                f"count or rank."
            )

    def compute_output_shape(self, input_shape):
        """The output shape for an input shape, without running the layer.

        Args:
            input_shape: the full input shape; None marks an unknown size.
        """
        return tuple(input_shape)

    # ----------------------------------------------------------------- config
    def get_config(self):
        """The constructor arguments as plain values, with Keras's keys."""
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        """A new, unbuilt layer from :meth:`get_config`'s dict.

        Args:
            config: the dict ``get_config()`` returned (or Keras wrote).
        """
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
