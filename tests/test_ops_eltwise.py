"""Activations behind the kernel seam: oneDNN against numpy (the exact reference), and Keras.

- every activation oneDNN runs, forward and backward, on inputs with NaN, +-Inf,
  signed zeros, subnormals, kinks and values up to 3e38: non-finite outputs
  exactly where numpy has them (same sign for Inf), the finite ones within
  float32 rounding; the record says oneDNN ran;
- the ones oneDNN must not run (exact forms missing, or numpy faster), float64,
  small arrays and softmax over a non-last axis run on numpy, and the record says so;
- every activation of the table through the seam's numpy backend equals
  npconv.activations, and its derivative reads only the array the spec says;
- the layers (ReLU, LeakyReLU, ELU, Softmax, conv layers) call the seam, and
  Keras agrees with the seam's values and gradients.
"""

import doctest
import functools

import numpy as np
import pytest
from helpers import on_backend

import npconv
from npconv import activations, layers
from npconv.ops import kernels
from npconv.ops.backends import onednn
from npconv.ops.backends.onednn import binding
from npconv.ops.backends.onednn import eltwise as onednn_eltwise
from npconv.ops.spec import EltwiseSpec, eltwise_spec

needs_onednn = pytest.mark.skipif(not onednn.available()[0], reason="oneDNN not loadable")

# Values where implementations part ways: non-finite, signed zeros, subnormals,
# kinks (+-1, +-3, 6), where exp under- and overflows (+-88, +-89), huge.
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 1e-30, -1e-30, 1.0, -1.0, 3.0, -3.0, 2.9, -2.9]
SPECIAL += [6.0, 7.0, 20.0, -20.0, 50.0, -50.0, 88.0, -88.0, 89.0, -89.0, 100.0, -100.0, 1e10, -1e10, 3e38, -3e38]
SHAPE = (3, 7, 61)  # 1281 elements: above NUMPY_ELEMENTS, not a multiple of a vector's width


def special_input(rng, shape=SHAPE, finite=False):
    """Random values with every SPECIAL value in several places (finite ones only if asked)."""
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    values = [v for v in SPECIAL if np.isfinite(v)] if finite else SPECIAL
    flat = x.reshape(-1)
    for i, v in enumerate(values):
        flat[i :: 97 + i] = v
    return x


