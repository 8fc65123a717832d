"""Dense, Flatten, Reshape, Activation and Dropout: forward against real Keras,
gradients against finite differences in float64, shapes, configs and errors.
"""

import numpy as np
import pytest
from helpers import check_gradients, keras_config_keys, run_layer_test

from npconv.layers.core import Activation, Dense, Dropout, Flatten, Reshape


# --------------------------------------------------------------------------
# the common layer checks (tests/helpers.run_layer_test)
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer_class, kwargs, shape",
    [
        (Flatten, {}, (2, 3, 4)),
        (Reshape, {"target_shape": (6, 2)}, (2, 3, 4)),
        (Activation, {"activation": "softmax"}, (2, 3, 4)),
        (Dropout, {"rate": 0.5}, (2, 3, 4)),
    ],
)
def test_common_layer_checks(keras, rng, layer_class, kwargs, shape):
    run_layer_test(layer_class, kwargs, shape, rng, keras=keras)


# --------------------------------------------------------------------------
# Dense
# --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5), (2, 3, 2, 5)])
@pytest.mark.parametrize("activation", [None, "relu", "tanh", "softmax"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_matches_keras(keras, rng, shape, activation, use_bias):
    x = rng.standard_normal(shape).astype("float32")
    theirs = keras.layers.Dense(3, activation=activation, use_bias=use_bias, bias_initializer="random_normal")
    expected = np.asarray(theirs(x))
    ours = Dense(3, activation=activation, use_bias=use_bias)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-6)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]


@pytest.mark.parametrize("shape", [(None, 5), (None, None, 5), (7, 3, 5), (None, 2, None, 5)])
def test_dense_output_shape_matches_keras(keras, shape):
    assert Dense(3).compute_output_shape(shape) == keras.layers.Dense(3).compute_output_shape(shape)


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5)])
@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "softmax"])
def test_dense_gradients(rng, shape, activation):
    layer = Dense(3, activation=activation, bias_initializer="random_normal", dtype="float64")
    check_gradients(layer, rng.standard_normal(shape), rng)


def test_dense_gradients_accumulate(rng):
    layer = Dense(2, dtype="float64")
    x = rng.standard_normal((3, 4))
    dy = rng.standard_normal((3, 2))
    layer(x)
    layer.backward(dy)
    first = layer.kernel.grad.copy()
    layer(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.kernel.grad, 2 * first)


def test_dense_config_keys_match_keras(keras):
    ours = Dense(3, activation="relu").get_config()
    assert set(ours) == keras_config_keys(keras.layers.Dense(3))
    assert ours["units"] == 3 and ours["activation"] == "relu" and ours["use_bias"] is True
    with_activity = keras.layers.Dense(3, activity_regularizer="l2")
    expected = keras_config_keys(with_activity)
    assert set(Dense(3, activity_regularizer="l2").get_config()) == expected


def test_dense_round_trips_config(rng):
    layer = Dense(4, activation="tanh", use_bias=False, name="head")
    clone = Dense.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_dense_rejects_other_input_size(rng):
    layer = Dense(2)
    layer(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"\(None, \.\.\., 3\)"):
        layer(np.zeros((1, 4)))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"units": 0}, ValueError, "`units`"),
        ({"units": 2.5}, TypeError, "`units`"),
        ({"units": 2, "use_bias": "yes"}, TypeError, "`use_bias`"),
        ({"units": 2, "activation": "no_such_activation"}, ValueError, "`activation`"),
        ({"units": 2, "kernel_initializer": "no_such_initializer"}, ValueError, "`kernel_initializer`"),
        ({"units": 2, "unknown": 1}, TypeError, "unknown"),
    ],
)
def test_dense_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        Dense(**kwargs)


def test_dense_needs_rank_two():
    with pytest.raises(ValueError, match="`input_shape`"):
        Dense(2).build((5,))


# --------------------------------------------------------------------------
# Flatten and Reshape
# --------------------------------------------------------------------------
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4), (2, 3, 4, 5), (2,)])
def test_flatten_matches_keras(keras, rng, shape, data_format):
    x = rng.standard_normal(shape).astype("float32")
    expected = np.asarray(keras.layers.Flatten(data_format=data_format)(x))
    np.testing.assert_array_equal(Flatten(data_format=data_format)(x), expected)


@pytest.mark.parametrize("shape", [(None, 3, 4), (5, None, 4), (None,), (None, 7)])
def test_flatten_output_shape_matches_keras(keras, shape):
    assert Flatten().compute_output_shape(shape) == keras.layers.Flatten().compute_output_shape(shape)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_flatten_gradients(rng, data_format):
    check_gradients(Flatten(data_format=data_format, dtype="float64"), rng.standard_normal((2, 3, 2, 4)), rng)


@pytest.mark.parametrize("target", [(6, 2), (-1, 3), (2, -1, 2), (12,)])
def test_reshape_matches_keras(keras, rng, target):
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    theirs = keras.layers.Reshape(target)
    np.testing.assert_array_equal(Reshape(target)(x), np.asarray(theirs(x)))
    for shape in [(None, 3, 4), (5, 3, 4), (None, None, 4)]:
        assert Reshape(target).compute_output_shape(shape) == theirs.compute_output_shape(shape)


def test_reshape_gradients(rng):
    check_gradients(Reshape((-1, 2), dtype="float64"), rng.standard_normal((2, 3, 4)), rng)


def test_reshape_config_keys_match_keras(keras):
    assert set(Reshape((2, 3)).get_config()) == keras_config_keys(keras.layers.Reshape((2, 3)))
    assert set(Flatten().get_config()) == keras_config_keys(keras.layers.Flatten())


