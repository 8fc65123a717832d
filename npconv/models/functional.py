"""Model: the Functional API, a graph of layer calls from inputs to outputs.

``Model(inputs, outputs)`` walks the outputs' ``_keras_history`` back to the
inputs, as Keras does: a depth-first search gives the nodes in topological
order, each node gets a depth (its longest path to an output), and the layers
are listed by decreasing depth, ties broken by the order the search met them.
That order is Keras's ``model.layers`` order, so ``get_weights()`` lines up
with a Keras model of the same config.

Forward runs the nodes by decreasing depth. Backward runs them in reverse,
adding the gradients that reach a tensor from several consumers, and giving
a layer called more than once the state it kept in that call.
"""

from __future__ import annotations

import numpy as np

from .. import layers as layers_module
from ..arguments import invalid
from ..layers.base import Layer, assign_all, unique_name
from ..layers.input_layer import InputLayer, KerasTensor
from ..layers.node import flatten, is_symbolic, map_structure
from .summary import render_summary
from .training import Trainer


class Model(Trainer, Layer):
    """A model from symbolic inputs to outputs, as ``keras.Model(inputs, outputs)``.

    Args:
        inputs: an ``npconv.Input`` tensor, or a list or dict of them.
        outputs: a KerasTensor produced from ``inputs``, or a list or dict of them.
        name: the model name ('functional', 'functional_1', ... by default).
        trainable: False freezes every layer of the model.

    A Model is itself a layer: call it on a tensor to nest it in another model,
    or add it to a Sequential.
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if inputs is None or outputs is None:
            raise TypeError(
                "npconv.Model needs inputs and outputs: Model(inputs, outputs), built from npconv.Input(...) "
                "and layer calls. Subclassing Model with a custom call() is not supported; use "
                "npconv.Sequential for a stack of layers."
            )
        Layer.__init__(self, name=name or unique_name("functional"), trainable=trainable, **kwargs)
        for label, structure in (("inputs", inputs), ("outputs", outputs)):
            leaves = flatten(structure)
            if not leaves or not all(is_symbolic(leaf) for leaf in leaves):
                bad = next((type(leaf).__name__ for leaf in leaves if not is_symbolic(leaf)), "nothing")
                raise invalid(
                    label,
                    "a KerasTensor (from npconv.Input or a layer call), or a list or dict of them",
                    bad,
                    error=TypeError,
                )
        self._inputs_struct = _plain(inputs)
        self._outputs_struct = _plain(outputs)
        self.inputs = flatten(self._inputs_struct)
        self.outputs = flatten(self._outputs_struct)
        self._nodes, self._layers = _map_graph(self.inputs, self.outputs)
        counts = {}
        for node in self._nodes:
            counts[id(node.layer)] = counts.get(id(node.layer), 0) + 1
        self._shared = {key for key, count in counts.items() if count > 1}
        self._from_inputs = {id(t) for t in self.inputs}
        self._last_use = _last_uses(self._nodes, self.outputs)
        self.built = True

    # -------------------------------------------------------------- structure
    @property
    def layers(self):
        """Every layer, InputLayers included, in Keras's order (by depth).

        As in Keras, the bare operations a config may hold (``x + 3.0`` is a
        ``keras.src.ops.numpy`` Add) are nodes of the graph but not layers."""
        return [layer for layer in self._layers if not _is_operation(layer)]

    def get_layer(self, name=None, index=None):
        """A layer by ``name`` or by ``index`` into ``model.layers``."""
        if (name is None) == (index is None):
            raise invalid("name", "exactly one of name= or index=", f"name={name!r}, index={index!r}")
        layers = self.layers
        if index is not None:
            if not isinstance(index, (int, np.integer)) or not -len(layers) <= index < len(layers):
                raise invalid("index", f"an int in [0, {len(layers)})", index)
            return layers[int(index)]
        for layer in layers:
            if layer.name == name:
                return layer
        raise invalid("name", f"one of {[layer.name for layer in layers]}", name)

    @property
    def input(self):
        """The model's input tensor(s), in the structure given to the constructor."""
        return self.inputs[0] if len(self.inputs) == 1 else self._inputs_struct

    @property
    def output(self):
        """The model's output tensor(s), in the structure given to the constructor."""
        return self.outputs[0] if len(self.outputs) == 1 else self._outputs_struct

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_names(self):
        """Loss and metric names: the dict keys of dict outputs, else the output layers' names."""
        if isinstance(self._outputs_struct, dict):
            return sorted(self._outputs_struct)
        return [t._keras_history[0].name for t in self.outputs]

    @property
    def input_names(self):
        if isinstance(self._inputs_struct, dict):
            return sorted(self._inputs_struct)
        return [t._keras_history[0].name for t in self.inputs]

    # ---------------------------------------------------------------- weights
    @property
    def weights(self):
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self):
        return [w for layer in self._layers for w in layer.trainable_weights] if self.trainable else []

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        """Set every weight from one flat list, in get_weights() order; all
        shapes are checked before any weight changes."""
        weights = list(weights)
        expected = [w.shape for w in self.weights]
        received = [tuple(np.shape(w)) for w in weights]
        if expected != received:
            want = f"{len(expected)} arrays with the shapes of model.get_weights() for model '{self.name}'"
            got = f"{len(received)} arrays"
            if len(expected) == len(received):
                i = next(i for i, (e, r) in enumerate(zip(expected, received)) if e != r)
                want = f"shape {expected[i]} for weight '{self.weights[i].name}' (position {i})"
                got = f"shape {received[i]}"
            raise invalid("weights", want, got, "Pass the list model.get_weights() returns, in that order.")
        assign_all(self.weights, weights)

    def count_params(self):
        return int(sum(w.value.size for w in self.weights))

    # -------------------------------------------------------------- execution
    def build(self, input_shape=None):
        self.built = True

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            shapes = [input_shape[key] for key in sorted(input_shape)]
        elif isinstance(input_shape, list) and len(self.inputs) > 1:
            shapes = input_shape
        else:
            shapes = [input_shape]
        values = {id(t): tuple(s) for t, s in zip(self.inputs, shapes)}
        for node in self._nodes:
            args, _ = node.resolve(values)
            out = node.layer.compute_output_shape(*args)
            for tensor, shape in zip(node.outputs, out if isinstance(out, list) else [out]):
                values[id(tensor)] = tuple(shape)
        outs = [values[id(t)] for t in self.outputs]
        return outs[0] if len(outs) == 1 else outs

    def _check_input(self, shape):
        if len(self.inputs) == 1:
            _check_shape(self.inputs[0], shape, "inputs")

    def __call__(self, inputs, training=None, **kwargs):
        if any(is_symbolic(leaf) for leaf in flatten(inputs)):
            if training is not None:
                kwargs["training"] = training
            return self._symbolic_call((inputs,), kwargs)
        kwargs.pop("mask", None)
        outputs = self._run(self._flatten_inputs(inputs, "inputs"), training=bool(training))
        return self._pack_outputs(outputs)

    def call(self, inputs, training=False):
        return self(inputs, training=training)

    def _flatten_inputs(self, x, name):
        """x (an array, a list or a dict) as a list of arrays, one per model input."""
        names = self.input_names
        if isinstance(x, dict):
            missing = [key for key in names if key not in x]
            if missing:
                raise invalid(name, f"a dict with keys {names}", f"keys {sorted(map(str, x))}")
            x = [x[key] for key in names]
        elif isinstance(x, (list, tuple)) and len(self.inputs) > 1:
            x = list(x)
        else:
            x = [x]
        if len(x) != len(self.inputs):
            raise invalid(name, f"{len(self.inputs)} arrays, one per model input {names}", f"{len(x)} arrays")
        arrays = []
        for tensor, value in zip(self.inputs, x):
            array = np.asarray(value)
            if array.dtype.kind not in "fiub":
                raise invalid(name, "numeric arrays", f"an array of dtype {array.dtype}", error=TypeError)
            if tensor.dtype.startswith("float") and array.dtype != tensor.dtype:
                array = array.astype(tensor.dtype)
            _check_shape(tensor, array.shape, name)
            arrays.append(array)
        return arrays

    def _pack_outputs(self, outputs):
        by_id = {id(t): value for t, value in zip(self.outputs, outputs)}
        return map_structure(lambda t: by_id[id(t)], self._outputs_struct)

    def _run(self, inputs, training=False):
        """Forward through the graph on a list of arrays (one per input);
        returns the list of outputs. Keeps what ``backward`` needs."""
        values = {id(t): x for t, x in zip(self.inputs, inputs)}
        self._states = {}
        for position, node in enumerate(self._nodes):
            args, kwargs = node.resolve(values)
            kwargs = dict(kwargs)
            step_training = kwargs.pop("training", training)
            result = node.layer(*args, training=step_training, **kwargs)
            results = result if len(node.outputs) > 1 else [result]
            for tensor, value in zip(node.outputs, results):
                values[id(tensor)] = value
            if id(node.layer) in self._shared:
                self._states[position] = _capture(node.layer)
            if not training:  # free what no later node needs (activity penalties read their outputs)
                for tensor in self._last_use.get(position, ()):
                    if tensor._keras_history[0].activity_regularizer is None:
                        values.pop(id(tensor), None)
        self._values = values
        return [values[id(t)] for t in self.outputs]

    def backward(self, dy, input_grad=True):
        """Gradients through the graph for the last forward.

        dy: one array per output (a list for several outputs; None for an
        output that gets no gradient). Returns dx for each input (a list for
        several inputs), or None when ``input_grad`` is False.
        """
        dys = list(dy) if len(self.outputs) > 1 else [dy]
        grads = {}
        for tensor, grad in zip(self.outputs, dys):
            if grad is not None:
                _accumulate(grads, tensor, grad)
        values = self._values
        for position in range(len(self._nodes) - 1, -1, -1):
            node = self._nodes[position]
            out_grads = [grads.pop(id(t), None) for t in node.outputs]
            if all(g is None for g in out_grads):
                continue
            out_grads = [np.zeros_like(values[id(t)]) if g is None else g for t, g in zip(node.outputs, out_grads)]
            layer = node.layer
            if layer.activity_regularizer is not None:
                out_grads = [
                    g + layer.activity_regularizer.gradient(values[id(t)]) / max(len(values[id(t)]), 1)
                    for t, g in zip(node.outputs, out_grads)
                ]
            if position in self._states:
                _restore(self._states[position])
            need = input_grad or any(id(t) not in self._from_inputs for t in node.inputs)
            dx = layer.backward(out_grads if len(node.outputs) > 1 else out_grads[0], input_grad=need)
            if not need or dx is None:
                continue
            in_grads = dx if len(node.inputs) > 1 else [dx]
            for tensor, grad in zip(node.inputs, in_grads):
                if grad is not None:
                    _accumulate(grads, tensor, grad)
        if not input_grad:
            return None
        dxs = [grads.get(id(t)) for t in self.inputs]
        return dxs if len(dxs) > 1 else dxs[0]

    def _activity_loss(self):
        """The activity regularizers' penalty for the last forward."""
        total = 0.0
        for node in self._nodes:
            layer = node.layer
            if isinstance(layer, Model):
                total += layer._activity_loss()
            if layer.activity_regularizer is not None:
                for tensor in node.outputs:
                    output = self._values[id(tensor)]
                    total += float(layer.activity_regularizer(output)) / max(len(output), 1)
        return total

    def _output_producers(self):
        """For each output, its producing layer when that layer runs once and
        feeds nothing else in the graph (so its activation may be swapped for
        the loss's logits form), else None."""
        consumed = {id(t) for node in self._nodes for t in node.inputs}
        result = []
        for tensor in self.outputs:
            layer = tensor._keras_history[0]
            safe = (
                not isinstance(layer, (InputLayer, Model))
                and id(layer) not in self._shared
                and id(tensor) not in consumed
                and sum(1 for t in self.outputs if t._keras_history[0] is layer) == 1
            )
            result.append(layer if safe else None)
        return result

    # ---------------------------------------------------------------- config
    def get_config(self):
        """Keras's Functional config: layers with ``inbound_nodes`` whose
        arguments hold ``__keras_tensor__`` entries, plus input/output layers."""
        node_index = {}
        for layer in self._layers:
            kept = 1 if _is_functional(layer) else 0  # Keras counts a Functional's own inner node first
            for index, node in enumerate(getattr(layer, "_inbound_nodes", [])):
                if node in self._node_set:
                    node_index[(id(layer), index)] = kept
                    kept += 1

        def tensor_config(tensor):
            layer, index, position = tensor._keras_history
            return [layer.name, node_index[(id(layer), index)], position]

        def serialize_arg(value):
            if is_symbolic(value):
                return {
                    "class_name": "__keras_tensor__",
                    "config": {"shape": list(value.shape), "dtype": value.dtype, "keras_history": tensor_config(value)},
                }
            if isinstance(value, tuple):
                return {"class_name": "__tuple__", "config": {"value": [serialize_arg(v) for v in value]}}
            if isinstance(value, list):
                return [serialize_arg(v) for v in value]
            if isinstance(value, dict):
                return {key: serialize_arg(v) for key, v in value.items()}
            if isinstance(value, np.generic):
                return value.item()
            return value

        entries = []
        for layer in self._layers:
            entry = serialize_layer(layer)
            entry["name"] = layer.name
            entry["inbound_nodes"] = [
                {"args": [serialize_arg(a) for a in node.args], "kwargs": serialize_arg(node.kwargs)}
                for node in layer._inbound_nodes
                if node in self._node_set and not isinstance(layer, InputLayer)
            ]
            entries.append(entry)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": entries,
            "input_layers": map_structure(tensor_config, _as_config_struct(self._inputs_struct)),
            "output_layers": map_structure(tensor_config, _as_config_struct(self._outputs_struct)),
        }

    @property
    def _node_set(self):
        nodes = set(self._nodes)
        nodes.update(t._keras_history[0]._inbound_nodes[t._keras_history[1]] for t in self.inputs)
        return nodes

    @classmethod
    def from_config(cls, config):
        """A Model from Keras's Functional config (``keras_model.get_config()``)
        or npconv's own. Layers come only from npconv's registry; no module
        named in the config is imported."""
        return functional_from_config(cls, config)

    # ---------------------------------------------------------------- saving
    def save_weights(self, filepath, max_shard_size=None):
        """Write the weights: '.weights.h5' (or, with ``max_shard_size`` in GB, sharded
        '.weights.json') in Keras 3's layout, else npconv's .npz (see npconv.saving)."""
        from ..saving import formats  # reason: import time, ~30 ms, off `import npconv`

        formats.save_weights(self, filepath, max_shard_size=max_shard_size)

    def load_weights(self, filepath):
        """Read '.weights.h5', '.weights.json', '.keras', '.h5' or npconv weights; a bad file changes nothing."""
        from ..saving import formats  # reason: import time, ~30 ms, off `import npconv`

        formats.load_weights(self, filepath)

    def save(self, filepath):
        """Write config and weights: '.keras' as Keras 3 does, '.npconv' as npconv's own archive."""
        from ..saving import formats  # reason: import time, ~30 ms, off `import npconv`

        formats.save_model(self, filepath)

    # --------------------------------------------------------------- summary
    def summary(self, line_length=None, positions=None, print_fn=None):
        """Print Keras's table: layer (type), output shape, parameter count and,
        for a graph that is not a plain chain, what each layer is connected to.

        Args:
            line_length: total width (default 88, or 108 with "Connected to"), as Keras.
            positions: the right edge of each column, as fractions of
                line_length (all <= 1) or as absolute character positions.
            print_fn: called with the table text (default ``print``).
        """
        (print_fn or print)(render_summary(self, line_length, positions, layer_stack=_is_sequential(self)))

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