def assert_same(actual, expected, rtol=1e-5, atol=1e-6):
    """NaN and +-Inf exactly where expected has them; the rest within float32 rounding."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(actual), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(actual), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol, atol=atol)


def function_of(name, keywords):
    function = activations.ACTIVATIONS[name][0]
    return functools.partial(function, **keywords) if keywords else function


def run_both(name, keywords, x, dy=None):
    """(forward, backward) through the seam on oneDNN, and what the seam recorded."""
    spec = eltwise_spec(function_of(name, keywords), x.shape, x.dtype)
    with on_backend("onednn"), npconv.ops.record() as seen, np.errstate(all="ignore"):
        y = kernels.activation_forward(spec, x)
        dx = None
        if dy is not None:
            dx = kernels.activation_backward(spec, y if spec.from_output else x, dy)
    return y, dx, seen


# (name, keywords) oneDNN runs, per pass
FORWARD = [
    ("elu", {}),
    ("elu", {"alpha": 0.5}),
    ("elu", {"alpha": -2.0}),
    ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": -0.5}),
    ("sigmoid", {}),
    ("gelu", {}),
    ("gelu", {"approximate": True}),
    ("silu", {}),
    ("mish", {}),
    ("hard_silu", {}),
]
BACKWARD = [
    ("gelu", {}),
    ("silu", {}),
    ("elu", {}),
    ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.0}),
    ("hard_silu", {}),
]
# (name, keywords, pass) numpy keeps on float32 arrays above NUMPY_ELEMENTS
NUMPY_KEEPS = [
    ("relu", {}, "eltwise_forward"),
    ("relu", {}, "eltwise_backward"),
    ("relu", {"max_value": 6.0}, "eltwise_forward"),
    ("relu6", {}, "eltwise_forward"),
    ("tanh", {}, "eltwise_forward"),
    ("tanh", {}, "eltwise_backward"),
    ("sigmoid", {}, "eltwise_backward"),
    ("softplus", {}, "eltwise_forward"),
    ("exponential", {}, "eltwise_forward"),
    ("hard_sigmoid", {}, "eltwise_forward"),
    ("leaky_relu", {"negative_slope": 0.0}, "eltwise_forward"),
    ("elu", {"alpha": 0.5}, "eltwise_backward"),
    ("mish", {}, "eltwise_backward"),
    ("gelu", {"approximate": True}, "eltwise_backward"),
    ("selu", {}, "eltwise_forward"),
    ("softmax", {"axis": 0}, "eltwise_forward"),
    ("softmax", {}, "eltwise_backward"),
]


# ----------------------------------------------------------------------- oneDNN vs numpy
@needs_onednn
@pytest.mark.parametrize("name, keywords", FORWARD)
def test_forward_matches_numpy_with_non_finite_inputs(rng, name, keywords):
    x = special_input(rng)
    y, _, seen = run_both(name, keywords, x)
    assert seen == [("eltwise_forward", "onednn")]
    with np.errstate(all="ignore"):
        assert_same(y, function_of(name, keywords)(x))


@needs_onednn
@pytest.mark.parametrize("name, keywords", BACKWARD)
def test_backward_matches_numpy_with_non_finite_inputs(rng, name, keywords):
    """dy holds NaN, +-Inf and 1e30 too; x holds every special value."""
    x = special_input(rng)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dy.reshape(-1)[3::53] = np.inf
    dy.reshape(-1)[5::59] = -np.inf
    dy.reshape(-1)[7::61] = np.nan
    dy.reshape(-1)[11::67] = 1e30
    _, dx, seen = run_both(name, keywords, x, dy)
    assert seen[1] == ("eltwise_backward", "onednn")
    function = function_of(name, keywords)
    with np.errstate(all="ignore"):
        expected = activations.gradient(function, x, function(x), dy)
    assert_same(dx, expected, rtol=1e-4, atol=1e-6)


@needs_onednn
@pytest.mark.parametrize("name, keywords", BACKWARD)
def test_backward_on_finite_inputs_runs_the_primitive(rng, name, keywords, monkeypatch):
    """On finite x and dy the oneDNN primitive itself computes dx (no numpy hand-off)."""
    x = special_input(rng, finite=True)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    monkeypatch.setattr(onednn_eltwise.reference, "backward", None)  # a hand-off would fail
    _, dx, seen = run_both(name, keywords, x, dy)
    assert seen[1] == ("eltwise_backward", "onednn")
    function = function_of(name, keywords)
    with np.errstate(all="ignore"):
        expected = activations.gradient(function, x, function(x), dy)
    assert_same(dx, expected, rtol=1e-4, atol=1e-6)


@needs_onednn
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_matches_numpy(rng, name):
    """Rows with a NaN, a +Inf, all -Inf, huge values: the whole row as numpy has it."""
    x = (rng.standard_normal((40, 100)) * 5).astype(np.float32)
    # log_softmax cancels terms of |x|'s size: a few float32 steps of 20 apart
    atol = 1e-5 if name == "log_softmax" else 1e-6
    y, _, seen = run_both(name, {}, x)
    assert seen == [("eltwise_forward", "onednn")]
    assert_same(y, activations.ACTIVATIONS[name][0](x), atol=atol)
    x[0, 3], x[1, 5], x[2] = np.nan, np.inf, -np.inf
    x[3, :2] = 3e38, -3e38
    y, _, seen = run_both(name, {}, x)
    assert seen == [("eltwise_forward", "onednn")]
    with np.errstate(all="ignore"):
        assert_same(y, activations.ACTIVATIONS[name][0](x), atol=atol)


@needs_onednn
def test_softmax_on_finite_rows_runs_the_primitive(rng, monkeypatch):
    x = (rng.standard_normal((8, 300)) * 30).astype(np.float32)
    monkeypatch.setattr(onednn_eltwise.reference, "forward", None)
    y, _, _ = run_both("softmax", {}, x)
    assert_same(y, activations.softmax(x))
    np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=1e-5)


@needs_onednn
def test_layout_is_kept(rng):
    """A channels_first array (a transposed view) comes back laid out as it went in."""
    x = np.moveaxis(special_input(rng, (2, 5, 11, 13)), 1, -1)
    y, dx, _ = run_both("gelu", {}, x, np.ones_like(x))
    assert y.strides == x.strides and dx.strides == x.strides
    with np.errstate(all="ignore"):
        assert_same(y, activations.gelu(x))


@needs_onednn
@pytest.mark.parametrize("size", [1025, 4099, 70001])
def test_sizes_and_strided_inputs(rng, size):
    """Odd sizes (vector tails), a strided slice and a broadcast view (stride 0)."""
    base = special_input(rng, (2 * size,))
    for x in (base[:size], base[::2], np.broadcast_to(base[:7], (size // 7 + 1, 7))):
        for name, keywords in FORWARD:
            y, _, seen = run_both(name, keywords, x)
            assert seen == [("eltwise_forward", "onednn")]
            with np.errstate(all="ignore"):
                assert_same(y, function_of(name, keywords)(x))


@needs_onednn
@pytest.mark.parametrize("name, keywords, pass_", NUMPY_KEEPS)
def test_numpy_keeps_these(rng, name, keywords, pass_):
    x = special_input(rng, finite=True)
    with np.errstate(all="ignore"):
        _, _, seen = run_both(name, keywords, x, np.ones_like(x))
    assert dict(seen)[pass_] == "eltwise"


@needs_onednn
def test_float64_and_small_arrays_run_numpy(rng):
    for x in (special_input(rng).astype(np.float64), special_input(rng, (4, 8))):
        with np.errstate(all="ignore"):
            y, dx, seen = run_both("gelu", {}, x, np.ones_like(x))
        assert seen == [("eltwise_forward", "eltwise"), ("eltwise_backward", "eltwise")]
        assert y.dtype == x.dtype == dx.dtype


@needs_onednn
def test_dy_of_another_dtype_keeps_its_dtype(rng):
    x = special_input(rng, finite=True)
    _, dx, _ = run_both("silu", {}, x, np.ones(x.shape))
    assert dx.dtype == np.float64


@needs_onednn
def test_routing_rule_is_the_size_of_the_spec():
    big = EltwiseSpec("sigmoid", (), (onednn_eltwise.NUMPY_ELEMENTS + 1,), "float32")
    small = big._replace(shape=(onednn_eltwise.NUMPY_ELEMENTS,))
    assert onednn.default("eltwise_forward", big).backend == "onednn"
    assert onednn.default("eltwise_forward", small) is None


# ----------------------------------------------------------------------- the numpy backend
@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_numpy_seam_is_the_table(rng, name):
    """Forward equals the function; backward reads only x or only y, as the spec says."""
    shape = (4, 6)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    keywords = {"threshold": 0.5, "default_value": -1.0} if name == "threshold" else {}
    function = function_of(name, keywords)
    spec = eltwise_spec(function, x.shape, x.dtype)
    assert spec.activation == name
    with on_backend("numpy"), npconv.ops.record() as seen:
        y = kernels.activation_forward(spec, x)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        dx = kernels.activation_backward(spec, y if spec.from_output else x, dy)
    assert seen == [("eltwise_forward", "eltwise"), ("eltwise_backward", "eltwise")]
    np.testing.assert_array_equal(y, function(x))
    np.testing.assert_array_equal(dx, activations.gradient(function, x, y, dy))


@pytest.mark.parametrize(
    "keywords, reads_output",
    [({}, True), ({"max_value": 6.0}, False), ({"threshold": 0.5}, False), ({"negative_slope": 0.1}, False)],
)
def test_relu_reads_y_only_without_options(rng, keywords, reads_output):
    assert activations.gradient_reads_output("relu", **keywords) is reads_output
    x = np.array([-1.0, 0.0, np.nan, 0.3, 7.0, -np.inf, np.inf], dtype=np.float32)
    y = activations.relu(x, **keywords)
    dy = np.arange(1.0, 8.0, dtype=np.float32)
    expected = activations.derivative("relu", x, y, dy, **keywords)
    saved = (None, y) if reads_output else (x, None)
    np.testing.assert_array_equal(activations.derivative("relu", *saved, dy, **keywords), expected)


def test_custom_callables_are_called_as_they_are(rng):
    def double(x):
        return 2 * x

    double.gradient = lambda x, y, dy: 2 * dy
    x = rng.standard_normal(5)
    with npconv.ops.record() as seen:
        y, activated = kernels.apply_activation(double, x, keep=True)
        dx = activated.gradient(np.ones(5))
    assert seen == [] and eltwise_spec(double, x.shape, x.dtype) is None
    np.testing.assert_array_equal(y, 2 * x)
    np.testing.assert_array_equal(dx, np.full(5, 2.0))


def test_linear_and_none_are_the_identity(rng):
    x = rng.standard_normal(3)
    for activation in (None, activations.linear):
        y, activated = kernels.apply_activation(activation, x, keep=True)
        assert y is x and activated is None


def test_activation_docstring_examples_run():
    assert doctest.testmod(activations, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


# ----------------------------------------------------------------------- layers call the seam
@pytest.mark.parametrize(
    "layer, name",
    [
        (layers.ReLU(), "relu"),
        (layers.ReLU(max_value=6.0, threshold=0.5), "relu"),
        (layers.LeakyReLU(0.1), "leaky_relu"),
        (layers.ELU(), "elu"),
        (layers.Softmax(), "softmax"),
    ],
)
def test_activation_layers_call_the_seam(rng, layer, name):
    x = special_input(rng, finite=True)
    with npconv.ops.record() as seen:
        y = layer(x, training=True)
        dx = layer.backward(np.ones_like(y))
    assert [p for p, _ in seen] == ["eltwise_forward", "eltwise_backward"]
    assert y.shape == dx.shape == x.shape


def test_conv_layer_activation_goes_through_the_seam(rng):
    """An unfused activation (gelu) both ways; a fused one's gradient (relu) from y."""
    x = rng.standard_normal((2, 9, 9, 3)).astype(np.float32)
    for activation, expected in (("gelu", {"eltwise_forward", "eltwise_backward"}), ("relu", {"eltwise_backward"})):
        layer = layers.Conv2D(4, 3, activation=activation)
        with npconv.ops.record() as seen:
            y = layer(x, training=True)
            layer.backward(np.ones_like(y))
        assert {p for p, _ in seen} & {"eltwise_forward", "eltwise_backward"} >= expected


