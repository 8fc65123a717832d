"""Rescaling and Normalization: values against real Keras, adapt() against
Keras's adapt and against the whole-data statistics, Keras's weights in and
out, gradients against finite differences in float64, configs and errors."""

import numpy as np
import pytest
from helpers import assert_close, check_gradients, keras_twin

from npconv import layers
from npconv.layers import Normalization, Rescaling


# --------------------------------------------------------------------------
# Rescaling
# --------------------------------------------------------------------------
@pytest.mark.parametrize("scale, offset", [(1 / 127.5, -1.0), (1 / 255, 0.0), ([0.5, 2.0, -1.0], [0.0, 1.0, 2.0])])
def test_rescaling_matches_keras(keras, rng, scale, offset):
    x = rng.integers(0, 256, (2, 4, 5, 3)).astype("uint8")
    ours = Rescaling(scale, offset)
    y = ours(x)
    assert y.dtype == np.float32
    assert_close(y, keras_twin(keras, ours)(x), rtol=1e-6, atol=1e-6)
    theirs = keras.layers.Rescaling(scale, offset)
    assert_close(layers.deserialize(keras.layers.serialize(theirs))(x), theirs(x), rtol=1e-6, atol=1e-6)


def test_rescaling_reads_keras_numpy_encoding(keras, rng):
    theirs = keras.layers.Rescaling(np.array([1.0, 2.0, 3.0]), offset=0.5)
    config = keras.layers.serialize(theirs)
    assert config["config"]["scale"]["class_name"] == "__numpy__"
    ours = layers.deserialize(config)
    x = rng.standard_normal((2, 3)).astype("float32")
    assert_close(ours(x), theirs(x))
    assert ours.get_config()["scale"] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("scale, offset", [(0.5, 1.0), ([0.5, -2.0, 3.0], [1.0, 0.0, -1.0])])
def test_rescaling_gradients(rng, scale, offset):
    check_gradients(Rescaling(scale, offset, dtype="float64"), rng.standard_normal((2, 4, 3)), rng)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: Rescaling("big"), TypeError, "`scale`"),
        (lambda: Rescaling(None), TypeError, "`scale`"),
        (lambda: Rescaling(1.0, offset={"a": 1}), TypeError, "`offset`"),
        (lambda: Rescaling(1.0, True), TypeError, "`offset`"),
    ],
)
def test_rescaling_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


# --------------------------------------------------------------------------
# Normalization with given statistics
# --------------------------------------------------------------------------
GIVEN = [
    dict(axis=-1, mean=[0.5, 1.0, -2.0], variance=[4.0, 0.25, 1.0]),
    dict(axis=-1, mean=0.5, variance=2.0),
    dict(axis=None, mean=0.5, variance=2.0),
    dict(axis=(1, 3), mean=[[1.0, 2.0, 3.0]] * 4, variance=[[1.0, 4.0, 9.0]] * 4),
    dict(axis=(1, 3), mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]),  # aligned with the last kept axis
    dict(axis=-1, mean=[0.5, 1.0, -2.0], variance=[4.0, 0.0, 1.0], invert=True),
]