# --------------------------------------------------------------------------
# graph helpers
# --------------------------------------------------------------------------
def _is_operation(layer):
    return str(getattr(type(layer), "keras_module", "")).startswith("keras.src.ops")


def _plain(structure):
    """Tuples become lists, as Keras stores them; dicts keep their order."""
    if isinstance(structure, (list, tuple)):
        return [_plain(item) for item in structure]
    if isinstance(structure, dict):
        return {key: _plain(item) for key, item in structure.items()}
    return structure


def _as_config_struct(structure):
    # Keras writes one input as a bare [name, node, index] triple.
    if isinstance(structure, list) and len(structure) == 1 and is_symbolic(structure[0]):
        return structure[0]
    return structure


def _producer(tensor):
    layer, index, _ = tensor._keras_history
    return layer._inbound_nodes[index]


def _map_graph(inputs, outputs):
    """(nodes by decreasing depth without the input nodes, layers in Keras's order)."""
    input_ids = {id(t) for t in inputs}
    finished, in_progress, ordered, first_seen = set(), set(), [], {}

    def visit(tensor):
        if tensor._keras_history is None:
            raise invalid("outputs", "tensors built from npconv.Input(...)", repr(tensor))
        node = _producer(tensor)
        if node in finished:
            return
        is_input_node = isinstance(node.layer, InputLayer)
        if not is_input_node and id(tensor) in input_ids:
            finished.add(node)
            return
        if node in in_progress:
            raise ValueError(f"The graph has a cycle through layer '{node.layer.name}'.")
        first_seen.setdefault(id(node.layer), (len(first_seen), node.layer))
        in_progress.add(node)
        for parent in node.inputs:
            visit(parent)
        finished.add(node)
        in_progress.discard(node)
        ordered.append(node)

    for tensor in outputs:
        visit(tensor)
    in_graph = set(ordered)
    node_depth, layer_depth = {}, {}
    for node in reversed(ordered):
        depth = max(node_depth.setdefault(node, 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[node] = depth
        for parent in {id(_producer(t)): _producer(t) for t in node.inputs}.values():
            if parent in in_graph:
                node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for tensor in inputs:
        node = _producer(tensor)
        if isinstance(node.layer, InputLayer) and id(node.layer) not in layer_depth:
            layer_depth[id(node.layer)] = 0
            first_seen[id(node.layer)] = (-1, node.layer)
    layers = sorted(first_seen.values(), key=lambda item: (-layer_depth[id(item[1])], item[0]))
    nodes = sorted(
        (node for node in ordered if not isinstance(node.layer, InputLayer)),
        key=lambda node: -node_depth[node],
    )
    computable = {id(t) for t in inputs}
    for node in nodes:
        for tensor in node.inputs:
            if id(tensor) not in computable:
                raise ValueError(
                    f"Graph disconnected: layer '{node.layer.name}' needs tensor '{tensor.name}', which "
                    f"cannot be computed from the model's inputs. Pass every npconv.Input the outputs "
                    f"depend on in `inputs`."
                )
        computable.update(id(t) for t in node.outputs)
    names = [layer.name for _, layer in layers]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"Layer names must be unique within a model; repeated: {duplicates}. Pass distinct name=.")
    return nodes, [layer for _, layer in layers]


def _last_uses(nodes, outputs):
    """{node position: tensors no later node needs}, to free memory in inference."""
    keep = {id(t) for t in outputs}
    last = {}
    for position, node in enumerate(nodes):
        for tensor in node.inputs:
            last[id(tensor)] = (position, tensor)
    drops = {}
    for tensor_id, (position, tensor) in last.items():
        if tensor_id not in keep and not isinstance(tensor._keras_history[0], InputLayer):
            drops.setdefault(position, []).append(tensor)
    return drops


def _accumulate(grads, tensor, grad):
    key = id(tensor)
    grads[key] = grad if key not in grads else grads[key] + grad


def _check_shape(tensor, shape, name):
    expected = tensor.shape
    if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected[1:], shape[1:])):
        raise invalid(
            name,
            f"an array of shape {tuple(expected)} for input '{tensor.name}'",
            f"an array of shape {tuple(shape)}",
            "The batch dimension may vary; the others must match the model's Input.",
        )


