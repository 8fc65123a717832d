"""The Functional API against real Keras: graph structure, forward values,
training steps on graphs with shared layers, fan-out, several inputs and
outputs and nesting, configs in both directions, and finite differences
through a graph as an independent oracle for the backward pass."""

import json

import numpy as np
import pytest

import npconv
from npconv import layers


# --------------------------------------------------------------------------
# model builders: the same code builds the Keras and the npconv model
# --------------------------------------------------------------------------
def resnet_style(lib):
    """Add with a shared conv (called twice) and a fan-out tensor feeding three layers."""
    inputs = lib.Input((8, 8, 3), name="image")
    x = lib.layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inputs)
    shared = lib.layers.Conv2D(4, 3, padding="same", name="shared")
    y = shared(x)
    y = lib.layers.BatchNormalization(name="bn")(y)
    y = lib.layers.Activation("relu", name="relu")(y)
    y = shared(y)
    x = lib.layers.Add(name="add")([x, y])
    x = lib.layers.MaxPooling2D(2, name="pool")(x)
    x = lib.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = lib.layers.Dense(3, activation="softmax", name="probs")(x)
    return lib.Model(inputs, outputs, name="resnet_style")


def unet_style(lib):
    """Down with strided convs, up with Conv2DTranspose, skips joined by Concatenate."""
    inputs = lib.Input((8, 8, 2), name="image")
    d1 = lib.layers.Conv2D(4, 3, padding="same", activation="relu", name="d1")(inputs)
    d2 = lib.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="d2")(d1)
    u1 = lib.layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu", name="u1")(d2)
    x = lib.layers.Concatenate(name="skip")([u1, d1])
    x = lib.layers.Conv2D(3, 1, padding="same", activation="softmax", name="mask")(x)
    return lib.Model(inputs, x, name="unet_style")


def two_in_two_out(lib):
    image = lib.Input((6, 6, 2), name="image")
    meta = lib.Input((5,), name="meta")
    x = lib.layers.Conv2D(3, 3, activation="tanh", name="conv")(image)
    x = lib.layers.Flatten(name="flat")(x)
    m = lib.layers.Dense(4, activation="relu", name="meta_dense")(meta)
    both = lib.layers.Concatenate(name="join")([x, m])
    score = lib.layers.Dense(1, name="score")(both)
    label = lib.layers.Dense(3, activation="softmax", name="label")(x)
    return lib.Model([image, meta], [score, label], name="two_by_two")


def _pair(keras, build):
    keras_model = build(keras)
    ours = build(npconv)
    ours.set_weights(keras_model.get_weights())
    return keras_model, ours


def _close_weights(keras_model, ours, rtol=2e-4, atol=2e-5):
    for k_weight, weight, variable in zip(keras_model.get_weights(), ours.get_weights(), ours.weights):
        np.testing.assert_allclose(weight, k_weight, rtol=rtol, atol=atol, err_msg=variable.name)


# --------------------------------------------------------------------------
# structure
# --------------------------------------------------------------------------
def test_input_is_symbolic_and_layer_calls_record_nodes():
    x = npconv.Input((5, 5, 2), name="pixels")
    assert isinstance(x, npconv.layers.input_layer.KerasTensor)
    assert x.shape == (None, 5, 5, 2) and x.dtype == "float32"
    conv = layers.Conv2D(3, 3, name="c")
    y = conv(x)
    assert y.shape == (None, 3, 3, 3)
    assert conv.input is x and conv.output is y
    assert y._keras_history[0] is conv and y._keras_history[1:] == (0, 0)
    with pytest.raises(TypeError, match="no values"):
        np.asarray(y)


