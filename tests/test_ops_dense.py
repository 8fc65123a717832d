"""Dense behind the kernel seam: ``y = activation(x @ kernel + bias)`` on the last axis.

Oracles, each independent of the code under test:

- a naive triple loop in float64 (the definition, summed in Python);
- finite differences in float64 for all three gradients;
- real Keras ``Dense`` forward and its gradients (``tf.GradientTape``);
- the numpy backend (the exact reference) for the onednn backend, over seeded
  random shapes (2-D and N-D, with and without bias, every fusable activation,
  tiny and large), with NaN and Inf: non-finite outputs exactly where numpy has
  them.

``npconv.ops.record()`` checks which algorithm ran in each case: oneDNN's
matmul where it was forced or the product is large, numpy's for tiny products,
float64 and float16.
"""

import math

import numpy as np
import pytest
from helpers import on_backend

from npconv import layers
from npconv.ops import kernels, record
from npconv.ops.backends import onednn
from npconv.ops.backends.numpy import dense as numpy_dense
from npconv.ops.backends.onednn import binding
from npconv.ops.spec import FUSED_ACTIVATIONS, DenseSpec

HAVE_ONEDNN = onednn.available()[0]
needs_onednn = pytest.mark.skipif(not HAVE_ONEDNN, reason=f"oneDNN not loadable: {onednn.available()[1]}")
ACTIVATIONS = (None, *FUSED_ACTIVATIONS)
PASSES = ("dense_forward", "dense_input_grad", "dense_kernel_grad")
LAYER_PASSES = ("dense_forward", "dense_kernel_grad", "dense_input_grad")  # the order a layer step runs them


def assert_same(actual, expected, what, tolerance=2e-5):
    """Same shape, non-finite at the same places, finite values within float32 rounding."""
    assert actual.shape == expected.shape, what
    bad_a, bad_e = ~np.isfinite(actual), ~np.isfinite(expected)
    assert np.array_equal(bad_a, bad_e), f"{what}: non-finite at different places"
    assert np.array_equal(actual[bad_a], expected[bad_e], equal_nan=True), f"{what}: different non-finite values"
    scale = max(float(np.max(np.abs(expected[~bad_e]), initial=0.0)), 1.0)
    error = float(np.max(np.abs(actual[~bad_a] - expected[~bad_e]), initial=0.0))
    assert error <= tolerance * scale * max(1.0, math.sqrt(expected.size / 1000)), f"{what}: error {error:.3g}"


def seam_passes(spec, x, kernel, bias, dy):
    """(y, dx, dkernel, dbias) through the seam, and the record of what ran."""
    with record() as seen:
        y = kernels.dense_forward(spec, x, kernel, bias)
        dx = kernels.dense_input_grad(spec, dy, kernel)
        dkernel, dbias = kernels.dense_kernel_grad(spec, x, dy)
    return (y, dx, dkernel, dbias), seen


# --------------------------------------------------------------------------
# the numpy backend against the definition (float64)
# --------------------------------------------------------------------------
def naive_dense(x, kernel, bias):
    """y[i, j] = sum_k x[i, k] * kernel[k, j] + bias[j], summed exactly (math.fsum)."""
    rows, units = x.shape[0], kernel.shape[1]
    y = np.empty((rows, units))
    for i in range(rows):
        for j in range(units):
            y[i, j] = math.fsum([*(x[i] * kernel[:, j]), 0.0 if bias is None else bias[j]])
    return y


