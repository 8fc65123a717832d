"""Nodes: one call of a layer on symbolic tensors, as Keras records it.

A node keeps the call's ``args`` and ``kwargs`` exactly as given (KerasTensors
inside lists, dicts or tuples, plus plain constants such as the ``3.0`` in
``x + 3.0``), the flat list of its input tensors (in ``flatten`` order) and
its output tensors. A model's graph is its nodes in topological order.
"""

from __future__ import annotations

# Keras's keras.src.ops.numpy class name -> the npconv operation layer that
# records it; filled in by op_layers (those layers are built on this module).
SYMBOLIC_OPERATIONS = {}


def flatten(structure):
    """The leaves of nested lists, tuples and dicts (dicts by sorted key, as Keras flattens them)."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    return [structure]


def map_structure(function, structure):
    """``structure`` with every leaf replaced by ``function(leaf)``."""
    if isinstance(structure, list):
        return [map_structure(function, item) for item in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(function, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(function, item) for key, item in structure.items()}
    return function(structure)


def is_symbolic(value):
    return isinstance(value, KerasTensor)


def symbolic_leaves(structure):
    return [leaf for leaf in flatten(structure) if is_symbolic(leaf)]


class Node:
    """``layer(*args, **kwargs)`` on KerasTensors, producing ``outputs``.

    Creating a node appends it to ``layer._inbound_nodes`` and stamps each
    output with its ``_keras_history``.
    """

    def __init__(self, layer, args, kwargs, outputs):
        self.layer = layer
        self.args = tuple(args)
        self.kwargs = dict(kwargs)
        self.inputs = symbolic_leaves((self.args, self.kwargs))
        self.outputs = list(outputs)
        if not hasattr(layer, "_inbound_nodes"):
            layer._inbound_nodes = []
        index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(self)
        for position, tensor in enumerate(self.outputs):
            tensor._keras_history = (layer, index, position)

    @property
    def parents(self):
        """The nodes that produced this node's inputs."""
        return [tensor._keras_history[0]._inbound_nodes[tensor._keras_history[1]] for tensor in self.inputs]

    def resolve(self, values):
        """(args, kwargs) with each input tensor replaced by ``values[id(tensor)]``."""

        def leaf(value):
            return values[id(value)] if is_symbolic(value) else value

        return map_structure(leaf, self.args), map_structure(leaf, self.kwargs)

    def __repr__(self):
        return f"<Node {self.layer.name}: {len(self.inputs)} input(s) -> {len(self.outputs)} output(s)>"


class KerasTensor:
    """A symbolic value: a shape (batch first, None where unknown) and a dtype.

    ``_keras_history`` is ``(layer, node_index, tensor_index)``: the layer
    call that produced it, as Keras records it.
    """

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self._keras_history = None

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    # Arithmetic on symbolic tensors records the operation layers Keras writes
    # for it (``x + 3.0`` is a keras.src.ops.numpy Add node), as Keras does.
    def _operation(self, class_name, *args):
        cls = SYMBOLIC_OPERATIONS.get(class_name)
        if cls is None:
            raise TypeError(f"npconv has no '{class_name}' operation layer for symbolic tensors.")
        return cls()(*args)

    def __add__(self, other):
        return self._operation("Add", self, other)

    def __radd__(self, other):
        return self._operation("Add", other, self)

    def __sub__(self, other):
        return self._operation("Subtract", self, other)

    def __rsub__(self, other):
        return self._operation("Subtract", other, self)

    def __mul__(self, other):
        return self._operation("Multiply", self, other)

    def __rmul__(self, other):
        return self._operation("Multiply", other, self)

    def __truediv__(self, other):
        return self._operation("TrueDivide", self, other)

    def __rtruediv__(self, other):
        return self._operation("TrueDivide", other, self)

    def __neg__(self):
        return self._operation("Negative", self)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            f"A symbolic KerasTensor ({self.name}, shape {self.shape}) has no values. Build a model with "
            f"npconv.Model(inputs, outputs) and call it on arrays, or use model.predict(x)."
        )