def test_layer_order_names_and_get_layer_match_keras(keras):
    for build in (resnet_style, unet_style, two_in_two_out):
        keras_model, ours = _pair(keras, build)
        assert [layer.name for layer in ours.layers] == [layer.name for layer in keras_model.layers]
        assert [type(layer).__name__ for layer in ours.layers][0] == "InputLayer"
        assert ours.count_params() == keras_model.count_params()
    assert ours.input == ours.inputs and ours.output == ours.outputs and len(ours.inputs) == 2
    assert ours.get_layer("conv").input is ours.inputs[0] and ours.get_layer("score").output is ours.outputs[0]
    assert ours.get_layer("score") is ours.layers[ours.layers.index(ours.get_layer(index=-2))]
    with pytest.raises(ValueError, match="argument `name`"):
        ours.get_layer("nope")
    with pytest.raises(ValueError, match="exactly one"):
        ours.get_layer()


def test_graph_errors():
    a = npconv.Input((4,), name="ea")
    b = npconv.Input((4,), name="eb")
    out = npconv.layers.Add()([layers.Dense(2)(a), layers.Dense(2)(b)])
    with pytest.raises(ValueError, match="Graph disconnected"):
        npconv.Model(a, out)
    with pytest.raises(TypeError, match="argument `outputs`"):
        npconv.Model(a, np.zeros(3))
    with pytest.raises(TypeError, match="inputs and outputs"):
        npconv.Model()
    model = npconv.Model([a, b], out)
    with pytest.raises(ValueError, match="2 arrays"):
        model.predict(np.zeros((2, 4)), verbose=0)
    with pytest.raises(ValueError, match=r"shape \(None, 4\)"):
        model.predict([np.zeros((2, 4)), np.zeros((2, 5))], verbose=0)


# --------------------------------------------------------------------------
# forward and training against Keras
# --------------------------------------------------------------------------
def _check_steps(keras, build, x, y, loss, rng, steps=3, **compile_args):
    keras_model, ours = _pair(keras, build)
    keras_model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss, **compile_args)
    ours.compile(optimizer=npconv.optimizers.Adam(0.01), loss=loss, **compile_args)
    for k_out, out in zip(_as_list(keras_model.predict(x, verbose=0)), _as_list(ours.predict(x, verbose=0))):
        np.testing.assert_allclose(out, k_out, rtol=1e-4, atol=1e-6)
    for step in range(steps):
        expected = keras_model.train_on_batch(x, y, return_dict=True)
        got = ours.train_on_batch(x, y, return_dict=True)
        assert list(got) == list(expected) or set(got) == set(expected), (got, expected)
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], float(value), rtol=2e-4, atol=1e-6, err_msg=f"{key} step {step}")
        _close_weights(keras_model, ours)
    return keras_model, ours