@needs_onednn
def test_onednn_gemm_conv_applies_its_activation_through_the_seam(rng):
    """oneDNN's GEMM-based conv leaves the activation to the seam, which runs it on oneDNN."""
    x = rng.standard_normal((1, 20, 20, 8)).astype(np.float32)
    layer = layers.Conv2D(8, 3, padding="same", activation="sigmoid")
    onednn.clear_cache()
    with on_backend("onednn"), npconv.ops.record() as seen:
        y = layer(x)
    if not any(getattr(p, "activation", None) == "sigmoid" for p in binding._cache.values()):
        pytest.skip("this oneDNN fuses the activation into its conv here")
    assert sorted(seen) == [("eltwise_forward", "onednn"), ("forward", "onednn")]  # the inner call notes first
    with on_backend("numpy"):
        expected = layer(x)
    assert_same(y, expected, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------- Keras
KERAS_CASES = [
    ("elu", {}, "elu"),
    ("gelu", {}, "gelu"),
    ("silu", {}, "silu"),
    ("mish", {}, "mish"),
    ("hard_silu", {}, "hard_silu"),
    ("leaky_relu", {}, "leaky_relu"),
    ("sigmoid", {}, "sigmoid"),
    ("softmax", {}, "softmax"),
]


@pytest.mark.parametrize("name, keywords, keras_name", KERAS_CASES)
def test_seam_matches_keras(keras, rng, name, keywords, keras_name):
    """Values and gradients (tf.GradientTape) of the seam on the selected backend."""
    tf = pytest.importorskip("tensorflow")
    x = (rng.standard_normal((16, 130)) * 4).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    function = function_of(name, keywords)
    y, activated = kernels.apply_activation(function, x, keep=True)
    dx = activated.gradient(dy)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = keras.activations.get(keras_name)(xt)
    expected_dx = tape.gradient(yt, xt, output_gradients=tf.constant(dy)).numpy()
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-4, atol=1e-5)


def test_layers_match_keras(keras, rng):
    x = (rng.standard_normal((8, 300)) * 4).astype(np.float32)
    pairs = [
        (layers.ELU(alpha=0.7), keras.layers.ELU(alpha=0.7)),
        (layers.LeakyReLU(0.2), keras.layers.LeakyReLU(negative_slope=0.2)),
        (layers.ReLU(max_value=2.0, threshold=0.5), keras.layers.ReLU(max_value=2.0, threshold=0.5)),
        (layers.Softmax(), keras.layers.Softmax()),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)
