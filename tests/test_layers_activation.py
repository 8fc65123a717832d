"""ReLU, LeakyReLU, PReLU, ELU and Softmax layers: values against real Keras
(same weights), gradients against finite differences in float64, configs both
ways, and argument errors."""

import numpy as np
import pytest
from helpers import assert_close, check_gradients, keras_twin

from npconv import layers
from npconv.layers import ELU, LeakyReLU, PReLU, ReLU, Softmax


def away_from_kinks(rng, shape, kinks=(0.0,), gap=0.05):
    """Random values at least ``gap`` from every kink, so finite differences
    never straddle one."""
    x = rng.uniform(-3, 8, size=shape)
    for k in kinks:
        near = np.abs(x - k) < gap
        x[near] = k + np.where(x[near] >= k, gap, -gap) * 2
    return x


RELU_CASES = [
    dict(),
    dict(max_value=6.0),
    dict(negative_slope=0.1),
    dict(threshold=1.5),
    dict(max_value=4.0, negative_slope=0.2, threshold=0.5),
]


@pytest.mark.parametrize("kwargs", RELU_CASES)
def test_relu_matches_keras(keras, rng, kwargs):
    ours = ReLU(**kwargs)
    x = away_from_kinks(rng, (2, 5, 3)).astype("float32")
    assert_close(ours(x), keras_twin(keras, ours)(x), rtol=1e-6, atol=1e-6)
    theirs = keras.layers.ReLU(**kwargs)
    assert_close(layers.deserialize(keras.layers.serialize(theirs))(x), theirs(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs", RELU_CASES)
def test_relu_gradients(rng, kwargs):
    kinks = (0.0, kwargs.get("threshold", 0.0), kwargs.get("max_value") or 0.0)
    check_gradients(ReLU(dtype="float64", **kwargs), away_from_kinks(rng, (2, 4, 3), kinks), rng)


@pytest.mark.parametrize(
    "cls, kwargs",
    [(LeakyReLU, {}), (LeakyReLU, dict(negative_slope=0.05)), (ELU, {}), (ELU, dict(alpha=0.4))],
)
def test_leaky_relu_and_elu(keras, rng, cls, kwargs):
    ours = cls(**kwargs)
    x = away_from_kinks(rng, (3, 7)).astype("float32")
    assert_close(ours(x), keras_twin(keras, ours)(x), rtol=1e-6, atol=1e-6)
    theirs = getattr(keras.layers, cls.__name__)(**kwargs)
    assert_close(layers.deserialize(keras.layers.serialize(theirs))(x), theirs(x), rtol=1e-6, atol=1e-6)
    check_gradients(cls(dtype="float64", **kwargs), away_from_kinks(rng, (2, 5)), rng)


def test_leaky_relu_default_slope_and_alpha_alias():
    assert LeakyReLU().negative_slope == 0.3
    assert LeakyReLU(alpha=0.1).get_config()["negative_slope"] == 0.1


@pytest.mark.parametrize("shared_axes", [None, [1, 2], 3, [1]])
def test_prelu_matches_keras_and_gradients(keras, rng, shared_axes):
    shape = (2, 4, 5, 3)
    theirs = keras.layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.5, 0.5), shared_axes=shared_axes)
    x = away_from_kinks(rng, shape).astype("float32")
    expected = np.asarray(theirs(x))
    ours = layers.deserialize(keras.layers.serialize(theirs))
    ours.build(shape)
    ours.set_weights(theirs.get_weights())
    assert ours.alpha.shape == tuple(theirs.alpha.shape)
    assert_close(ours(x), expected, rtol=1e-6, atol=1e-6)
    assert_close(keras_twin(keras, ours, shape)(x), expected, rtol=1e-6, atol=1e-6)  # and back into Keras

    layer = PReLU(alpha_initializer="random_normal", shared_axes=shared_axes, dtype="float64")
    check_gradients(layer, away_from_kinks(rng, shape), rng)