def _as_list(value):
    if isinstance(value, dict):
        return [value[key] for key in sorted(value)]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def test_resnet_style_train_on_batch_matches_keras(keras, rng):
    x = rng.standard_normal((4, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 3, 4)
    _check_steps(keras, resnet_style, x, y, "sparse_categorical_crossentropy", rng, metrics=["accuracy"])


def test_unet_style_train_on_batch_matches_keras(keras, rng):
    x = rng.standard_normal((2, 8, 8, 2)).astype("float32")
    y = rng.integers(0, 3, (2, 8, 8))
    _check_steps(keras, unet_style, x, y, "sparse_categorical_crossentropy", rng)


def test_two_inputs_two_outputs_with_loss_weights_and_metrics_match_keras(keras, rng):
    x = [rng.standard_normal((4, 6, 6, 2)).astype("float32"), rng.standard_normal((4, 5)).astype("float32")]
    y = [rng.standard_normal((4, 1)).astype("float32"), np.eye(3, dtype="float32")[rng.integers(0, 3, 4)]]
    _check_steps(
        keras,
        two_in_two_out,
        x,
        y,
        ["mse", "categorical_crossentropy"],
        rng,
        metrics=[["mae"], ["accuracy"]],
        loss_weights=[0.5, 2.0],
    )


def test_dict_inputs_outputs_and_losses_match_keras(keras, rng):
    def build(lib):
        image = lib.Input((6, 6, 2), name="image")
        meta = lib.Input((5,), name="meta")
        x = lib.layers.Flatten(name="flat")(lib.layers.Conv2D(2, 3, name="conv")(image))
        both = lib.layers.Concatenate(name="join")([x, lib.layers.Dense(3, name="md")(meta)])
        return lib.Model(
            {"image": image, "meta": meta},
            {"score": lib.layers.Dense(1, name="s")(both), "label": lib.layers.Dense(2, name="l")(x)},
        )

    x = {"image": rng.standard_normal((4, 6, 6, 2)).astype("float32"), "meta": rng.standard_normal((4, 5))}
    y = {"score": rng.standard_normal((4, 1)), "label": rng.standard_normal((4, 2))}
    keras_model, ours = _check_steps(
        keras, build, x, y, {"score": "mse", "label": "mae"}, rng, loss_weights={"label": 3.0, "score": 0.5}
    )
    assert set(ours.predict(x, verbose=0)) == {"score", "label"}


def test_shared_sequential_and_nested_models_match_keras(keras, rng):
    """A Sequential called on two inputs (weights shared, gradients summed),
    a Model inside a Sequential, and the result nested again."""

    def build(lib):
        encoder = lib.Sequential(
            [lib.Input((6,)), lib.layers.Dense(5, activation="tanh", name="e1"), lib.layers.Dense(4, name="e2")],
            name="encoder",
        )
        a, b = lib.Input((6,), name="a"), lib.Input((6,), name="b")
        joined = lib.layers.Concatenate(name="pair")([encoder(a), encoder(b)])
        siamese = lib.Model([a, b], lib.layers.Dense(3, name="head")(joined), name="siamese")
        inner = lib.Model(c := lib.Input((3,), name="c"), lib.layers.Dense(2, name="inner_d")(c), name="inner")
        tail = lib.Sequential([lib.Input((3,)), inner, lib.layers.Dense(1, name="last")], name="tail")
        p, q = lib.Input((6,), name="p"), lib.Input((6,), name="q")
        return lib.Model([p, q], tail(siamese([p, q])), name="outer")

    x = [rng.standard_normal((5, 6)).astype("float32"), rng.standard_normal((5, 6)).astype("float32")]
    y = rng.standard_normal((5, 1)).astype("float32")
    keras_model, ours = _check_steps(keras, build, x, y, "mse", rng)
    assert [w.name for w in ours.get_layer("siamese").get_layer("encoder").weights][0].startswith("e1")


def test_fan_out_and_shared_layer_gradients_by_finite_differences(rng):
    """float64 central differences through a graph with a layer called on
    three tensors and a tensor feeding four consumers."""
    inputs = npconv.Input((3, 3, 2), name="fd_in", dtype="float64")
    shared = layers.Conv2D(2, 2, padding="same", activation="tanh", dtype="float64", name="fd_shared")
    a = shared(inputs)
    b = shared(a)
    c = shared(npconv.layers.Add(dtype="float64", name="fd_add")([a, b, inputs]))
    flat = layers.Flatten(dtype="float64", name="fd_flat")
    out1 = layers.Dense(2, dtype="float64", name="fd_d1")(flat(c))
    out2 = layers.Dense(1, dtype="float64", name="fd_d2")(flat(a))
    model = npconv.Model(inputs, [out1, out2])
    x = rng.standard_normal((2, 3, 3, 2))
    y1, y2 = rng.standard_normal((2, 2)), rng.standard_normal((2, 1))

    def loss(inputs_value):
        o1, o2 = model._run([inputs_value], training=True)
        return 0.5 * np.sum((o1 - y1) ** 2) + 0.5 * np.sum((o2 - y2) ** 2)

    o1, o2 = model._run([x], training=True)
    for w in model.weights:
        w.grad = None
    dx = model.backward([o1 - y1, o2 - y2], input_grad=True)
    eps = 1e-6
    for variable in model.weights:
        analytic = variable.grad
        flat_value = variable.value.reshape(-1)
        for i in range(0, flat_value.size, max(1, flat_value.size // 5)):
            old = flat_value[i]
            flat_value[i] = old + eps
            up = loss(x)
            flat_value[i] = old - eps
            down = loss(x)
            flat_value[i] = old
            np.testing.assert_allclose(analytic.reshape(-1)[i], (up - down) / (2 * eps), rtol=1e-5, atol=1e-8)
    for index in [(0, 0, 0, 0), (1, 2, 1, 1), (0, 1, 2, 0)]:
        bumped = x.copy()
        bumped[index] += eps
        up = loss(bumped)
        bumped[index] -= 2 * eps
        down = loss(bumped)
        np.testing.assert_allclose(dx[index], (up - down) / (2 * eps), rtol=1e-5, atol=1e-8)


# --------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------
def test_keras_config_builds_the_same_graph(keras, rng):
    for build in (resnet_style, two_in_two_out):
        keras_model = build(keras)
        config = json.loads(json.dumps(keras_model.get_config()))
        ours = npconv.Model.from_config(config)
        ours.set_weights(keras_model.get_weights())
        assert [layer.name for layer in ours.layers] == [layer.name for layer in keras_model.layers]
        shapes = [t.shape[1:] for t in ours.inputs]
        x = [rng.standard_normal((2, *s)).astype("float32") for s in shapes]
        x = x if len(x) > 1 else x[0]
        for expected, got in zip(_as_list(keras_model.predict(x, verbose=0)), _as_list(ours.predict(x, verbose=0))):
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_config_format_matches_keras_and_keras_rebuilds_ours(keras, rng):
    """Structure keys, inbound_nodes and __keras_tensor__ histories equal
    Keras's; Keras rebuilds npconv's config (layers whose configs Keras reads)."""

    def build(lib):
        a, b = lib.Input((4,), name="a"), lib.Input((3,), name="b")
        dense = lib.layers.Dense(3, name="shared_dense")
        inner = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="in_seq")], name="seq")
        x = dense(lib.layers.Dense(3, name="pre")(a))
        y = dense(x)
        return lib.Model({"a": a, "b": b}, [inner(y), lib.layers.Dense(1, name="bd")(b), x], name="cfg")

    keras_model, ours = build(keras), build(npconv)
    ours.set_weights(keras_model.get_weights())
    expected, got = keras_model.get_config(), json.loads(json.dumps(ours.get_config()))
    assert got["input_layers"] == expected["input_layers"]
    assert got["output_layers"] == expected["output_layers"]
    assert [entry["name"] for entry in got["layers"]] == [entry["name"] for entry in expected["layers"]]
    for k_entry, entry in zip(expected["layers"], got["layers"]):
        k_nodes = json.loads(json.dumps(k_entry["inbound_nodes"]))
        for node in k_nodes:  # Keras records mask=None for layers whose call takes a mask
            if node["kwargs"].get("mask", 0) is None:
                del node["kwargs"]["mask"]
        assert entry["inbound_nodes"] == k_nodes, entry["name"]
    rebuilt = keras.Model.from_config(json.loads(json.dumps(got)))  # Keras pops keys from the dict
    rebuilt.set_weights(ours.get_weights())
    x = {"a": rng.standard_normal((3, 4)).astype("float32"), "b": rng.standard_normal((3, 3)).astype("float32")}
    for k_out, out in zip(rebuilt.predict(x, verbose=0), ours.predict(x, verbose=0)):
        np.testing.assert_allclose(out, k_out, rtol=1e-5, atol=1e-6)
    again = npconv.Model.from_config(got)
    again.set_weights(ours.get_weights())
    for k_out, out in zip(again.predict(x, verbose=0), ours.predict(x, verbose=0)):
        np.testing.assert_array_equal(out, k_out)


