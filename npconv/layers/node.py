"""Nodes: one call of a layer on symbolic tensors, as Keras records it.

A node keeps the call's ``args`` and ``kwargs`` exactly as given (KerasTensors
inside lists, dicts or tuples, plus plain constants such as the ``3.0`` in
``x + 3.0``), the flat list of its input tensors (in ``flatten`` order) and
its output tensors. A model's graph is its nodes in topological order.
"""

from __future__ import annotations


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
    from .input_layer import KerasTensor

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
