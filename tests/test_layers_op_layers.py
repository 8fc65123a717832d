"""The operation layers Keras writes into configs (``keras.src.ops.numpy`` Add,
Multiply...) and ConvNeXt's LayerScale: built from real Keras configs through
the fixed (module, class_name) table, values against Keras, gradients of the
array arguments against finite differences, and refusals."""

import numpy as np
import pytest
from helpers import assert_close, check_gradients

from npconv import layers
from npconv.layers import KERAS_OPERATIONS, LayerScale
from npconv.layers.op_layers import (
    NumpyAdd,
    NumpyDivide,
    NumpyMaximum,
    NumpyMinimum,
    NumpyMultiply,
    NumpyNegative,
    NumpySubtract,
    NumpyTrueDivide,
)

BINARY = [NumpyAdd, NumpySubtract, NumpyMultiply, NumpyDivide, NumpyTrueDivide, NumpyMaximum, NumpyMinimum]


def keras_graph_entries(keras):
    """A Keras model built with Python arithmetic on tensors, its config's
    operation entries, and its outputs on random inputs."""
    ops = keras.ops
    a, b = keras.Input((3, 4)), keras.Input((1, 4))
    outputs = [
        a + 3.0,
        3.0 + a,
        a * (1.0 / 6.0),
        a - 1,
        1 - a,
        a / 6,
        6 / (b + 10.0),
        -a,
        a + b,
        a * b,
        a / (b + 10.0),
        ops.maximum(a, 0.0),
        ops.minimum(a, b),
        ops.divide(a, 2.0),
    ]
    return keras.Model([a, b], outputs)


def run_entry(entry, arrays):
    """Run one config entry's operation on arrays, its tensor arguments looked up by layer name."""
    layer = layers.deserialize(entry)
    (node,) = entry["inbound_nodes"]
    args = []
    for arg in node["args"]:
        if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
            args.append(arrays[arg["config"]["keras_history"][0]])
        else:
            args.append(arg)
    arrays[entry["name"]] = layer(*args)
    return layer


def test_keras_arithmetic_configs_give_keras_numbers(keras, rng):
    model = keras_graph_entries(keras)
    a = rng.standard_normal((2, 3, 4)).astype("float32")
    b = rng.standard_normal((2, 1, 4)).astype("float32")
    expected = [np.asarray(y) for y in model([a, b])]
    config = model.get_config()
    arrays = {config["input_layers"][0][0]: a, config["input_layers"][1][0]: b}
    built = set()
    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            continue
        assert (entry["module"], entry["class_name"]) in KERAS_OPERATIONS
        built.add(type(run_entry(entry, arrays)))
    assert built >= {*BINARY, NumpyNegative}
    for (name, _, _), y in zip(config["output_layers"], expected):
        assert arrays[name].dtype == np.float32
        assert_close(arrays[name], y, rtol=1e-6, atol=1e-6, what=name)


@pytest.mark.parametrize("cls", BINARY)
@pytest.mark.parametrize("form", ["two arrays", "array, constant", "constant, array", "broadcast"])
def test_gradients(rng, cls, form):
    a = rng.uniform(0.5, 2.0, (2, 3)) * rng.choice([-1, 1], (2, 3))
    b = rng.uniform(0.5, 2.0, (2, 3))
    if form == "array, constant":
        args = [a, 1.5]
    elif form == "constant, array":
        args = [-0.75, b]
    elif form == "broadcast":
        args = [a, b[:1, :]]
    else:
        args = [a, b]
    layer = cls()
    y = layer(*args)
    dy = rng.standard_normal(y.shape)
    grads = layer.backward(dy)
    arrays = [v for v in args if isinstance(v, np.ndarray)]
    grads = [grads] if len(arrays) == 1 else grads
    assert len(grads) == len(arrays)
    # the helper compares every array argument with central differences
    check_gradients(cls(), args, rng, form="args")
    for g, v in zip(grads, arrays):
        assert g.shape == v.shape


def test_negative_and_its_gradient(rng):
    x = rng.standard_normal((2, 3))
    layer = NumpyNegative()
    assert_close(layer(x), -x)
    assert_close(layer.backward(np.ones((2, 3))), -np.ones((2, 3)))