@pytest.mark.parametrize("kwargs", GIVEN)
def test_normalization_given_matches_keras(keras, rng, kwargs):
    x = rng.standard_normal((2, 4, 5, 3)).astype("float32")
    ours = Normalization(**kwargs)
    assert_close(ours(x), keras_twin(keras, ours)(x), rtol=1e-6, atol=1e-6)
    assert ours.weights == []
    theirs = keras.layers.Normalization(**kwargs)
    assert_close(layers.deserialize(keras.layers.serialize(theirs))(x), theirs(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs", GIVEN)
def test_normalization_gradients(rng, kwargs):
    check_gradients(Normalization(dtype="float64", **kwargs), rng.standard_normal((2, 4, 5, 3)), rng)


def test_zero_variance_is_floored_at_keras_epsilon():
    layer = Normalization(mean=1.0, variance=0.0, dtype="float64")
    assert_close(layer(np.array([[1.0, 1.0 + 1e-7]])), [[0.0, 1.0]], rtol=1e-6)


# --------------------------------------------------------------------------
# Normalization learnt with adapt
# --------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [-1, (1, 2), None])
def test_adapt_matches_keras(keras, rng, axis):
    data = (rng.standard_normal((20, 4, 3)) * [1.0, 3.0, 0.5] + [2.0, -1.0, 0.0]).astype("float32")
    ours, theirs = Normalization(axis=axis), keras.layers.Normalization(axis=axis)
    ours.adapt(data)
    theirs.adapt(data)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        assert mine.dtype == keras_weight.dtype and mine.shape == keras_weight.shape
        assert_close(mine, keras_weight, rtol=1e-5, atol=1e-6)
    x = rng.standard_normal((3, 4, 3)).astype("float32")
    assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_adapt_on_batches_equals_adapt_on_the_whole(rng):
    data = rng.standard_normal((17, 5, 2)) * 3 + 1
    whole, parts, gen = Normalization(dtype="float64"), Normalization(dtype="float64"), Normalization(dtype="float64")
    whole.adapt(data)
    parts.adapt([data[:3], data[3:10], data[10:]])
    gen.adapt((data[i : i + 4], None) for i in range(0, 17, 4))  # (x, y) batches from a generator
    expected_mean = data.mean(axis=(0, 1))
    expected_var = data.var(axis=(0, 1))
    for layer in (whole, parts, gen):
        assert_close(layer.mean.value, expected_mean, rtol=1e-12)
        assert_close(layer.variance.value, expected_var, rtol=1e-12)


def test_adapt_takes_a_pydataset_like_object(rng):
    data = rng.standard_normal((12, 3))

    class Batches:
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return data[4 * i : 4 * i + 4], np.zeros(4)

    layer = Normalization(dtype="float64")
    layer.adapt(Batches())
    assert_close(layer.mean.value, data.mean(axis=0), rtol=1e-12)


def test_keras_weights_in_and_out(keras, rng):
    theirs = keras.layers.Normalization(axis=-1)
    theirs.adapt(rng.standard_normal((10, 3)).astype("float32") * 2 + 1)
    ours = layers.deserialize(keras.layers.serialize(theirs))
    ours.build((None, 3))
    assert [w.name.split("/")[-1] for w in ours.weights] == ["mean", "variance", "count"]
    ours.set_weights(theirs.get_weights())
    x = rng.standard_normal((4, 3)).astype("float32")
    assert_close(ours(x), theirs(x), rtol=1e-6, atol=1e-6)
    assert ours.count.value.dtype == np.int64 and ours.trainable_weights == []
    # and the other way: npconv's weights into a fresh Keras layer
    again = keras.layers.Normalization(axis=-1)
    again.build((None, 3))
    again.set_weights(ours.get_weights())
    again.finalize_state()  # Keras reads set_weights' values only after this (its loader calls it)
    assert_close(again(x), ours(x), rtol=1e-6, atol=1e-6)


def test_adapted_gradients(rng):
    layer = Normalization(dtype="float64", invert=False)
    layer.adapt(rng.standard_normal((10, 3, 2)))
    check_gradients(layer, rng.standard_normal((2, 3, 2)), rng)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: Normalization(mean=1.0), ValueError, "`variance`"),
        (lambda: Normalization(variance=1.0), ValueError, "`mean`"),
        (lambda: Normalization(mean=[1.0, 2.0], variance=[1.0]), ValueError, "`variance`"),
        (lambda: Normalization(axis=-1, mean=[[1.0]], variance=[[1.0]]), ValueError, "`mean`"),
        (lambda: Normalization(mean=0.0, variance=-1.0), ValueError, "`variance`"),
        (lambda: Normalization(axis="last"), TypeError, "`axis`"),
        (lambda: Normalization(invert=1), TypeError, "`invert`"),
        (lambda: Normalization(axis=3)(np.ones((2, 3))), ValueError, "`axis`"),
        (lambda: Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0])(np.ones((2, 3))), ValueError, "`mean`"),
        (lambda: Normalization(mean=1.0, variance=1.0).adapt(np.ones((2, 3))), ValueError, "cannot adapt"),
        (lambda: Normalization().adapt([]), ValueError, "at least one batch"),
        (lambda: Normalization().adapt([1.0, 2.0]), TypeError, "`data`"),
        (lambda: Normalization().adapt(5), TypeError, "`data`"),
    ],
)
def test_normalization_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_input_must_match_the_built_axes():
    layer = Normalization(axis=-1)
    layer.adapt(np.ones((4, 3)))
    layer(np.ones((7, 3)))
    with pytest.raises(ValueError, match="incompatible"):
        layer(np.ones((2, 4)))
    with pytest.raises(ValueError, match="incompatible"):
        layer.adapt(np.ones((2, 4)))


@pytest.mark.parametrize(
    "layer", [Rescaling([1.0, 2.0], 0.5), Normalization(axis=(1, 2), mean=[1.0, 2.0], variance=[3.0, 4.0], invert=True)]
)
def test_config_round_trip(layer):
    config = layers.serialize(layer)
    assert layers.serialize(layers.deserialize(config))["config"] == config["config"]
