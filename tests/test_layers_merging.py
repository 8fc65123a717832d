"""Merge layers: values against real Keras (including its broadcasting and
rank expansion), gradients (a list, one per input) against finite differences
in float64, tie rules, configs and errors."""

import numpy as np
import pytest
from helpers import assert_close, check_gradients, keras_twin

from npconv import layers
from npconv.layers import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract

ELEMENTWISE = [Add, Subtract, Multiply, Average, Maximum, Minimum]

SHAPE_CASES = [
    [(2, 4, 3), (2, 4, 3)],
    [(2, 1, 1, 3), (2, 4, 5, 3)],  # squeeze-and-excite gate
    [(2, 3), (2, 4, 3)],  # lower rank: an axis is added after the batch
    [(2, 4, 1), (2, 1, 3), (2, 4, 3)],
]


def inputs_for(cls, shapes, rng, dtype="float32"):
    if cls is Subtract:
        shapes = shapes[:2]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("cls", ELEMENTWISE)
@pytest.mark.parametrize("shapes", SHAPE_CASES)
def test_elementwise_matches_keras(keras, rng, cls, shapes):
    xs = inputs_for(cls, shapes, rng)
    ours = cls()
    y = ours(xs)
    expected = np.asarray(keras_twin(keras, ours)(xs))
    assert_close(y, expected, rtol=1e-6, atol=1e-6)
    assert ours.compute_output_shape([(None, *x.shape[1:]) for x in xs]) == (None, *expected.shape[1:])


@pytest.mark.parametrize("cls", ELEMENTWISE)
@pytest.mark.parametrize("shapes", SHAPE_CASES)
def test_elementwise_gradients(rng, cls, shapes):
    xs = inputs_for(cls, shapes, rng, "float64")
    dxs, _ = check_gradients(cls(dtype="float64"), xs, rng, form="list")
    assert [d.shape for d in dxs] == [x.shape for x in xs]


@pytest.mark.parametrize("cls", [Add, Multiply, Average, Maximum, Minimum])
def test_single_input_is_the_identity(rng, cls):
    x = rng.standard_normal((2, 3))
    layer = cls(dtype="float64")
    y = layer([x])
    assert_close(y, x)
    y[0, 0] = 99.0  # the output is a fresh array, not the input
    assert x[0, 0] != 99.0
    assert_close(layer.backward(np.ones((2, 3)))[0], np.ones((2, 3)))


@pytest.mark.parametrize("cls, winner", [(Maximum, 0), (Minimum, 0)])
def test_ties_send_the_gradient_to_the_first_input(cls, winner):
    a = np.array([[1.0, 2.0, 3.0]])
    layer = cls(dtype="float64")
    layer([a, a.copy(), a.copy()])
    grads = layer.backward(np.ones((1, 3)))
    assert_close(grads[winner], np.ones((1, 3)))
    for i, g in enumerate(grads):
        if i != winner:
            assert_close(g, np.zeros((1, 3)))


def test_maximum_picks_the_largest_per_element():
    a = np.array([[1.0, 5.0, 0.0]])
    b = np.array([[2.0, 4.0, 0.5]])
    c = np.array([[0.0, 6.0, 0.25]])
    layer = Maximum(dtype="float64")
    assert_close(layer([a, b, c]), [[2.0, 6.0, 0.5]])
    da, db, dc = layer.backward(np.array([[1.0, 2.0, 3.0]]))
    assert_close(da, [[0, 0, 0]])
    assert_close(db, [[1, 0, 3]])
    assert_close(dc, [[0, 2, 0]])


def test_multiply_gradient_with_zeros(rng):
    a = np.array([[0.0, 2.0]])
    b = np.array([[3.0, 0.0]])
    layer = Multiply(dtype="float64")
    layer([a, b])
    da, db = layer.backward(np.ones((1, 2)))
    assert_close(da, [[3.0, 0.0]])
    assert_close(db, [[0.0, 2.0]])


