"""Sequential: a stack of layers, each feeding the next."""

from __future__ import annotations

import numpy as np

from .. import layers as layers_module
from ..arguments import invalid
from ..layers.base import Layer, unique_name
from ..layers.input_layer import InputLayer, KerasTensor
from .functional import MODEL_CLASSES, Model, _check_shape, serialize_layer


class Sequential(Model):
    """A linear stack of layers, as ``keras.Sequential``.

    Args:
        layers: the layers in order; an ``npconv.Input(...)`` may come first.
        trainable: False freezes every layer.
        name: the model name ('sequential', 'sequential_1', ... by default).

    The input shape comes from an ``Input``/``InputLayer`` first entry, from
    ``input_shape=`` on the first layer, or from the first call. Any layer
    fits, a Sequential or a Model included.
    """

    def __init__(self, layers=None, trainable=True, name=None):
        if name is not None and not isinstance(name, str):
            raise invalid("name", "a string", name, error=TypeError)
        Layer.__init__(self, name=name or unique_name("sequential"), trainable=trainable)
        self._layers = []
        self._input_layer = None
        self.built = False
        for layer in layers or ():
            self.add(layer)

    # -------------------------------------------------------------- structure
    @property
    def layers(self):
        """The layers, without the InputLayer (as in Keras 3)."""
        return list(self._layers)

    def add(self, layer):
        """Append a layer; build it now when the input shape is known.

        A layer that does not fit the current output shape is rejected and the
        model is left as it was.
        """
        if isinstance(layer, KerasTensor):  # Input(...): its InputLayer
            source = layer._keras_history[0] if layer._keras_history else None
            layer = source if isinstance(source, InputLayer) else layer
        if not isinstance(layer, Layer):
            raise invalid("layer", "an npconv layer or npconv.Input(...)", type(layer).__name__, error=TypeError)
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError(
                    f"An InputLayer can only come first in Sequential '{self.name}'. "
                    f"Received it after {len(self._layers)} layer(s)."
                )
            self._input_layer = layer
            return
        if any(existing is layer for existing in self._layers):
            raise ValueError(f"Layer '{layer.name}' is already in model '{self.name}'; create a new layer.")
        input_layer = self._input_layer
        if not self._layers and input_layer is None and layer._input_shape_arg is not None:
            input_layer = InputLayer(
                layer._input_shape_arg, layer._batch_size_arg, dtype=layer.dtype, name=f"{layer.name}_input"
            )
        input_shape = self._output_shape_so_far(input_layer)
        if input_shape is not None:
            _build_layer(layer, input_shape)
        self._input_layer = input_layer
        self._layers.append(layer)
        self.built = input_shape is not None

    def pop(self):
        """Remove the last layer and return it."""
        if not self._layers:
            raise ValueError(f"Model '{self.name}' has no layers to pop.")
        return self._layers.pop()

    def _output_shape_so_far(self, input_layer=None):
        input_layer = input_layer or self._input_layer
        if input_layer is None:
            return None
        shape = input_layer.batch_shape
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def build(self, input_shape=None):
        """Build every layer for ``input_shape`` (batch included)."""
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(
                    f"Model '{self.name}' cannot be built without an input shape. "
                    f"Pass input_shape to build(), add npconv.Input(shape) first, or "
                    f"call the model on data."
                )
            input_shape = self._input_layer.batch_shape
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = _build_layer(layer, shape)
        if self._input_layer is None:
            self._input_layer = InputLayer(batch_shape=shape_with_none_batch(input_shape), name=f"{self.name}_input")
        self.built = True

    # -------------------------------------------------------------- execution
    def __call__(self, x, training=None, **kwargs):
        if isinstance(x, KerasTensor):
            if training is not None:
                kwargs["training"] = training
            return self._symbolic_call((x,), kwargs)
        kwargs.pop("mask", None)
        return self._run(self._flatten_inputs(x, "inputs"), training=bool(training))[0]

    def call(self, x, training=None):
        return self(x, training=training)

    def _check_input(self, shape):
        if self._input_layer is not None:
            _check_shape(self._input_layer.output, shape, "inputs")

    def _flatten_inputs(self, x, name):
        if isinstance(x, (list, tuple, dict)) and not isinstance(x, np.ndarray):
            if isinstance(x, dict) or (len(x) == 1 and np.ndim(x[0]) >= 1 and not np.isscalar(x[0])):
                values = list(x.values()) if isinstance(x, dict) else list(x)
                if len(values) != 1:
                    raise invalid(name, "one array (a Sequential has one input)", f"{len(values)} arrays")
                x = values[0]
        array = np.asarray(x)
        if array.ndim == 0:
            raise invalid(name, "an array with a batch dimension", array.tolist())
        if array.dtype.kind not in "fiub":
            raise invalid(name, "a numeric array", f"an array of dtype {array.dtype}", error=TypeError)
        if not self.built:
            self.build(array.shape)
        return [array]

    def _pack_outputs(self, outputs):
        return outputs[0]

    def _run(self, inputs, training=False):
        x = inputs[0]
        self._outputs_seen = []
        for layer in self._layers:
            x = layer(x, training=training)
            self._outputs_seen.append(x)
        return [x]

    def backward(self, dy, input_grad=True):
        """dx for the last forward (None when ``input_grad`` is False)."""
        first = self._layers[0] if self._layers else None
        for layer, output in zip(reversed(self._layers), reversed(self._outputs_seen)):
            if layer.activity_regularizer is not None:
                dy = dy + layer.activity_regularizer.gradient(output) / max(len(output), 1)
            dy = layer.backward(dy, input_grad=input_grad or layer is not first)
        return dy if input_grad else None

    def _activity_loss(self):
        total = 0.0
        for layer, output in zip(self._layers, getattr(self, "_outputs_seen", [])):
            if isinstance(layer, Model):
                total += layer._activity_loss()
            if layer.activity_regularizer is not None:
                total += float(layer.activity_regularizer(output)) / max(len(output), 1)
        return total

    def _output_producers(self):
        last = self._layers[-1] if self._layers else None
        return [None if isinstance(last, Model) else last]

    @property
    def output_names(self):
        return [self._layers[-1].name if self._layers else self.name]

    @property
    def inputs(self):
        return [] if self._input_layer is None else [self._input_layer.output]

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    @property
    def input_shape(self):
        return None if self._input_layer is None else self._input_layer.batch_shape

    @property
    def output_shape(self):
        return self._output_shape_so_far()

    def explain(self):
        """The shape chain, layer by layer, with each conv's pads (see npconv.explain)."""
        from ..explain import explain_model  # reason: import time, ~30 ms measured, off `import npconv`

        return explain_model(self)

    # ----------------------------------------------------------------- config
    def get_config(self):
        entries = []
        if self._input_layer is not None:
            entries.append(layers_module.serialize(self._input_layer))
        entries.extend(serialize_layer(layer) for layer in self._layers)
        return {"name": self.name, "trainable": self.trainable, "layers": entries}

    @classmethod
    def from_config(cls, config):
        if not isinstance(config, dict) or "layers" not in config:
            raise invalid("config", "a dict from Sequential.get_config()", type(config).__name__, error=TypeError)
        built = [layers_module.deserialize(entry) for entry in config["layers"]]
        return cls(built, trainable=config.get("trainable", True), name=config.get("name"))


def shape_with_none_batch(shape):
    return (None, *tuple(shape)[1:])


def _build_layer(layer, input_shape):
    """Check, then build, one layer; undo a partial build. Returns its output shape."""
    output_shape = layer.compute_output_shape(input_shape)
    if not layer.built:
        try:
            layer.build(input_shape)
        except Exception:
            layer._weights, layer.built = [], False
            raise
    else:
        layer._check_input(input_shape)
    return output_shape


__all__ = ["Sequential"]


MODEL_CLASSES["Sequential"] = Sequential
