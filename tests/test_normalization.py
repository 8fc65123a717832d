"""BatchNormalization against real Keras: weights, training and inference
outputs, moving-statistics updates, TensorFlow's gradients, and finite
differences in float64."""

import numpy as np
import pytest
from helpers import check_gradients, keras_config_keys

from npconv.layers.normalization import BatchNormalization


def random_weights(rng, layer):
    """Non-trivial gamma/beta/moving stats in get_weights() order (variances > 0)."""
    weights = []
    for w in layer.weights:
        positive = "variance" in w.name or "gamma" in w.name
        value = rng.uniform(0.5, 2.0, w.shape) if positive else rng.standard_normal(w.shape)
        weights.append(value.astype(np.dtype(w.dtype)))
    return weights


def paired(keras, rng, shape, **kwargs):
    theirs = keras.layers.BatchNormalization(**kwargs)
    theirs.build(shape)
    theirs.set_weights(random_weights(rng, theirs))
    ours = BatchNormalization(**kwargs)
    ours.build(shape)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((8, 5), {}),
        ((4, 3, 3, 2), {}),
        ((4, 2, 3, 3), {"axis": 1}),
        ((4, 3, 5), {"axis": -2, "momentum": 0.9, "epsilon": 1e-5}),
        ((6, 4), {"center": False}),
        ((6, 4), {"scale": False}),
        ((6, 4), {"center": False, "scale": False}),
    ],
)
def test_batch_norm_matches_keras(keras, rng, shape, kwargs):
    ours, theirs = paired(keras, rng, shape, **kwargs)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert [w.trainable for w in ours.weights] == [w.trainable for w in theirs.weights]
    for step in range(3):
        x = (rng.standard_normal(shape) * 3 + step).astype("float32")
        np.testing.assert_allclose(ours(x, training=True), np.asarray(theirs(x, training=True)), rtol=1e-4, atol=1e-5)
        for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-6)
    x = rng.standard_normal(shape).astype("float32")
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x, training=False)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours(x, training=False), np.asarray(theirs(x)), rtol=1e-5, atol=1e-5)


def test_batch_norm_moving_statistics_formula(rng):
    """moving = moving * momentum + batch * (1 - momentum), with the biased variance."""
    layer = BatchNormalization(momentum=0.8, dtype="float64")
    x = rng.standard_normal((10, 3)) * 2 + 1
    layer(x, training=True)
    np.testing.assert_allclose(layer.moving_mean.value, 0.2 * x.mean(axis=0))
    np.testing.assert_allclose(layer.moving_variance.value, 0.8 + 0.2 * x.var(axis=0, ddof=0))


def test_batch_norm_inference_leaves_moving_statistics(rng):
    layer = BatchNormalization()
    layer(rng.standard_normal((5, 3)))
    np.testing.assert_array_equal(layer.moving_mean.value, np.zeros(3))
    np.testing.assert_array_equal(layer.moving_variance.value, np.ones(3))


def test_frozen_batch_norm_runs_in_inference_mode(keras, rng):
    ours, theirs = paired(keras, rng, (6, 3))
    ours.trainable = theirs.trainable = False
    x = rng.standard_normal((6, 3)).astype("float32")
    np.testing.assert_allclose(ours(x, training=True), np.asarray(theirs(x, training=True)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.get_weights()[2], theirs.get_weights()[2])


def test_batch_norm_weights_are_keras_ordered(keras):
    ours = BatchNormalization()
    ours.build((None, 4))
    assert [w.name.split("/")[-1] for w in ours.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name.split("/")[-1] for w in ours.trainable_weights] == ["gamma", "beta"]
    assert ours.count_params() == 16


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    "shape, kwargs",
    [((6, 3), {}), ((3, 2, 3, 2), {"axis": 1}), ((4, 3, 2), {"scale": False}), ((4, 3), {"center": False})],
)
def test_batch_norm_gradients(rng, training, shape, kwargs):
    layer = BatchNormalization(dtype="float64", **kwargs)
    layer.build(shape)
    layer.set_weights(random_weights(rng, layer))
    # Moving statistics change on every training call but do not affect the
    # training output, so finite differences stay valid.
    check_gradients(layer, rng.standard_normal(shape) * 2 + 1, rng, training=training)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_match_tensorflow(keras, rng, training):
    tf = pytest.importorskip("tensorflow")
    shape = (5, 3, 3, 4)
    ours, theirs = paired(keras, rng, shape)
    x = rng.standard_normal(shape).astype("float32")
    dy = rng.standard_normal(shape).astype("float32")
    ours(x, training=training)
    dx = ours.backward(dy)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = theirs(xt, training=training)
    grads = tape.gradient(yt, [xt, theirs.gamma, theirs.beta], output_gradients=tf.constant(dy))
    np.testing.assert_allclose(dx, grads[0].numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.gamma.grad, grads[1].numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.beta.grad, grads[2].numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(None, 4), (None, None, 3), (2, 5, None, 6)])
def test_batch_norm_output_shape(keras, shape):
    assert BatchNormalization().compute_output_shape(shape) == keras.layers.BatchNormalization().compute_output_shape(
        shape
    )


def test_batch_norm_config_keys_match_keras(keras):
    ours = BatchNormalization(momentum=0.9).get_config()
    assert set(ours) == keras_config_keys(keras.layers.BatchNormalization())
    assert (ours["axis"], ours["momentum"], ours["epsilon"]) == (-1, 0.9, 1e-3)
    assert BatchNormalization.from_config(ours).get_config() == ours


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"axis": 1.0}, TypeError, "`axis`"),
        ({"momentum": 1.5}, ValueError, "`momentum`"),
        ({"momentum": "fast"}, TypeError, "`momentum`"),
        ({"epsilon": -1.0}, ValueError, "`epsilon`"),
        ({"center": "yes"}, TypeError, "`center`"),
        ({"scale": None}, TypeError, "`scale`"),
        ({"gamma_initializer": "no_such_initializer"}, ValueError, "`gamma_initializer`"),
        ({"renorm": True}, NotImplementedError, "`renorm`"),
    ],
)
def test_batch_norm_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        BatchNormalization(**kwargs)


def test_batch_norm_axis_out_of_range():
    with pytest.raises(ValueError, match="`axis`"):
        BatchNormalization(axis=3).build((None, 4, 4))
    with pytest.raises(ValueError, match="`axis`"):
        BatchNormalization(axis=-4).compute_output_shape((None, 4, 4))


def test_batch_norm_rejects_other_features():
    layer = BatchNormalization()
    layer(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="incompatible"):
        layer(np.zeros((2, 4)))
