"""LayerNormalization: values against real Keras (same weights), gradients
against finite differences in float64, configs both ways, and errors."""

import numpy as np
import pytest
from helpers import assert_close, check_gradients, keras_twin

from npconv import layers
from npconv.layers import LayerNormalization

CASES = [
    dict(),
    dict(axis=[1, 2], epsilon=1e-6),
    dict(axis=1, center=False),
    dict(axis=-1, scale=False),
    dict(axis=[-1], center=False, scale=False),
    dict(axis=-1, rms_scaling=True),
    dict(axis=[1, 3], rms_scaling=True, epsilon=1e-5),
]
SHAPE = (2, 3, 4, 5)


def random_weights(layer, rng):
    layer.build(SHAPE)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.weights])


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")  # Keras deprecates it; npconv matches it
@pytest.mark.parametrize("kwargs", CASES)
def test_matches_keras(keras, rng, kwargs):
    ours = LayerNormalization(**kwargs)
    random_weights(ours, rng)
    x = (rng.standard_normal(SHAPE) * 3 + 1).astype("float32")
    theirs = keras_twin(keras, ours, SHAPE)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", CASES)
def test_gradients(rng, kwargs):
    layer = LayerNormalization(dtype="float64", **kwargs)
    random_weights(layer, rng)
    check_gradients(layer, rng.standard_normal(SHAPE) * 2 + 0.5, rng, rtol=1e-5, atol=1e-7)


def test_keras_convnext_style_config(keras, rng):
    theirs = keras.layers.LayerNormalization(epsilon=1e-6, name="stem_layernorm")
    theirs.build((None, 7, 7, 8))
    theirs.set_weights([rng.standard_normal(8).astype("float32") for _ in range(2)])
    config = keras.layers.serialize(theirs)
    assert config["config"]["axis"] == [-1]  # Keras writes the list after build
    ours = layers.deserialize(config)
    ours.build((None, 7, 7, 8))
    ours.set_weights(theirs.get_weights())
    x = rng.standard_normal((2, 7, 7, 8)).astype("float32")
    assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    assert layers.serialize(layers.deserialize(layers.serialize(ours)))["config"] == layers.serialize(ours)["config"]


def test_same_in_training_and_inference(rng):
    layer = LayerNormalization()
    x = rng.standard_normal((3, 6)).astype("float32")
    assert_close(layer(x, training=True), layer(x, training=False))
    assert_close(layer(x).mean(axis=-1), np.zeros(3), atol=1e-6)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: LayerNormalization(axis="x"), TypeError, "`axis`"),
        (lambda: LayerNormalization(axis=[]), TypeError, "`axis`"),
        (lambda: LayerNormalization(epsilon=-1), ValueError, "`epsilon`"),
        (lambda: LayerNormalization(center="yes"), TypeError, "`center`"),
        (lambda: LayerNormalization(rms_scaling=1), TypeError, "`rms_scaling`"),
        (lambda: LayerNormalization(gamma_initializer="nope"), ValueError, "`gamma_initializer`"),
        (lambda: LayerNormalization(axis=2)(np.ones((2, 3))), ValueError, "`axis`"),
        (lambda: LayerNormalization(axis=[1, -1])(np.ones((2, 3))), ValueError, "distinct"),
    ],
)
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_built_layer_refuses_other_feature_sizes():
    layer = LayerNormalization()
    layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match="incompatible"):
        layer(np.ones((2, 4)))