@pytest.mark.parametrize(
    "axis, shapes",
    [
        (-1, [(2, 4, 3), (2, 4, 5)]),
        (1, [(2, 4, 3), (2, 1, 3), (2, 2, 3)]),
        (2, [(2, 3, 4, 1), (2, 3, 2, 1)]),
        (-3, [(2, 3, 4, 1), (2, 1, 4, 1)]),
    ],
)
def test_concatenate_matches_keras_and_gradients(keras, rng, axis, shapes):
    xs = [rng.standard_normal(s).astype("float32") for s in shapes]
    ours = Concatenate(axis=axis)
    y = ours(xs)
    assert_close(y, keras_twin(keras, ours)(xs))
    assert ours.compute_output_shape([(None, *s[1:]) for s in shapes]) == (None, *y.shape[1:])
    check_gradients(Concatenate(axis=axis, dtype="float64"), [x.astype("float64") for x in xs], rng, form="list")


def test_concatenate_output_shape_with_unknown_lengths():
    layer = Concatenate(axis=1)
    assert layer.compute_output_shape([(None, None, 3), (None, 4, 3)]) == (None, None, 3)
    assert layer.compute_output_shape([(None, 2, None), (5, 4, 3)]) == (5, 6, 3)


@pytest.mark.parametrize("cls", ELEMENTWISE + [Concatenate])
def test_keras_config_builds_the_same_layer(keras, rng, cls):
    theirs = getattr(keras.layers, cls.__name__)(name="merge_me")
    ours = layers.deserialize(keras.layers.serialize(theirs))
    assert type(ours) is cls and ours.name == "merge_me"
    xs = inputs_for(cls, [(2, 3, 4), (2, 3, 4)], rng)
    assert_close(ours(xs), theirs(xs), rtol=1e-6, atol=1e-6)
    again = layers.deserialize(layers.serialize(ours))
    assert again.get_config() == ours.get_config()


def test_concatenate_config_keeps_axis():
    layer = layers.deserialize(layers.serialize(Concatenate(axis=2)))
    assert layer.axis == 2


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: Add()(np.ones((2, 3))), TypeError, "a list of arrays"),
        (lambda: Add()([np.ones((2, 3)), np.ones((3, 3))]), ValueError, "different batch sizes"),
        (lambda: Add()([np.ones((2, 3)), np.ones((2, 4))]), ValueError, "do not broadcast"),
        (lambda: Add()([]), ValueError, "at least 1"),
        (lambda: Subtract()([np.ones((2, 3))] * 3), ValueError, "exactly 2"),
        (lambda: Concatenate()([np.ones((2, 3)), np.ones((2, 3, 1))]), ValueError, "one rank"),
        (lambda: Concatenate(axis=1)([np.ones((2, 3, 4)), np.ones((2, 3, 5))]), ValueError, "match on every axis"),
        (lambda: Concatenate(axis=0)([np.ones((2, 3)), np.ones((2, 3))]), ValueError, "batch axis"),
        (lambda: Concatenate(axis=3)([np.ones((2, 3)), np.ones((2, 3))]), ValueError, "`axis`"),
        (lambda: Concatenate(axis=1.0), TypeError, "`axis`"),
        (lambda: Add()([np.ones((2, 3))], mask=[np.ones(2)]), ValueError, "`mask`"),
        (lambda: Add()([np.ones((2, 3))], bogus=1), TypeError, "bogus"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_mask_none_is_accepted():
    assert_close(Add()([np.ones((1, 2)), np.ones((1, 2))], mask=None), [[2.0, 2.0]])


@pytest.mark.parametrize(
    "function, count", [("add", 3), ("subtract", 2), ("multiply", 3), ("average", 3), ("maximum", 3), ("minimum", 3)]
)
def test_functional_shortcuts_match_keras(keras, rng, function, count):
    xs = [rng.standard_normal((2, 3, 4)).astype("float32") for _ in range(count)]
    y = getattr(layers, function)(xs, name=f"my_{function}")
    assert_close(y, getattr(keras.layers, function)(xs), rtol=1e-6, atol=1e-6)


def test_concatenate_shortcut(keras, rng):
    xs = [rng.standard_normal((2, 3, n)).astype("float32") for n in (1, 4)]
    assert_close(layers.concatenate(xs, axis=-1), keras.layers.concatenate(xs, axis=-1))