@pytest.mark.parametrize("use_bias", [True, False])
def test_numpy_forward_matches_the_definition_in_float64(rng, use_bias):
    x, kernel, bias = rng.standard_normal((7, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    bias = bias if use_bias else None
    spec = DenseSpec(7, 5, 3, "float64", use_bias, None)
    with on_backend("onednn" if HAVE_ONEDNN else "numpy"), record() as seen:
        y = kernels.dense_forward(spec, x, kernel, bias)
    assert seen == [("dense_forward", "matmul")]
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, naive_dense(x, kernel, bias), rtol=1e-13, atol=1e-13)


def test_numpy_backend_is_the_plain_matrix_product(rng):
    """Bit for bit what ``x @ kernel + bias`` and its transposes give, in float32."""
    x = rng.standard_normal((9, 6)).astype(np.float32)
    kernel = rng.standard_normal((6, 4)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    dy = rng.standard_normal((9, 4)).astype(np.float32)
    spec = DenseSpec(9, 6, 4, "float32", True, "tanh")
    np.testing.assert_array_equal(numpy_dense.forward(spec, x, kernel, bias), np.tanh(x @ kernel + bias))
    np.testing.assert_array_equal(numpy_dense.input_grad(spec, dy, kernel), dy @ kernel.T)
    dkernel, dbias = numpy_dense.kernel_grad(spec, x, dy)
    np.testing.assert_array_equal(dkernel, x.T @ dy)
    np.testing.assert_array_equal(dbias, dy.sum(axis=0))
    assert numpy_dense.kernel_grad(spec._replace(bias=False), x, dy)[1] is None


def finite_difference(f, array, eps=1e-6):
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        up = f()
        array[index] = saved - eps
        down = f()
        array[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("activation", ["tanh", "gelu", None])
def test_layer_gradients_match_finite_differences_in_float64(rng, activation):
    """An N-D input (batch, 2, 3, features): the layer folds the leading axes into rows."""
    layer = layers.Dense(3, activation=activation, dtype="float64")
    x = rng.standard_normal((2, 2, 3, 4))
    layer.build(x.shape)
    weights = rng.standard_normal((2, 2, 3, 3))  # loss = sum(weights * y)

    def loss():
        return float(np.sum(weights * layer(x, training=True)))

    layer(x, training=True)
    layer.kernel.grad = layer.bias.grad = None
    dx = layer.backward(weights)
    np.testing.assert_allclose(dx, finite_difference(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(layer.kernel.grad, finite_difference(loss, layer.kernel.value), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(layer.bias.grad, finite_difference(loss, layer.bias.value), rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------
# the onednn backend against the numpy backend
# --------------------------------------------------------------------------
def random_case(rng, large=False):
    """(spec, x, kernel, bias, dy) of a random product; N-D shapes are folded as the layer does."""
    leading = tuple(int(n) for n in rng.integers(1, 5, int(rng.integers(1, 4))))
    if large:
        leading = (int(rng.integers(64, 300)), *leading[1:])
    in_features = int(rng.integers(1, 300 if large else 40))
    units = int(rng.integers(1, 200 if large else 20))
    use_bias = bool(rng.random() < 0.6)
    activation = ACTIVATIONS[int(rng.integers(0, len(ACTIVATIONS)))]
    x = rng.standard_normal((*leading, in_features)).astype(np.float32)
    if rng.random() < 0.4:  # a few NaNs and infinities
        for value in (np.nan, np.inf, -np.inf)[: int(rng.integers(1, 4))]:
            x[tuple(int(rng.integers(0, n)) for n in x.shape)] = value
    x2d = x.reshape(-1, in_features)
    kernel = rng.standard_normal((in_features, units)).astype(np.float32)
    bias = rng.standard_normal(units).astype(np.float32) if use_bias else None
    dy = rng.standard_normal((x2d.shape[0], units)).astype(np.float32)
    spec = DenseSpec(x2d.shape[0], in_features, units, "float32", use_bias, activation)
    return spec, x2d, kernel, bias, dy


def check_against_numpy(case, forced):
    spec, x, kernel, bias, dy = case
    with on_backend("numpy"):
        expected, numpy_ran = seam_passes(*case)
    with on_backend("onednn", "onednn" if forced else None):
        actual, onednn_ran = seam_passes(*case)
    assert numpy_ran == [(p, "matmul") for p in PASSES]
    assert onednn_ran == [(p, "onednn") for p in PASSES], (spec, onednn_ran)
    for name, a, e in zip(("y", "dx", "dkernel", "dbias"), actual, expected):
        if e is None:
            assert a is None and not spec.bias
            continue
        assert a.dtype == np.float32
        assert_same(a, e, f"{name} of {spec}")


@needs_onednn
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("seed", range(24))
def test_onednn_matches_numpy_on_random_products(seed):
    """Small products, oneDNN forced (by default numpy would run them)."""
    check_against_numpy(random_case(np.random.default_rng([7, seed])), forced=True)


@needs_onednn
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("seed", range(4))
def test_onednn_matches_numpy_on_large_products(seed):
    """Products above the numpy threshold: oneDNN runs them without being forced."""
    rng = np.random.default_rng([8, seed])
    case = random_case(rng, large=True)
    while case[0].macs <= onednn.dense.NUMPY_MACS:
        case = random_case(rng, large=True)
    check_against_numpy(case, forced=False)


@needs_onednn
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("seed", range(24, 400))
def test_onednn_matches_numpy_long(seed):
    rng = np.random.default_rng([7, seed])
    check_against_numpy(random_case(rng, large=bool(seed % 5 == 0)), forced=True)


@needs_onednn
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_non_finite_values_land_where_numpy_puts_them(activation):
    """NaN in a row poisons that row; +-Inf times a zero weight is NaN; +Inf and -Inf
    meeting in one sum are NaN; each fused activation then maps +-Inf as its definition does."""
    x = np.array(
        [[1.0, 2.0, 3.0], [np.nan, 0.0, 1.0], [np.inf, 1.0, 0.0], [-np.inf, 1.0, 0.0], [np.inf, -np.inf, 0.0]],
        np.float32,
    )
    kernel = np.array([[1.0, -1.0, 0.0, 2.0], [1.0, 1.0, 1.0, 0.0], [0.5, 0.0, -1.0, 1.0]], np.float32)
    bias = np.array([0.0, 1.0, -1.0, 0.5], np.float32)
    dy = np.array([[1, 0, -1, 2], [0, 1, 1, 0], [np.inf, 0, 1, 1], [1, 1, 1, 1], [0, 0, np.nan, 0]], np.float32)
    spec = DenseSpec(5, 3, 4, "float32", True, activation)
    with np.errstate(all="ignore"):
        with on_backend("numpy"):
            expected, _ = seam_passes(spec, x, kernel, bias, dy)
        with on_backend("onednn", "onednn"):
            actual, seen = seam_passes(spec, x, kernel, bias, dy)
    assert {name for _, name in seen} == {"onednn"}
    y = expected[0]  # the oracle's own claims: a NaN row, Inf times 0, Inf - Inf
    assert np.isnan(y[1]).all() and np.isnan(y[2, 2]) and np.isnan(y[4, [0, 2, 3]]).all()
    for name, a, e in zip(("y", "dx", "dkernel", "dbias"), actual, expected):
        assert_same(a, e, f"{name} with {activation}")


@needs_onednn
def test_transposed_and_strided_operands(rng):
    """A transposed view goes in by its strides; a strided slice is copied once."""
    spec = DenseSpec(6, 5, 4, "float32", False, "relu")
    x_t = np.ascontiguousarray(rng.standard_normal((5, 6)).astype(np.float32)).T  # column-major (6, 5)
    kernel = rng.standard_normal((4, 10)).astype(np.float32)[:, ::2].T  # (5, 4), neither layout
    dy = rng.standard_normal((6, 4)).astype(np.float32)
    case = (spec, x_t, kernel, None, dy)
    with on_backend("numpy"):
        expected, _ = seam_passes(*case)
    with on_backend("onednn", "onednn"):
        actual, seen = seam_passes(*case)
    assert {name for _, name in seen} == {"onednn"}
    for name, a, e in zip(("y", "dx", "dkernel"), actual, expected):
        assert_same(a, e, name)


@needs_onednn
def test_no_reference_implementation_runs():
    """oneDNN's reference loops are refused: every cached dense primitive is a real kernel."""
    check_against_numpy(random_case(np.random.default_rng(11), large=True), forced=True)
    dense = [p for key, p in binding._cache.items() if key[0] in PASSES and not isinstance(p, binding.Refusal)]
    assert dense and all(not p.implementation.startswith("ref") for p in dense), [p.implementation for p in dense]


# --------------------------------------------------------------------------
# which algorithm runs
# --------------------------------------------------------------------------
@needs_onednn
def test_tiny_products_run_on_numpy_and_large_ones_on_onednn(rng):
    """The rule is on the spec: up to NUMPY_MACS multiply-adds numpy's one sgemm call wins.
    The digits model's Dense(10) on a batch of 32 is below it."""
    digits = DenseSpec(32, 1024, 10, "float32", True, None)
    large = DenseSpec(256, 512, 256, "float32", True, "relu")
    assert digits.macs == 32 * 1024 * 10 <= onednn.dense.NUMPY_MACS < large.macs
    for spec, name in ((digits, "matmul"), (large, "onednn")):
        x = rng.standard_normal(spec.x_shape).astype(np.float32)
        kernel = rng.standard_normal(spec.kernel_shape).astype(np.float32)
        bias = np.zeros(spec.units, np.float32)
        dy = np.ones(spec.y_shape, np.float32)
        with on_backend("onednn"):
            _, seen = seam_passes(spec, x, kernel, bias, dy)
        assert seen == [(p, name) for p in PASSES]


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_other_dtypes_run_on_numpy_even_when_onednn_is_forced(rng, dtype):
    spec = DenseSpec(300, 100, 80, dtype, True, "relu")
    x = rng.standard_normal(spec.x_shape).astype(dtype)
    kernel = rng.standard_normal(spec.kernel_shape).astype(dtype)
    bias = rng.standard_normal(spec.units).astype(dtype)
    dy = rng.standard_normal(spec.y_shape).astype(dtype)
    with on_backend("onednn" if HAVE_ONEDNN else "numpy", "onednn" if HAVE_ONEDNN else None):
        (y, dx, dkernel, dbias), seen = seam_passes(spec, x, kernel, bias, dy)
    assert seen == [(p, "matmul") for p in PASSES]
    assert {a.dtype.name for a in (y, dx, dkernel, dbias)} == {dtype}
    np.testing.assert_array_equal(y, np.maximum(x @ kernel + bias, 0))


@needs_onednn
def test_empty_products_run_on_numpy():
    spec = DenseSpec(0, 4, 3, "float32", True, None)
    with on_backend("onednn", "onednn"):
        (y, dx, dkernel, dbias), seen = seam_passes(
            spec,
            np.ones((0, 4), np.float32),
            np.ones((4, 3), np.float32),
            np.ones(3, np.float32),
            np.ones((0, 3), np.float32),
        )
    assert seen == [(p, "matmul") for p in PASSES]
    assert y.shape == (0, 3) and dx.shape == (0, 4)
    np.testing.assert_array_equal(dkernel, np.zeros((4, 3)))
    np.testing.assert_array_equal(dbias, np.zeros(3))


def test_spec_counts_multiply_adds():
    spec = DenseSpec(rows=6, in_features=5, units=4, dtype="float32")
    assert spec.macs == 120
    assert (spec.x_shape, spec.kernel_shape, spec.y_shape) == ((6, 5), (5, 4), (6, 4))
    assert hash(spec) == hash(DenseSpec(6, 5, 4, "float32", False, None))


# --------------------------------------------------------------------------
# the layer
# --------------------------------------------------------------------------
def layer_step(layer, x, backend, forced=None, training=True):
    with on_backend(backend, forced), record() as seen:
        y = layer(x, training=training)
        dy = np.sin(np.arange(y.size, dtype=np.float32)).reshape(y.shape)
        for weight in layer.weights:
            weight.grad = None
        dx = layer.backward(dy)
    return (y, dx, *[w.grad.copy() for w in layer.weights]), dense_only(seen)


def dense_only(seen):
    """The dense passes of a record (a layer's activation runs through the seam too)."""
    return [(pass_, name) for pass_, name in seen if pass_.startswith("dense_")]


@needs_onednn
@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(units=7, activation="relu"), (5, 12)),
        (dict(units=6, activation="sigmoid", use_bias=False), (2, 3, 4, 9)),
        (dict(units=5, activation="gelu"), (3, 4, 8)),  # not fused in training (its gradient needs z)
        (dict(units=4, activation="softmax"), (6, 10)),  # never fused
        (dict(units=300, activation="tanh"), (64, 3, 128)),  # above the numpy threshold
    ],
)
def test_layer_on_onednn_matches_numpy(rng, kwargs, shape):
    layer = layers.Dense(**kwargs)
    x = rng.standard_normal(shape).astype(np.float32)
    layer.build(x.shape)
    expected, numpy_ran = layer_step(layer, x, "numpy")
    actual, onednn_ran = layer_step(layer, x, "onednn", "onednn")
    assert numpy_ran == [(p, "matmul") for p in LAYER_PASSES]
    assert onednn_ran == [(p, "onednn") for p in LAYER_PASSES]
    for a, e in zip(actual, expected):
        assert_same(a, e, str(kwargs))


def test_training_fuses_only_activations_whose_gradient_needs_the_output(rng, monkeypatch):
    seen = []
    original = kernels.dense_forward

    def spy(spec, *arrays):
        seen.append(spec.activation)
        return original(spec, *arrays)

    monkeypatch.setattr(kernels, "dense_forward", spy)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    for activation in ("relu", "gelu", "softmax", None):
        layer = layers.Dense(3, activation=activation)
        layer(x, training=True)
        layer(x, training=False)
    assert seen == ["relu", "relu", None, "gelu", None, None, None, None]


def test_backward_without_input_grad_still_sets_weight_gradients(rng):
    layer = layers.Dense(3, activation="relu")
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y = layer(x, training=True)
    assert layer.backward(np.ones_like(y), input_grad=False) is None
    np.testing.assert_allclose(layer.kernel.grad, x.T @ (y > 0).astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(layer.bias.grad, (y > 0).sum(axis=0), rtol=1e-6)


# --------------------------------------------------------------------------
# real Keras
# --------------------------------------------------------------------------
KERAS_CASES = [
    (dict(units=5, activation="relu"), (4, 7)),
    (dict(units=3, activation="sigmoid", use_bias=False), (2, 3, 6)),
    (dict(units=4, activation="gelu"), (2, 2, 3, 5)),
    (dict(units=64, activation="tanh"), (96, 300)),  # above the numpy threshold
]


@pytest.mark.parametrize("backend", ["numpy", "onednn"])
@pytest.mark.parametrize("kwargs, shape", KERAS_CASES)
def test_dense_matches_keras_forward_and_gradients(keras, rng, backend, kwargs, shape):
    if backend == "onednn" and not HAVE_ONEDNN:
        pytest.skip("oneDNN not loadable")
    import tensorflow as tf

    x = rng.standard_normal(shape).astype(np.float32)
    weights = rng.standard_normal((*shape[:-1], kwargs["units"])).astype(np.float32)  # loss = sum(weights * y)
    theirs = keras.layers.Dense(**kwargs)
    theirs.build(shape)
    scale = 1 / math.sqrt(shape[-1])  # pre-activations of order 1, as with Keras's initializers
    theirs.set_weights([(scale * rng.standard_normal(w.shape)).astype(np.float32) for w in theirs.get_weights()])
    x_tf = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        y_tf = theirs(x_tf)
        loss = tf.reduce_sum(y_tf * weights)
    grads = tape.gradient(loss, [x_tf, *theirs.trainable_variables])

    ours = layers.Dense(**kwargs)
    ours.build(shape)
    ours.set_weights(theirs.get_weights())
    with on_backend(backend), record() as seen:
        y = ours(x, training=True)
        dx = ours.backward(weights)
    large = math.prod(shape) * kwargs["units"] > (onednn.dense.NUMPY_MACS if HAVE_ONEDNN else 0)
    assert dense_only(seen) == [(p, "onednn" if backend == "onednn" and large else "matmul") for p in LAYER_PASSES]
    np.testing.assert_allclose(y, y_tf.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, grads[0].numpy(), rtol=1e-4, atol=1e-4)
    for ours_grad, theirs_grad in zip([w.grad for w in ours.trainable_weights], grads[1:]):
        np.testing.assert_allclose(ours_grad, theirs_grad.numpy(), rtol=1e-4, atol=1e-3)


def test_core_layer_docstring_examples():
    import doctest

    from npconv.layers import core

    result = doctest.testmod(core, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted >= 8 and result.failed == 0


def test_empty_batch_through_the_layer():
    layer = layers.Dense(3, activation="relu")
    with on_backend("onednn" if HAVE_ONEDNN else "numpy"):
        y = layer(np.zeros((0, 2, 4), np.float32), training=True)
        dx = layer.backward(np.zeros_like(y))
    assert y.shape == (0, 2, 3) and dx.shape == (0, 2, 4)
    np.testing.assert_array_equal(layer.kernel.grad, np.zeros((4, 3)))


@needs_onednn
def test_four_threads_share_one_primitive(rng):
    """Each thread has its own memory objects: concurrent calls give the sequential results."""
    import threading

    spec = DenseSpec(256, 128, 96, "float32", True, "relu")
    assert spec.macs > onednn.dense.NUMPY_MACS
    kernel = rng.standard_normal(spec.kernel_shape).astype(np.float32)
    bias = rng.standard_normal(spec.units).astype(np.float32)
    inputs = [rng.standard_normal(spec.x_shape).astype(np.float32) for _ in range(4)]
    parallel, seen, start = [None] * 4, [None] * 4, threading.Barrier(4)

    def work(i):
        start.wait()
        with record() as calls:
            for _ in range(5):
                parallel[i] = kernels.dense_forward(spec, inputs[i], kernel, bias)
        seen[i] = calls

    with on_backend("onednn"):  # the backend is a process-wide setting: chosen once, here
        sequential = [kernels.dense_forward(spec, x, kernel, bias) for x in inputs]
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    for got, want, calls in zip(parallel, sequential, seen):
        np.testing.assert_array_equal(got, want)
        assert calls == [("dense_forward", "onednn")] * 5


@needs_onednn
def test_forward_without_the_bias_its_spec_announces(rng):
    """The primitive is keyed on whether a bias is given, not only on the spec."""
    spec = DenseSpec(300, 100, 80, "float32", True, None)
    x = rng.standard_normal(spec.x_shape).astype(np.float32)
    kernel = rng.standard_normal(spec.kernel_shape).astype(np.float32)
    bias = rng.standard_normal(spec.units).astype(np.float32)
    with on_backend("onednn"):
        without = kernels.dense_forward(spec, x, kernel)
        with_bias = kernels.dense_forward(spec, x, kernel, bias)
    assert_same(without, x @ kernel, "without bias")
    assert_same(with_bias, x @ kernel + bias, "with bias")
