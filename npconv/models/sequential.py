"""Sequential: a stack of layers, each feeding the next."""

from __future__ import annotations

import sys
import time

import numpy as np

from .. import layers as layers_module
from ..arguments import invalid
from ..distributed import is_dask_collection
from ..layers.base import Layer, assign_all, unique_name
from ..layers.input_layer import InputLayer, KerasTensor
from .training import Trainer


class Sequential(Trainer):
    """A linear stack of layers, as ``keras.Sequential``.

    The input shape comes from an ``Input``/``InputLayer`` first entry, from
    ``input_shape=`` on the first layer, or from the first call.
    """

    def __init__(self, layers=None, trainable=True, name=None):
        if name is not None and not isinstance(name, str):
            raise invalid("name", "a string", name, error=TypeError)
        self.name = name or unique_name("sequential")
        self.trainable = trainable
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
        if isinstance(layer, KerasTensor):
            layer = layer._input_layer
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
    def __call__(self, x, training=None):
        return self.call(x, training=training)

    def call(self, x, training=None):
        if not self.built:
            self.build(np.shape(x))
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Run the model over ``x`` in batches of ``batch_size`` (default 32).
        A dask array gives a lazy dask array (see :mod:`npconv.distributed`)."""
        if is_dask_collection(x):
            from ..distributed import predict

            return predict(self, x, batch_size=batch_size)
        x = np.asarray(x)
        if x.ndim == 0:
            raise invalid("x", "an array with a batch dimension", x.tolist())
        batch_size = 32 if batch_size is None else batch_size
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise invalid("batch_size", "a positive int", batch_size)
        start = time.perf_counter()
        outputs = [self(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        if verbose not in (0, False):
            _progress_line(len(outputs), time.perf_counter() - start)
        if not outputs:
            raise invalid("x", "at least one sample", f"shape {x.shape}")
        return np.concatenate(outputs, axis=0)

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
        """Set every layer's weights from one flat list, in get_weights() order.

        Shapes are checked for all layers before any weight changes.
        """
        weights = list(weights)
        expected = [w.shape for w in self.weights]
        received = [tuple(np.shape(w)) for w in weights]
        if expected != received:
            raise invalid(
                "weights",
                f"{len(expected)} arrays with shapes {expected} for model '{self.name}'",
                f"{len(received)} arrays with shapes {received}",
                "Pass the list model.get_weights() returns, in that order.",
            )
        assign_all(self.weights, weights)

    def count_params(self):
        return int(sum(w.value.size for w in self.weights))

    # ---------------------------------------------------------------- saving
    def save_weights(self, filepath, max_shard_size=None):
        """Write the weights: '.weights.h5' in Keras 3's layout, else npconv's .npz (see npconv.saving)."""
        from ..saving import formats

        formats.save_weights(self, filepath, max_shard_size=max_shard_size)

    def load_weights(self, filepath):
        """Read '.weights.h5', '.weights.json', '.keras' or npconv weights; a bad file changes nothing."""
        from ..saving import formats

        formats.load_weights(self, filepath)

    def save(self, filepath):
        """Write config and weights: '.keras' as Keras 3 does, '.npconv' as npconv's own archive."""
        from ..saving import formats

        formats.save_model(self, filepath)

    def explain(self):
        """The shape chain, layer by layer, with each conv's pads (see npconv.explain)."""
        from ..explain import explain_model

        return explain_model(self)

    # --------------------------------------------------------------- summary
    def summary(self, line_length=None, positions=None, print_fn=None):
        """Print a Keras-like table: layer (type), output shape, parameter count."""
        print_fn = print_fn or print
        print_fn(render_summary(self, line_length or 79))

    # ----------------------------------------------------------------- config
    def get_config(self):
        entries = []
        if self._input_layer is not None:
            entries.append(layers_module.serialize(self._input_layer))
        entries.extend(layers_module.serialize(layer) for layer in self._layers)
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


def _progress_line(steps, seconds):
    per_step = 1000 * seconds / max(steps, 1)
    sys.stdout.write(f"{steps}/{steps} {'━' * 20} {seconds:.0f}s {per_step:.0f}ms/step\n")


def _format_bytes(count):
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.2f} {unit}"
        count /= 1024


def render_summary(model, width=79):
    """The summary table as a string."""
    widths = [width - 40, 24, 16]
    rows = []
    shape = model.input_shape
    for layer in model.layers:
        shape = layer.compute_output_shape(shape) if shape is not None else None
        params = layer.count_params() if layer.built else 0
        shape_text = "?" if shape is None else str(tuple(shape))
        rows.append((f"{layer.name} ({type(layer).__name__})", shape_text, f"{params:,}"))

    def line(left, mid, right, fill):
        return left + mid.join(fill * w for w in widths) + right

    def row(cells, edge="│"):
        left = cells[0].ljust(widths[0] - 1)
        middle = cells[1].ljust(widths[1] - 1)
        right = cells[2].rjust(widths[2] - 2)
        return f"{edge} {left}{edge} {middle}{edge} {right} {edge}"

    out = [f'Model: "{model.name}"', line("┏", "┳", "┓", "━")]
    out.append(row(("Layer (type)", "Output Shape", "Param #"), "┃"))
    out.append(line("┡", "╇", "┩", "━"))
    for i, cells in enumerate(rows):
        out.append(row(cells))
        if i < len(rows) - 1:
            out.append(line("├", "┼", "┤", "─"))
    out.append(line("└", "┴", "┘", "─"))
    itemsize = {w.dtype.itemsize for w in model.weights} or {4}
    size = max(itemsize)
    total = model.count_params()
    trainable = int(sum(w.value.size for w in model.trainable_weights))
    for label, count in (("Total", total), ("Trainable", trainable), ("Non-trainable", total - trainable)):
        out.append(f" {label} params: {count:,} ({_format_bytes(count * size)})")
    return "\n".join(out)
