"""npconv.activations.gradient against finite differences in float64 and
TensorFlow's gradients of the Keras activations of the same name."""

import functools

import numpy as np
import pytest
from helpers import numeric_gradient

from npconv import activations
from npconv.activations import gradient

# name -> points where the derivative jumps (finite differences stay away from them)
KINKS = {
    "relu": [0],
    "leaky_relu": [0],
    "relu6": [0, 6],
    "elu": [0],
    "selu": [0],
    "celu": [0],
    "softplus": [],
    "softsign": [0],
    "soft_shrink": [-0.5, 0.5],
    "hard_shrink": [-0.5, 0.5],
    "sparse_plus": [-1, 1],
    "silu": [],
    "swish": [],
    "squareplus": [],
    "gelu": [],
    "tanh": [],
    "tanh_shrink": [],
    "hard_tanh": [-1, 1],
    "sigmoid": [],
    "exponential": [],
    "hard_sigmoid": [-3, 3],
    "log_sigmoid": [],
    "sparse_sigmoid": [-1, 1],
    "hard_silu": [-3, 3],
    "hard_swish": [-3, 3],
    "linear": [],
    "mish": [],
    "softmax": [],
    "log_softmax": [],
    "glu": [],
    "sparsemax": [],
}


def builtin(name):
    function = getattr(activations, name, None)
    if function is None:
        pytest.skip(f"npconv.activations has no {name}")
    return function


def away_from_kinks(x, kinks, gap=1e-2):
    for k in kinks:
        near = np.abs(x - k) < gap
        x[near] = k + 0.1
    return x


def check(function, x, rng, rtol=1e-6, atol=1e-9):
    y = function(x)
    dy = rng.standard_normal(np.shape(y))
    dx = gradient(function, x, y, dy)
    assert dx.shape == x.shape and dx.dtype == dy.dtype
    expected = numeric_gradient(lambda: np.array(function(x)), x, dy)  # a copy: linear returns x
    np.testing.assert_allclose(dx, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", sorted(KINKS))
def test_gradient_matches_finite_differences(rng, name):
    function = builtin(name)
    x = away_from_kinks(rng.standard_normal((3, 6)) * 3, KINKS[name])
    if name == "exponential":
        x = x / 3
    check(function, x, rng)


@pytest.mark.parametrize(
    "name, keywords",
    [
        ("relu", {"negative_slope": 0.1}),
        ("relu", {"max_value": 2.0}),
        ("relu", {"threshold": 0.5}),
        ("relu", {"negative_slope": 0.1, "max_value": 2.0, "threshold": 0.5}),
        ("leaky_relu", {"negative_slope": 0.3}),
        ("elu", {"alpha": 0.5}),
        ("celu", {"alpha": 2.0}),
        ("gelu", {"approximate": True}),
        ("gelu", {"approximate": False}),
        ("squareplus", {"b": 1.0}),
        ("soft_shrink", {"threshold": 1.0}),
        ("threshold", {"threshold": 0.3, "default_value": -1.0}),
        ("softmax", {"axis": 0}),
        ("log_softmax", {"axis": 1}),
        ("glu", {"axis": 0}),
    ],
)
def test_gradient_honours_partial_keywords(rng, name, keywords):
    function = functools.partial(builtin(name), **keywords)
    kinks = [0, 0.3, 0.5, -0.5, 1, -1, 2]
    x = away_from_kinks(rng.standard_normal((4, 6)) * 3, kinks)
    check(function, x, rng)


# Keras's TensorFlow sparsemax is not a projection onto the simplex (its
# slices do not sum to 1), so it is no oracle; threshold needs arguments.
TF_NAMES = sorted(set(KINKS) - {"sparsemax"})
KINK_ROW = [0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0]


@pytest.mark.parametrize("name", TF_NAMES)
def test_gradient_matches_tensorflow(keras, rng, name):
    """Including subgradients at the kinks (celu's at 0 aside: TensorFlow's 2 is an artefact)."""
    tf = pytest.importorskip("tensorflow")
    function = builtin(name)
    x = (rng.standard_normal((4, 8)) * 3).astype("float32")
    x[0] = KINK_ROW if name != "celu" else 0.25
    y = function(x)
    dy = rng.standard_normal(y.shape).astype("float32")
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = keras.activations.get(name)(xt)
    expected = tape.gradient(yt, xt, output_gradients=tf.constant(dy)).numpy()
    np.testing.assert_allclose(gradient(function, x, y, dy), expected, rtol=1e-4, atol=1e-5)


def test_every_builtin_has_a_gradient(rng):
    """Each Keras-named activation npconv provides is differentiable here."""
    x = rng.standard_normal((2, 4))
    for name in sorted(KINKS):
        function = getattr(activations, name, None)
        if function is None or name == "threshold":
            continue
        y = function(x)
        assert gradient(function, x, y, np.ones_like(y)).shape == x.shape, name


def test_resolved_by_get(rng):
    x = rng.standard_normal((2, 3))
    function = activations.get("relu")
    np.testing.assert_array_equal(gradient(function, x, function(x), np.ones_like(x)), (x > 0).astype(float))


def test_none_is_the_identity():
    dy = np.arange(4.0)
    np.testing.assert_array_equal(gradient(None, dy, dy, dy), dy)


def test_custom_callable_without_gradient_raises():
    def double(x):
        return 2 * x

    with pytest.raises(NotImplementedError, match="'double'.*gradient"):
        gradient(double, np.ones(2), np.ones(2), np.ones(2))


def test_custom_callable_named_like_a_builtin_is_not_trusted():
    def relu(x):
        return np.maximum(2 * x, 0)

    with pytest.raises(NotImplementedError, match="'relu'"):
        gradient(relu, np.ones(2), np.ones(2), np.ones(2))


def test_custom_callable_with_gradient_attribute(rng):
    def double(x):
        return 2 * x

    double.gradient = lambda x, y, dy: 2 * dy
    x = rng.standard_normal(3)
    np.testing.assert_array_equal(gradient(double, x, double(x), np.ones(3)), np.full(3, 2.0))