@pytest.mark.parametrize(
    "target, error",
    [((-1, -1), ValueError), ((2, -3), ValueError), ((2, 2.0), TypeError), (5, TypeError)],
)
def test_reshape_errors(target, error):
    with pytest.raises(error, match="`target_shape`"):
        Reshape(target)


def test_reshape_size_mismatch():
    with pytest.raises(ValueError, match="`target_shape`.*total size"):
        Reshape((5, 5))(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="`target_shape`"):
        Reshape((-1, 5)).compute_output_shape((None, 3, 4))


# --------------------------------------------------------------------------
# Activation
# --------------------------------------------------------------------------
ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign", "swish", "gelu", "linear"]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_layer_matches_keras(keras, rng, name):
    x = rng.standard_normal((3, 4, 5)).astype("float32")
    expected = np.asarray(keras.layers.Activation(name)(x))
    np.testing.assert_allclose(Activation(name)(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_layer_gradients(rng, name):
    x = rng.standard_normal((3, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from relu's kink
    check_gradients(Activation(name, dtype="float64"), x, rng)


def test_activation_config(keras):
    config = Activation("relu").get_config()
    assert config["activation"] == "relu"
    assert set(config) == keras_config_keys(keras.layers.Activation("relu"))


def test_activation_custom_callable_without_gradient():
    layer = Activation(lambda x: x * 2)
    layer(np.ones((1, 2)))
    with pytest.raises(NotImplementedError, match="gradient"):
        layer.backward(np.ones((1, 2)))


# --------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------
def test_dropout_rate_zero_is_identity_in_training(rng):
    x = rng.standard_normal((4, 5)).astype("float32")
    layer = Dropout(0.0)
    np.testing.assert_array_equal(layer(x, training=True), x)
    np.testing.assert_array_equal(layer.backward(x), x)


def test_dropout_is_identity_outside_training(rng):
    x = rng.standard_normal((4, 5)).astype("float32")
    layer = Dropout(0.7)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    np.testing.assert_array_equal(layer.backward(x), x)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_statistics(rate):
    x = np.ones((200, 500), dtype="float64")
    y = Dropout(rate, seed=3)(x, training=True)
    assert abs(np.mean(y == 0) - rate) < 0.01
    assert abs(y.mean() - 1.0) < 0.02  # inverted scaling keeps the mean
    np.testing.assert_allclose(np.unique(y), [0.0, 1.0 / (1.0 - rate)])


def test_dropout_statistics_match_keras(keras):
    x = np.ones((100, 400), dtype="float32")
    theirs = np.asarray(keras.layers.Dropout(0.3, seed=1)(x, training=True))
    ours = Dropout(0.3, seed=1)(x, training=True)
    np.testing.assert_allclose(np.unique(ours), np.unique(theirs), rtol=1e-6)
    assert abs(np.mean(ours == 0) - np.mean(theirs == 0)) < 0.01


def test_dropout_rate_one_zeroes_everything(rng):
    x = rng.standard_normal((3, 4))
    layer = Dropout(1.0)
    np.testing.assert_array_equal(layer(x, training=True), np.zeros_like(x))
    np.testing.assert_array_equal(layer.backward(x), np.zeros_like(x))


def test_dropout_backward_uses_the_forward_mask(rng):
    x = rng.standard_normal((6, 7)) + 5.0  # no zeros in x
    layer = Dropout(0.4, seed=0, dtype="float64")
    y = layer(x, training=True)
    dy = rng.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dy), dy * (y / x))


def test_dropout_noise_shape_broadcasts(rng):
    x = np.ones((8, 5, 6))
    y = Dropout(0.5, noise_shape=(None, 1, 6), seed=2)(x, training=True)
    assert np.all(y == y[:, :1, :])
    assert 0 < np.mean(y == 0) < 1


def test_dropout_seed_is_reproducible(rng):
    x = np.ones((10, 10))
    first = Dropout(0.5, seed=7)(x, training=True)
    np.testing.assert_array_equal(Dropout(0.5, seed=7)(x, training=True), first)


def test_dropout_config_keys_match_keras(keras):
    config = Dropout(0.25, noise_shape=(None, 1), seed=4).get_config()
    assert set(config) == keras_config_keys(keras.layers.Dropout(0.25))
    assert (config["rate"], config["noise_shape"], config["seed"]) == (0.25, (None, 1), 4)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"rate": 1.5}, ValueError, "`rate`"),
        ({"rate": -0.1}, ValueError, "`rate`"),
        ({"rate": "half"}, TypeError, "`rate`"),
        ({"rate": 0.5, "noise_shape": "batch"}, TypeError, "`noise_shape`"),
        ({"rate": 0.5, "noise_shape": (0, 1)}, ValueError, "`noise_shape`"),
        ({"rate": 0.5, "seed": "x"}, TypeError, "`seed`"),
    ],
)
def test_dropout_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        Dropout(**kwargs)


def test_dropout_noise_shape_must_broadcast():
    with pytest.raises(ValueError, match="`noise_shape`"):
        Dropout(0.5, noise_shape=(None, 3))(np.ones((2, 4)), training=True)


def test_dense_takes_keras_3_off_keys_only_when_off(keras):
    config = keras.layers.serialize(keras.layers.Dense(3))["config"]
    assert config["quantization_config"] is None
    assert Dense.from_config(config).get_config()["quantization_config"] is None
    Dense(3, lora_rank=None, lora_alpha=None)
    for key, value in [("quantization_config", {"mode": "int8"}), ("lora_rank", 4), ("lora_alpha", 8.0)]:
        with pytest.raises(ValueError, match=f"`{key}`.*None"):
            Dense(3, **{key: value})