@pytest.mark.parametrize("cls, first", [(NumpyMaximum, True), (NumpyMinimum, True)])
def test_ties_go_to_the_first_argument(cls, first):
    layer = cls()
    layer(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    ga, gb = layer.backward(np.ones(2))
    assert_close(ga, [1.0, 1.0])
    assert_close(gb, [0.0, 0.0])


def test_operation_config_is_the_name_only(keras):
    layer = NumpyAdd(name="add_7")
    assert layers.serialize(layer) == {
        "module": "keras.src.ops.numpy",
        "class_name": "Add",
        "config": {"name": "add_7"},
        "registered_name": "Add",
    }
    assert NumpyTrueDivide().name.startswith("true_divide")
    again = layers.deserialize(layers.serialize(layer))
    assert type(again) is NumpyAdd and again.name == "add_7"


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: NumpyAdd()(np.ones(2)), TypeError, "2 positional"),
        (lambda: NumpyAdd()(1.0, 2.0), TypeError, "at least one array"),
        (lambda: NumpyAdd()(np.ones(2), "x"), TypeError, "argument 2"),
        (lambda: NumpyAdd()(np.ones((2, 3)), np.ones((2, 4))), ValueError, "broadcast"),
        (lambda: NumpyAdd()(np.ones(2), np.ones(2), mask=np.ones(2)), ValueError, "`mask`"),
        (lambda: NumpyAdd(name="x", units=3), TypeError, "units"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_output_shape():
    assert NumpyMultiply().compute_output_shape((None, 1, 1, 16), 0.5) == (None, 1, 1, 16)
    assert NumpyAdd().compute_output_shape((None, 5, 1), (None, 1, 4)) == (None, 5, 4)
    assert NumpyAdd().compute_output_shape(2.0, (4,)) == (4,)


@pytest.mark.parametrize(
    "entry, match",
    [
        ({"module": "keras.src.ops.numpy", "class_name": "Einsum", "config": {}}, "Unknown layer module"),
        ({"module": "os", "class_name": "system", "config": {}}, "never imported"),
        ({"module": "keras.layers", "class_name": "NoSuchLayer", "config": {}}, "Unknown layer class_name"),
        ({"module": "my.package", "class_name": "Add", "config": {}}, "Unknown layer module"),
    ],
)
def test_unlisted_modules_and_classes_are_refused(entry, match):
    with pytest.raises(ValueError, match=match):
        layers.deserialize(entry)


# --------------------------------------------------------------------------
# LayerScale
# --------------------------------------------------------------------------
def convnext_layer_scale_entry(keras):
    model = keras.applications.ConvNeXtTiny(weights=None, input_shape=(32, 32, 3), include_top=False)
    for entry in model.get_config()["layers"]:
        if entry["class_name"] == "LayerScale":
            return model, entry
    raise AssertionError("no LayerScale in ConvNeXtTiny")


@pytest.mark.slow
def test_layer_scale_from_convnext_config(keras, rng):
    model, entry = convnext_layer_scale_entry(keras)
    ours = layers.deserialize(entry)
    theirs = model.get_layer(entry["config"]["name"])
    x = rng.standard_normal((2, 3, 3, ours.projection_dim)).astype("float32")
    ours.build(x.shape)
    gamma = rng.standard_normal(ours.projection_dim).astype("float32")
    theirs.set_weights([gamma])
    ours.set_weights(theirs.get_weights())
    assert_close(ours(x), theirs(x))


def test_layer_scale_values_config_and_gradients(keras, rng):
    ours = LayerScale(1e-6, 5)
    x = rng.standard_normal((2, 3, 5)).astype("float32")
    y = ours(x)
    assert_close(y, x * np.float32(1e-6))
    ours.set_weights([rng.standard_normal(5)])
    entry = layers.serialize(ours)
    assert (entry["module"], entry["class_name"]) == ("keras.src.applications.convnext", "LayerScale")
    from keras.src.applications.convnext import LayerScale as KerasLayerScale

    theirs = KerasLayerScale(**{k: v for k, v in entry["config"].items()})
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    assert_close(ours(x), theirs(x), rtol=1e-6, atol=1e-7)
    check_gradients(LayerScale(0.5, 5, dtype="float64", name="ls"), rng.standard_normal((2, 3, 5)), rng)
    assert layers.deserialize(entry).get_config() == ours.get_config()


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: LayerScale("a", 3), TypeError, "`init_values`"),
        (lambda: LayerScale(1e-6, 0), ValueError, "`projection_dim`"),
        (lambda: LayerScale(1e-6, 2.0), TypeError, "`projection_dim`"),
        (lambda: LayerScale(1e-6, 4)(np.ones((2, 3))), ValueError, "projection_dim=4"),
    ],
)
def test_layer_scale_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()