def test_prelu_checks_input_against_its_alpha(rng):
    layer = PReLU(shared_axes=[1])
    layer(np.ones((2, 3, 4)))
    layer(np.ones((5, 7, 4)))  # the shared axis may change length
    with pytest.raises(ValueError, match="incompatible"):
        layer(np.ones((2, 3, 5)))


@pytest.mark.parametrize("axis", [-1, 1, [1, 2], (0, 2)])
def test_softmax_matches_keras_and_gradients(keras, rng, axis):
    x = rng.standard_normal((2, 3, 4)).astype("float32") * 3
    ours = Softmax(axis=axis)
    assert_close(ours(x), keras_twin(keras, ours)(x), rtol=1e-6, atol=1e-7)
    check_gradients(Softmax(axis=axis, dtype="float64"), rng.standard_normal((2, 3, 4)), rng)


def test_softmax_mask_matches_keras(keras, rng):
    x = rng.standard_normal((2, 3, 5)).astype("float32")
    mask = rng.random((2, 1, 5)) > 0.4
    mask[..., 0] = True
    ours, theirs = Softmax(), keras.layers.Softmax()
    y = ours(x, mask=mask)
    assert_close(y, theirs(x, mask=mask), rtol=1e-6, atol=1e-7)
    assert np.all(y[np.broadcast_to(~mask, y.shape)] == 0)
    # the mask is used once: the next call without it is a plain softmax
    assert_close(ours(x), theirs(x), rtol=1e-6, atol=1e-7)


def test_softmax_mask_gradient(rng):
    x = rng.standard_normal((2, 4))
    mask = np.array([[True, False, True, True], [False, True, True, False]])
    layer = Softmax(dtype="float64")
    layer(x, mask=mask)
    dy = rng.standard_normal((2, 4))
    dx = layer.backward(dy)
    # masked entries get no gradient; the rest is the softmax over the kept entries
    assert np.all(dx[~mask] == 0)
    for row in range(2):
        keep = mask[row]
        y = np.exp(x[row, keep]) / np.exp(x[row, keep]).sum()
        assert_close(dx[row, keep], y * (dy[row, keep] - np.sum(dy[row, keep] * y)))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ReLU(max_value=-1), "`max_value`"),
        (lambda: ReLU(negative_slope=-0.1), "`negative_slope`"),
        (lambda: ReLU(threshold=None), "`threshold`"),
        (lambda: ReLU(threshold=float("nan")), "`threshold`"),
        (lambda: LeakyReLU(negative_slope=-1), "`negative_slope`"),
        (lambda: ELU(alpha="big"), "`alpha`"),
        (lambda: Softmax(axis=[]), "`axis`"),
        (lambda: Softmax(axis=[1, 1]), "`axis`"),
        (lambda: Softmax(axis="last"), "`axis`"),
        (lambda: PReLU(shared_axes=[0]), "`shared_axes`"),
        (lambda: PReLU(shared_axes="1"), "`shared_axes`"),
        (lambda: PReLU(alpha_initializer="nope"), "`alpha_initializer`"),
    ],
)
def test_argument_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_errors_at_call(rng):
    with pytest.raises(ValueError, match="`axis`"):
        Softmax(axis=3)(np.ones((2, 3)))
    with pytest.raises(ValueError, match="`mask`"):
        Softmax()(np.ones((2, 3)), mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="`shared_axes`"):
        PReLU(shared_axes=[3])(np.ones((2, 3)))


@pytest.mark.parametrize(
    "layer",
    [ReLU(6.0, 0.1, 0.5), LeakyReLU(0.2), ELU(0.7), Softmax([1, 2]), PReLU(shared_axes=[1], alpha_regularizer="l2")],
)
def test_config_round_trip(layer):
    config = layers.serialize(layer)
    again = layers.deserialize(config)
    assert type(again) is type(layer)
    assert layers.serialize(again)["config"] == config["config"]
