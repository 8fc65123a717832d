"""Every layer of real keras.applications configs, one at a time: npconv builds
it from Keras's own config entry (operation nodes and LayerScale included, and
the layers of nested Sequentials), takes the Keras layer's weights, and must
give Keras's output on random input of the shape recorded in the config.

This checks the configs and the layers; running whole models is the
Functional API's job. MobileNetV3Small (Rescaling, ReLU, Add, Multiply and
operation nodes with scalar arguments) runs by default; the other nine models
are a slow sweep (ConvNeXtTiny: Normalization, LayerNormalization,
LayerScale, operation Add, a nested Sequential).
"""

import numpy as np
import pytest
from helpers import assert_close

from npconv import layers

DEFAULT = ["MobileNetV3Small"]
SLOW = [
    "ConvNeXtTiny",
    "MobileNet",
    "MobileNetV2",
    "ResNet50",
    "EfficientNetB0",
    "DenseNet121",
    "VGG16",
    "Xception",
    "NASNetMobile",
]
INPUT_SIZE = {"NASNetMobile": 224, "Xception": 71}


def build_model(keras, name):
    size = INPUT_SIZE.get(name, 64)
    keras.utils.set_random_seed(0)
    return getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))


def _entries(config, operations):
    """(entry, keras operation) for every layer entry, nested Sequentials opened."""
    for entry in config["layers"]:
        name = entry["config"].get("name", entry.get("name"))
        if entry["class_name"] in ("Sequential", "Functional"):
            inner = operations[name]
            yield from _entries(entry["config"], {op.name: op for op in getattr(inner, "operations", inner.layers)})
        elif entry["class_name"] != "InputLayer":
            yield entry, operations[name]


def _random(shape, rng):
    return rng.standard_normal([2 if d is None else d for d in shape]).astype("float32")


def _arguments(entry, rng):
    """The call's arguments, each recorded tensor replaced by random data."""
    nodes = entry.get("inbound_nodes") or []
    if not nodes:  # a layer of a nested Sequential: its build shape
        return (_random(entry["build_config"]["input_shape"], rng),)

    def value(arg):
        if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
            return _random(arg["config"]["shape"], rng)
        if isinstance(arg, list):
            return [value(a) for a in arg]
        return arg

    return tuple(value(a) for a in nodes[0]["args"])


def check_model(keras, name, rng):
    model = build_model(keras, name)
    config = model.get_config()
    kinds = set()
    for entry, theirs in _entries(config, {op.name: op for op in model.operations}):
        ours = layers.deserialize(entry)
        args = _arguments(entry, rng)
        if getattr(theirs, "weights", None):
            first = args[0]
            ours.build([a.shape for a in first] if isinstance(first, list) else first.shape)
            ours.set_weights([np.asarray(w) for w in theirs.weights])
        expected = np.asarray(theirs(*args))
        # float32 sums of hundreds of products: the absolute error scales with the output's size
        atol = 1e-5 * max(1.0, float(np.abs(expected).max()))
        assert_close(ours(*args), expected, rtol=1e-4, atol=atol, what=f"{name}/{entry['config']['name']}")
        kinds.add((entry["module"], entry["class_name"]))
    return kinds


EXPECTED = {
    "MobileNetV3Small": {("keras.src.ops.numpy", "Add"), ("keras.src.ops.numpy", "Multiply"),
                         ("keras.layers", "Rescaling"), ("keras.layers", "ReLU"), ("keras.layers", "Multiply")},
    "ConvNeXtTiny": {("keras.src.applications.convnext", "LayerScale"), ("keras.layers", "LayerNormalization"),
                     ("keras.layers", "Normalization"), ("keras.src.ops.numpy", "Add")},
}  # fmt: skip


@pytest.mark.parametrize("name", DEFAULT)
def test_application_layers_match_keras(keras, rng, name):
    assert EXPECTED[name] <= check_model(keras, name, rng)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_application_layers_match_keras_slow(keras, rng, name):
    assert EXPECTED.get(name, set()) <= check_model(keras, name, rng)