def test_config_refuses_unknown_classes_without_importing(monkeypatch):
    import builtins

    real_import = builtins.__import__
    imported = []

    def spy(name, *args, **kwargs):
        imported.append(name)
        return real_import(name, *args, **kwargs)

    config = {
        "name": "evil",
        "trainable": True,
        "layers": [
            {
                "module": "os",
                "class_name": "system",
                "config": {"name": "x"},
                "registered_name": None,
                "name": "x",
                "inbound_nodes": [],
            }
        ],
        "input_layers": ["x", 0, 0],
        "output_layers": ["x", 0, 0],
    }
    monkeypatch.setattr(builtins, "__import__", spy)
    with pytest.raises(ValueError, match="Unknown layer"):
        npconv.Model.from_config(config)
    monkeypatch.setattr(builtins, "__import__", real_import)
    assert "os" not in imported


def test_summary_has_connected_to_and_positions(capsys):
    model = resnet_style(npconv)
    model.summary()
    text = capsys.readouterr().out
    assert "Connected to" in text and "shared[1][0]" in text and "stem[0][0]" in text
    assert f"Total params: {model.count_params():,}" in text
    lines = []
    model.summary(line_length=120, positions=[0.25, 0.5, 0.6, 1.0], print_fn=lines.append)
    table = lines[0].splitlines()
    assert {len(line) for line in table[1:5]} == {120}
    assert table[2].index("┃", 1) == 30
    with pytest.raises(ValueError, match="argument `positions`"):
        model.summary(positions=[0.5, 0.2, 0.9, 1.0])
    chain = npconv.Sequential([npconv.Input((4,)), layers.Dense(2)])
    chain.summary(positions=[30, 50, 65], print_fn=lines.append)
    assert "Connected to" not in lines[-1] and len(lines[-1].splitlines()[1]) == 65