def _sublayers(layer):
    for sub in getattr(layer, "_layers", None) or ():
        yield sub
        yield from _sublayers(sub)


def _capture(layer):
    """A shallow copy of the attributes of ``layer`` and every layer inside it:
    what its backward needs from this call."""
    return [(obj, dict(obj.__dict__)) for obj in (layer, *_sublayers(layer))]


def _restore(state):
    for obj, attributes in state:
        obj.__dict__.update(attributes)


# --------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------
# Configs name a Functional model "Functional" (Keras 3) or "Model"; sequential.py adds "Sequential".
MODEL_CLASSES = layers_module.MODEL_CLASSES
MODEL_CLASSES.update(Functional=Model, Model=Model)


def _is_sequential(layer):
    return isinstance(layer, MODEL_CLASSES["Sequential"])


def serialize_layer(layer):
    """A layer's config entry; a nested model is written under Keras's model class names.

    Args:
        layer: a layer, a Sequential or a Functional model.
    """
    if isinstance(layer, Model):
        return {
            "module": "keras",
            "class_name": "Sequential" if _is_sequential(layer) else "Functional",
            "config": layer.get_config(),
            "registered_name": None,
        }
    return layers_module.serialize(layer)


def _deserialize_arg(value, created):
    """A node argument from its config: ``__keras_tensor__`` entries become
    the tensors already made; raises LookupError when one is not made yet."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = value.get("config", {}).get("keras_history")
            if not isinstance(history, (list, tuple)) or len(history) != 3:
                raise invalid("config", "a __keras_tensor__ with keras_history [layer, node, index]", history)
            return _node_output(created, *history)
        if value.get("class_name") == "__tuple__":
            return tuple(_deserialize_arg(v, created) for v in value.get("config", {}).get("value", []))
        if "class_name" in value:
            raise ValueError(
                f"Node argument {value.get('class_name')!r} is not supported in a model config. "
                f"npconv reads tensors, tuples, lists, dicts and plain numbers."
            )
        return {key: _deserialize_arg(v, created) for key, v in value.items()}
    if isinstance(value, (list, tuple)):  # tuples: a config straight from get_config(), not through JSON
        return type(value)(_deserialize_arg(v, created) for v in value)
    return value


class _NotYet(LookupError):
    pass


def _node_output(created, layer_name, node_index, tensor_index):
    if layer_name not in created:
        raise ValueError(f"The model config refers to layer {layer_name!r}, which it does not define.")
    layer = created[layer_name]
    nodes = getattr(layer, "_inbound_nodes", [])
    if isinstance(layer, Model) and not isinstance(layer, InputLayer) and _is_functional(layer):
        node_index -= 1  # Keras counts a nested Functional's own inner node first
    if isinstance(layer, InputLayer):
        node_index = 0
    if node_index >= len(nodes):
        raise _NotYet(layer_name)
    outputs = nodes[node_index].outputs
    if not 0 <= tensor_index < len(outputs):
        raise invalid("config", f"a tensor index below {len(outputs)} for layer {layer_name!r}", tensor_index)
    return outputs[tensor_index]


def _is_functional(layer):
    return isinstance(layer, Model) and not _is_sequential(layer)


def functional_from_config(cls, config):
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise invalid(
            "config", "a dict from Model.get_config() with a 'layers' list", type(config).__name__, error=TypeError
        )
    for key in ("input_layers", "output_layers"):
        if key not in config:
            raise invalid("config", f"a Functional config with '{key}'", sorted(config))
    created, pending = {}, []
    for entry in config["layers"]:
        layer = layers_module.deserialize(entry)
        name = entry.get("name", getattr(layer, "name", None))
        if name in created:
            raise ValueError(f"The model config defines layer {name!r} twice.")
        created[name] = layer
        nodes = entry.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise invalid(
                "config", f"a list of inbound_nodes for layer {name!r}", type(nodes).__name__, error=TypeError
            )
        pending.append([layer, list(nodes)])
    while any(nodes for _, nodes in pending):
        progressed = False
        for item in pending:
            layer, nodes = item
            while nodes:
                node = nodes[0]
                if not isinstance(node, dict) or "args" not in node:
                    raise ValueError(
                        f"Layer {layer.name!r} has an inbound node in an old (Keras 2) format, which npconv "
                        f"does not read: {str(node)[:80]}. Re-save the model with Keras 3."
                    )
                try:
                    args = _deserialize_arg(node["args"], created)
                    kwargs = _deserialize_arg(node.get("kwargs") or {}, created)
                except _NotYet:
                    break
                if kwargs.get("mask", None) is None:
                    kwargs.pop("mask", None)
                if isinstance(layer, Model) and not isinstance(layer, InputLayer):
                    layer(*args, **kwargs)
                else:
                    _call_symbolic(layer, args, kwargs)
                nodes.pop(0)
                progressed = True
        if not progressed:
            stuck = sorted(layer.name for layer, nodes in pending if nodes)
            raise ValueError(f"The model config's graph has a cycle or a missing layer; unresolved: {stuck}.")

    def leaf(value):
        if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
            try:
                return _node_output(created, *value)
            except _NotYet:
                raise ValueError(f"The model config's {value} names a node that does not exist.") from None
        if isinstance(value, dict):
            return {key: leaf(v) for key, v in value.items()}
        if isinstance(value, list):
            return [leaf(v) for v in value]
        raise invalid("config", "input/output layers as [name, node_index, tensor_index] entries", value)

    inputs = leaf(config["input_layers"])
    outputs = leaf(config["output_layers"])
    return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


def _call_symbolic(layer, args, kwargs):
    if not args:
        raise ValueError(f"Layer {layer.name!r} has an inbound node with no arguments.")
    return layer(*args, **kwargs)


__all__ = ["Model", "KerasTensor"]