def test_save_and_load_a_functional_model(tmp_path, rng):
    """A branching model (two heads on one trunk) loads as the same graph, not as a chain."""
    inputs = npconv.Input((6, 6, 2), name="trunk_in")
    trunk = layers.Conv2D(3, 3, activation="relu", name="trunk")(inputs)
    head_a = layers.Dense(2, name="head_a")(layers.Flatten(name="flat_a")(trunk))
    head_b = layers.Dense(1, name="head_b")(layers.GlobalAveragePooling2D(name="gap_b")(trunk))
    model = npconv.Model(inputs, [head_a, head_b], name="two_heads")
    path = tmp_path / "two.npconv"
    model.save(path)
    loaded = npconv.models.load_model(path)
    assert isinstance(loaded, npconv.Model) and not isinstance(loaded, npconv.Sequential)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    x = rng.standard_normal((2, 6, 6, 2)).astype("float32")
    for expected, got in zip(model.predict(x, verbose=0), loaded.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, expected)


def test_arithmetic_on_symbolic_tensors_records_keras_operations(keras, rng):
    """``h + 3.0``, ``* (1 / 6)``, ``1 - y / 2`` and ``-h`` become the same
    operation nodes Keras records (MobileNetV3 writes its hard sigmoid so)."""

    def build(lib):
        x = lib.Input((4,), name="ops_in")
        h = lib.layers.Dense(3, name="ops_d")(x)
        y = lib.layers.ReLU(6.0, name="ops_relu")(h + 3.0) * (1.0 / 6.0)
        return lib.Model(x, [1.0 - y / 2.0, -h])

    keras_model, ours = build(keras), build(npconv)
    ours.set_weights(keras_model.get_weights())
    x = rng.standard_normal((2, 4)).astype("float32")
    for expected, got in zip(keras_model.predict(x, verbose=0), ours.predict(x, verbose=0)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    k_config, config = keras_model.get_config(), json.loads(json.dumps(ours.get_config()))
    assert [(e["module"], e["class_name"]) for e in config["layers"]] == [
        (e["module"], e["class_name"]) for e in k_config["layers"]
    ]
    assert [layer.name for layer in ours.layers] == [layer.name for layer in keras_model.layers]


def test_input_layer_reads_keras_configs_and_refuses_what_npconv_lacks(keras):
    config = keras.layers.InputLayer(shape=(5, 3), name="k_in").get_config()
    layer = npconv.layers.InputLayer.from_config(json.loads(json.dumps(config)))
    assert layer.batch_shape == (None, 5, 3) and layer.name == "k_in"
    assert layer.get_config() == json.loads(json.dumps(config)) | {"batch_shape": (None, 5, 3)}
    for key in ("sparse", "ragged", "optional"):
        with pytest.raises(ValueError, match=f"argument `{key}`"):
            npconv.layers.InputLayer.from_config({**config, key: True})
    assert npconv.Input((7,), dtype="int32").dtype == "int32"
    assert npconv.Input(batch_shape=(4, 2)).shape == (4, 2)
    with pytest.raises(TypeError, match="argument `dtype`"):
        npconv.Input((3,), dtype="complex64")


def test_evaluate_counts_activity_regularizers_inside_the_graph(keras, rng):
    def build(lib):
        x = lib.Input((5,), name="ar_in")
        h = lib.layers.Dense(4, activity_regularizer=lib.regularizers.L2(0.1), name="ar_h")(x)
        return lib.Model(x, lib.layers.Dense(1, name="ar_out")(h))

    keras_model, ours = build(keras), build(npconv)
    ours.set_weights(keras_model.get_weights())
    for model in (keras_model, ours):
        model.compile("sgd", "mse")
    x, y = rng.standard_normal((6, 5)).astype("float32"), rng.standard_normal((6, 1)).astype("float32")
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(keras_model.evaluate(x, y, verbose=0), rel=1e-5)
    np.testing.assert_allclose(ours.train_on_batch(x, y), keras_model.train_on_batch(x, y), rtol=1e-5)
    for expected, got in zip(keras_model.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_a_model_called_on_a_dict_of_tensors():
    a, b = npconv.Input((3,), name="da"), npconv.Input((2,), name="db")
    inner = npconv.Model({"a": a, "b": b}, npconv.layers.Concatenate(name="dj")([a, b]))
    p, q = npconv.Input((3,), name="dp"), npconv.Input((2,), name="dq")
    outer = npconv.Model([p, q], inner({"a": p, "b": q}))
    assert outer.output_shape == (None, 5)
    x = [np.ones((2, 3), "float32"), np.zeros((2, 2), "float32")]
    np.testing.assert_array_equal(outer.predict(x, verbose=0), np.concatenate(x, axis=1))


def test_integer_inputs_reach_embedding_uncast_and_train_like_keras(keras, rng):
    def build(lib):
        tokens = lib.Input((6,), dtype="int32", name="tokens")
        x = lib.layers.Embedding(20, 4, name="embed")(tokens)
        x = lib.layers.Conv1D(3, 3, activation="relu", name="conv1d")(x)
        x = lib.layers.GlobalAveragePooling1D(name="gap")(x)
        return lib.Model(tokens, lib.layers.Dense(2, activation="softmax", name="out")(x))

    keras_model, ours = build(keras), build(npconv)
    ours.set_weights(keras_model.get_weights())
    for model, lib in ((keras_model, keras), (ours, npconv)):
        model.compile(lib.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    x = rng.integers(0, 20, (5, 6)).astype("int32")
    y = rng.integers(0, 2, 5)
    for _ in range(2):
        np.testing.assert_allclose(ours.train_on_batch(x, y), keras_model.train_on_batch(x, y), rtol=1e-5)
    for expected, got in zip(keras_model.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_from_config_takes_kerass_config_as_returned(keras, rng):
    """keras_model.get_config() holds tuples (node args, shapes); no JSON round trip needed."""
    inputs = keras.Input((6, 6, 3))
    a = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    b = keras.layers.Conv2D(4, 1)(inputs)
    outputs = keras.layers.Add()([a, b])
    theirs = keras.Model(inputs, outputs)
    config = theirs.get_config()
    assert isinstance(config["layers"][1]["inbound_nodes"][0]["args"], tuple)
    ours = npconv.models.Model.from_config(config)
    ours.set_weights(theirs.get_weights())
    x = rng.standard_normal((2, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)
