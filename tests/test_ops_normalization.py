"""Batch normalization behind the kernel seam.

- the numpy kernels against a naive per-feature loop of the definition (float64);
- oneDNN against numpy, forward (training and inference) and backward, over
  seeded shapes (2-D to 5-D, channels_last and channels_first, center and
  scale on and off), with NaN and Inf: non-finite exactly where numpy has them;
- the layer against real Keras on each backend: outputs and moving statistics
  over several training steps, and tf.GradientTape's gradients;
- the record says which algorithm ran: oneDNN where it applies, numpy for
  float64 and for features on another axis.
"""

import doctest
from contextlib import contextmanager

import numpy as np
import pytest

import npconv
from npconv import config
from npconv.layers.normalization import BatchNormalization
from npconv.ops import kernels
from npconv.ops.backends import onednn
from npconv.ops.spec import make_layer_norm_spec, make_norm_spec

needs_onednn = pytest.mark.skipif(not onednn.available()[0], reason="oneDNN not loadable")


@contextmanager
def on_backend(name):
    previous = config.backend()
    config.set_backend(name)
    try:
        yield
    finally:
        config.set_backend(previous)


def naive_batchnorm(x, axis, gamma, beta, mean, variance, epsilon, training):
    """y, mean, variance by the definition, one feature at a time, in float64."""
    xs = np.moveaxis(np.asarray(x, dtype="float64"), axis, 0)
    y, means, variances = np.empty_like(xs), [], []
    for c in range(xs.shape[0]):
        values = xs[c].ravel()
        if training:
            m = sum(values) / values.size
            v = sum((value - m) ** 2 for value in values) / values.size
        else:
            m, v = float(mean[c]), float(variance[c])
        g = 1.0 if gamma is None else float(gamma[c])
        b = 0.0 if beta is None else float(beta[c])
        y[c] = g * (xs[c] - m) / np.sqrt(v + epsilon) + b
        means.append(m)
        variances.append(v)
    return np.moveaxis(y, 0, axis), np.array(means), np.array(variances)


def arrays(rng, spec, dtype="float32"):
    """x (offset from zero), gamma, beta, moving mean and variance, dy for a spec."""
    c = spec.features
    x = rng.standard_normal(spec.x_shape) * 3 + 2
    stats = [rng.uniform(0.5, 2, c), rng.standard_normal(c), rng.standard_normal(c), rng.uniform(0.5, 2, c)]
    dy = rng.standard_normal(spec.x_shape)
    return [a.astype(dtype) for a in (x, *stats, dy)]


def run_both(spec, x, gamma, beta, mean, variance, dy):
    """(forward, backward) results on numpy, then on oneDNN, and the algorithms the record saw."""
    gamma = gamma if spec.scale else None
    beta = beta if spec.center else None
    results = []
    for name in ("numpy", "onednn"):
        with on_backend(name), npconv.ops.record() as seen, np.errstate(all="ignore"):
            forward = kernels.batchnorm_forward(spec, x, gamma, beta, mean, variance)
            backward = kernels.batchnorm_backward(spec, x, dy, gamma, *forward[1:])
        results.append((forward, backward, seen))
    return results


def assert_close(got, expected, what, rtol=1e-4):
    """Non-finite exactly where ``expected`` is (same values), the rest within float32 rounding."""
    assert (got is None) == (expected is None), what
    if expected is None:
        return
    assert got.shape == expected.shape and got.dtype == expected.dtype, what
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(got[~finite], expected[~finite], err_msg=what)
    assert np.isfinite(got[finite]).all(), what
    scale = max(float(np.abs(expected[finite]).max(initial=0.0)), 1.0)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=rtol, atol=rtol * scale, err_msg=what)


CASES = [
    ((8, 5), -1),
    ((6, 4, 5, 3), -1),  # channels_last
    ((6, 3, 4, 5), 1),  # channels_first
    ((2, 3, 4, 5, 6), -1),
    ((2, 6, 3, 4, 5), 1),
    ((3, 7, 4), -1),
    ((3, 4, 7), 1),
]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape, axis", CASES)
def test_numpy_matches_the_definition_in_float64(rng, shape, axis, training):
    spec = make_norm_spec(shape, axis, 1e-3, training=training, dtype="float64")
    x, gamma, beta, mean, variance, _ = arrays(rng, spec, "float64")
    with npconv.ops.record() as seen:
        got = kernels.batchnorm_forward(spec, x, gamma, beta, mean, variance)
    assert seen == [("batchnorm_forward", "batchnorm")]
    for ours, theirs in zip(got, naive_batchnorm(x, axis, gamma, beta, mean, variance, 1e-3, training)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@needs_onednn
@pytest.mark.parametrize("center, scale", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape, axis", CASES)
def test_onednn_matches_numpy(rng, shape, axis, training, center, scale):
    spec = make_norm_spec(shape, axis, 1e-3, center, scale, training)
    (forward, backward, seen_numpy), (forward_dnn, backward_dnn, seen) = run_both(spec, *arrays(rng, spec))
    assert seen_numpy == [("batchnorm_forward", "batchnorm"), ("batchnorm_backward", "batchnorm")]
    assert seen == [("batchnorm_forward", "onednn"), ("batchnorm_backward", "onednn")]
    for name, got, expected in zip(("y", "mean", "variance"), forward_dnn, forward):
        assert_close(got, expected, name)
    for name, got, expected in zip(("dx", "dgamma", "dbeta"), backward_dnn, backward):
        assert_close(got, expected, name)


def random_case(rng):
    """A spec of rank 2 to 5 with random lengths, features last or on axis 1, random options."""
    rank = int(rng.integers(2, 6))
    shape = tuple(int(n) for n in rng.integers(1, 7, rank))
    axis = -1 if rank == 2 or rng.random() < 0.5 else 1
    center, scale, training = (bool(b) for b in rng.integers(0, 2, 3))
    epsilon = float(rng.choice([1e-3, 1e-5, 0.1, 0.0]))
    return make_norm_spec(shape, axis, epsilon, center, scale, training)


def fuzz(rng, count):
    for _ in range(count):
        spec = random_case(rng)
        x, *stats, dy = arrays(rng, spec)
        for _ in range(int(rng.integers(0, 3))):  # NaN and +-Inf here and there
            x[tuple(rng.integers(0, n) for n in spec.x_shape)] = rng.choice([np.nan, np.inf, -np.inf])
        (forward, backward, _), (forward_dnn, backward_dnn, seen) = run_both(spec, x, *stats, dy)
        assert [name for _, name in seen] == ["onednn", "onednn"], spec
        for name, got, expected in zip(("y", "mean", "variance"), forward_dnn, forward):
            assert_close(got, expected, f"{name} of {spec}")
        for name, got, expected in zip(("dx", "dgamma", "dbeta"), backward_dnn, backward):
            assert_close(got, expected, f"{name} of {spec}")


@needs_onednn
def test_onednn_matches_numpy_on_random_specs_with_nan_and_inf():
    fuzz(np.random.default_rng(7), 40)


@needs_onednn
@pytest.mark.slow
def test_onednn_matches_numpy_on_many_random_specs():
    fuzz(np.random.default_rng(8), 1000)


@needs_onednn
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_value_poisons_its_feature_in_training_only(rng, training, bad):
    spec = make_norm_spec((4, 3, 3, 5), -1, 1e-3, training=training)
    x, *stats, dy = arrays(rng, spec)
    x[1, 2, 0, 3] = bad
    (forward, backward, _), (forward_dnn, backward_dnn, _) = run_both(spec, x, *stats, dy)
    for y in (forward[0], forward_dnn[0]):
        bad_outputs = ~np.isfinite(y)
        if training:  # the feature's mean or variance is NaN or Inf: all of feature 3
            np.testing.assert_array_equal(bad_outputs.all(axis=(0, 1, 2)), [False, False, False, True, False])
            assert bad_outputs.sum() == 4 * 3 * 3
        else:
            assert bad_outputs.sum() == 1 and not np.isfinite(y[1, 2, 0, 3])
    assert_close(forward_dnn[0], forward[0], "y")
    assert_close(backward_dnn[0], backward[0], "dx")


@needs_onednn
def test_other_axes_and_float64_run_numpy(rng):
    with on_backend("onednn"), npconv.ops.record() as seen:
        y = BatchNormalization(axis=2)(rng.standard_normal((2, 3, 4, 5)).astype("float32"), training=True)
        BatchNormalization(dtype="float64")(rng.standard_normal((2, 3)), training=True)
        BatchNormalization()(rng.standard_normal((2, 3)).astype("float32"), training=True)
    assert [name for _, name in seen] == ["batchnorm", "batchnorm", "onednn"]
    np.testing.assert_allclose(y.mean(axis=(0, 1, 3)), 0, atol=1e-6)


@needs_onednn
def test_onednn_takes_non_contiguous_inputs(rng):
    x = rng.standard_normal((4, 5, 6, 3)).astype("float32").transpose(0, 3, 1, 2)  # a channels_first view
    dy = rng.standard_normal((4, 6, 5, 3)).astype("float32").transpose(0, 3, 2, 1)
    spec = make_norm_spec(x.shape, 1, 1e-3, training=True)
    (forward, backward, _), (forward_dnn, backward_dnn, seen) = run_both(spec, x, *arrays(rng, spec)[1:5], dy)
    assert [name for _, name in seen] == ["onednn", "onednn"]
    for got, expected in zip(forward_dnn + backward_dnn, forward + backward):
        assert_close(got, expected, "output")


# --------------------------------------------------------------------------- against Keras
KERAS_CASES = [
    ((8, 5), {}),
    ((4, 3, 3, 6), {}),
    ((4, 6, 3, 3), {"axis": 1}),
    ((2, 3, 3, 3, 4), {"momentum": 0.9, "epsilon": 1e-5}),
    ((2, 4, 3, 3, 3), {"axis": 1, "center": False}),
    ((4, 3, 5), {"scale": False}),
]


def paired(keras, rng, shape, **kwargs):
    theirs = keras.layers.BatchNormalization(**kwargs)
    theirs.build(shape)
    weights = []
    for w in theirs.weights:
        positive = "variance" in w.path or "gamma" in w.path
        weights.append((rng.uniform(0.5, 2, w.shape) if positive else rng.standard_normal(w.shape)).astype("float32"))
    theirs.set_weights(weights)
    ours = BatchNormalization(**kwargs)
    ours.build(shape)
    ours.set_weights(weights)
    return ours, theirs


def backends():
    return ["numpy", "onednn"] if onednn.available()[0] else ["numpy"]


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("shape, kwargs", KERAS_CASES)
def test_training_steps_and_moving_statistics_match_keras(keras, rng, backend, shape, kwargs):
    ours, theirs = paired(keras, rng, shape, **kwargs)
    with on_backend(backend), npconv.ops.record() as seen:
        for step in range(4):
            x = (rng.standard_normal(shape) * (step + 1) + step).astype("float32")
            y = np.asarray(theirs(x, training=True))
            np.testing.assert_allclose(ours(x, training=True), y, rtol=1e-4, atol=1e-4)
            for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
                np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-6)
        x = rng.standard_normal(shape).astype("float32")
        np.testing.assert_allclose(ours(x), np.asarray(theirs(x, training=False)), rtol=1e-5, atol=1e-5)
    expected = "batchnorm" if backend == "numpy" else "onednn"
    assert seen == [("batchnorm_forward", expected)] * 5


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("shape, kwargs", [KERAS_CASES[i] for i in (1, 2, 4, 5)])
def test_gradients_match_tensorflow(keras, rng, backend, shape, kwargs, training):
    tf = pytest.importorskip("tensorflow")
    ours, theirs = paired(keras, rng, shape, **kwargs)
    x = (rng.standard_normal(shape) * 2 + 1).astype("float32")
    dy = rng.standard_normal(shape).astype("float32")
    with on_backend(backend), npconv.ops.record() as seen:
        ours(x, training=training)
        dx = ours.backward(dy)
    expected = "batchnorm" if backend == "numpy" else "onednn"
    assert seen == [("batchnorm_forward", expected), ("batchnorm_backward", expected)]
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = theirs(xt, training=training)
    weights = [w for w in (theirs.gamma, theirs.beta) if w is not None]
    grads = tape.gradient(yt, [xt, *weights], output_gradients=tf.constant(dy))
    np.testing.assert_allclose(dx, grads[0].numpy(), rtol=1e-4, atol=1e-4)
    mine = [w.grad for w in ours.trainable_weights]
    assert len(mine) == len(weights)
    for got, expected_grad in zip(mine, grads[1:]):
        np.testing.assert_allclose(got, expected_grad.numpy(), rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- the spec, the docs
def test_spec_counts_axes_from_the_end():
    spec = make_norm_spec([2, 3, 4, 5], -1, 1e-3, training=True)
    assert (spec.axis, spec.features, spec.reduce_axes, spec.stats_shape) == (3, 5, (0, 1, 2), (1, 1, 1, 5))
    assert spec.macs == 120 and hash(spec) == hash(make_norm_spec((2, 3, 4, 5), 3, 1e-3, training=True))


def test_docstring_examples():
    from npconv.layers import normalization

    result = doctest.testmod(normalization, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0


# --------------------------------------------------------------------------- layer normalization
def naive_layernorm(x, axes, gamma, beta, epsilon, rms_scaling=False):
    """y by the definition, one sample at a time, in float64."""
    others = [i for i in range(x.ndim) if i not in axes]
    xs = np.transpose(np.asarray(x, dtype="float64"), others + list(axes))
    samples = xs.reshape(-1, int(np.prod([x.shape[a] for a in axes])))
    g = np.ones(samples.shape[1]) if gamma is None else np.asarray(gamma, "float64").ravel()
    b = np.zeros(samples.shape[1]) if beta is None else np.asarray(beta, "float64").ravel()
    y = np.empty_like(samples)
    for row, values in enumerate(samples):
        m = sum(values) / values.size
        v = sum((value - m) ** 2 for value in values) / values.size
        y[row] = g * (values if rms_scaling else values - m) / np.sqrt(v + epsilon) + b
    return np.transpose(y.reshape(xs.shape), np.argsort(others + list(axes)))


def layer_arrays(rng, spec, dtype="float32"):
    x = rng.standard_normal(spec.x_shape) * 3 + 2
    gamma, beta = rng.uniform(0.5, 2, spec.weights_shape), rng.standard_normal(spec.weights_shape)
    return [a.astype(dtype) for a in (x, gamma, beta, rng.standard_normal(spec.x_shape))]


def run_layer_both(spec, x, gamma, beta, dy):
    gamma = gamma if spec.scale else None
    beta = beta if spec.center else None
    results = []
    for name in ("numpy", "onednn"):
        with on_backend(name), npconv.ops.record() as seen, np.errstate(all="ignore"):
            forward = kernels.layernorm_forward(spec, x, gamma, beta)
            backward = kernels.layernorm_backward(spec, x, dy, gamma, *forward[1:])
        results.append((forward, backward, [algorithm for _, algorithm in seen]))
    return results


LAYER_CASES = [
    ((8, 5), (-1,)),
    ((3, 4, 6), (-1,)),
    ((2, 3, 4, 5), (-1,)),
    ((2, 3, 4, 5), (2, 3)),
    ((3, 4, 5), (0, 1, 2)),
]


@pytest.mark.parametrize("rms_scaling", [False, True])
@pytest.mark.parametrize("shape, axes", LAYER_CASES + [((2, 3, 4, 5), (1, 3))])
def test_layernorm_numpy_matches_the_definition_in_float64(rng, shape, axes, rms_scaling):
    spec = make_layer_norm_spec(shape, axes, 1e-3, center=not rms_scaling, rms_scaling=rms_scaling, dtype="float64")
    x, gamma, beta, _ = layer_arrays(rng, spec, "float64")
    beta = None if rms_scaling else beta
    with npconv.ops.record() as seen:
        y, mean, variance = kernels.layernorm_forward(spec, x, gamma, beta)
    assert seen == [("layernorm_forward", "layernorm")]
    assert mean.shape == variance.shape == spec.stats_shape
    np.testing.assert_allclose(y, naive_layernorm(x, spec.axes, gamma, beta, 1e-3, rms_scaling), rtol=1e-12, atol=1e-12)


@needs_onednn
@pytest.mark.parametrize("center, scale", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("shape, axes", LAYER_CASES)
def test_layernorm_onednn_matches_numpy(rng, shape, axes, center, scale):
    spec = make_layer_norm_spec(shape, axes, 1e-3, center, scale)
    (forward, backward, seen_numpy), (forward_dnn, backward_dnn, seen) = run_layer_both(spec, *layer_arrays(rng, spec))
    assert (seen_numpy, seen) == (["layernorm"] * 2, ["onednn"] * 2)
    for name, got, expected in zip(
        ("y", "mean", "variance", "dx", "dgamma", "dbeta"), forward_dnn + backward_dnn, forward + backward
    ):
        assert_close(got, expected, name)


@needs_onednn
def test_layernorm_onednn_matches_numpy_on_random_specs_with_nan_and_inf():
    rng = np.random.default_rng(9)
    for _ in range(30):
        rank = int(rng.integers(2, 6))
        shape = tuple(int(n) for n in rng.integers(1, 7, rank))
        first = int(rng.integers(0, rank))
        center, scale = (bool(b) for b in rng.integers(0, 2, 2))
        spec = make_layer_norm_spec(shape, range(first, rank), float(rng.choice([1e-3, 1e-6, 0.0])), center, scale)
        x, gamma, beta, dy = layer_arrays(rng, spec)
        for _ in range(int(rng.integers(0, 3))):
            x[tuple(rng.integers(0, n) for n in shape)] = rng.choice([np.nan, np.inf, -np.inf])
        (forward, backward, _), (forward_dnn, backward_dnn, seen) = run_layer_both(spec, x, gamma, beta, dy)
        assert seen == ["onednn"] * 2, spec
        for name, got, expected in zip(
            ("y", "mean", "variance", "dx", "dgamma", "dbeta"), forward_dnn + backward_dnn, forward + backward
        ):
            assert_close(got, expected, f"{name} of {spec}")


@needs_onednn
def test_layernorm_runs_numpy_for_rms_scaling_inner_axes_and_float64(rng):
    from npconv.layers import LayerNormalization

    x = rng.standard_normal((2, 3, 4)).astype("float32")
    with on_backend("onednn"), npconv.ops.record() as seen:
        LayerNormalization(rms_scaling=True)(x)
        LayerNormalization(axis=1)(x)
        LayerNormalization(dtype="float64")(x)
        LayerNormalization(axis=[1, 2])(x)
    assert [name for _, name in seen] == ["layernorm", "layernorm", "layernorm", "onednn"]


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize(
    "shape, kwargs", [((4, 3, 6), {}), ((2, 3, 4, 5), {"axis": [2, 3], "center": False}), ((6, 5), {"scale": False})]
)
def test_layernorm_outputs_and_gradients_match_tensorflow(keras, rng, backend, shape, kwargs):
    tf = pytest.importorskip("tensorflow")
    from npconv.layers import LayerNormalization

    theirs = keras.layers.LayerNormalization(**kwargs)
    theirs.build(shape)
    theirs.set_weights([rng.uniform(0.5, 2, w.shape).astype("float32") for w in theirs.weights])
    ours = LayerNormalization(**kwargs)
    ours.build(shape)
    ours.set_weights(theirs.get_weights())
    x = (rng.standard_normal(shape) * 2 + 1).astype("float32")
    dy = rng.standard_normal(shape).astype("float32")
    with on_backend(backend), npconv.ops.record() as seen:
        y = ours(x, training=True)
        dx = ours.backward(dy)
    expected = "layernorm" if backend == "numpy" else "onednn"
    assert seen == [("layernorm_forward", expected), ("layernorm_backward", expected)]
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = theirs(xt, training=True)
    grads = tape.gradient(yt, [xt, *theirs.trainable_weights], output_gradients=tf.constant(dy))
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, grads[0].numpy(), rtol=1e-4, atol=1e-4)
    mine = [w.grad for w in ours.trainable_weights]
    assert len(mine) == len(grads) - 1
    for got, expected_grad in zip(mine, grads[1:]):
        np.testing.assert_allclose(got, expected_grad.numpy(), rtol=1e-4, atol=1e-4)


def test_half_precision_is_normalized_in_float32_as_keras_does(keras, rng):
    """float16 layers compute their statistics in float32 and cast the output back, as Keras does."""
    from npconv.layers import LayerNormalization

    shape = (16, 5, 5, 8)
    pairs = []
    for ours_class, theirs_class in (
        (BatchNormalization, keras.layers.BatchNormalization),
        (LayerNormalization, keras.layers.LayerNormalization),
    ):
        theirs = theirs_class(dtype="float16")
        theirs.build(shape)
        ours = ours_class(dtype="float16")
        ours.build(shape)
        ours.set_weights(theirs.get_weights())
        pairs.append((ours, theirs))
    x = (rng.standard_normal(shape) * 3 + 20).astype("float16")
    with npconv.ops.record() as seen:
        for ours, theirs in pairs:
            y = ours(x, training=True)
            assert y.dtype == np.float16
            np.testing.assert_allclose(
                y.astype("float32"), np.asarray(theirs(x, training=True)).astype("float32"), atol=1e-3
            )
            assert ours.backward(np.ones(shape, "float16")).dtype == np.float16
    if config.backend() == "onednn":  # float16 arrives in float32, which oneDNN takes
        assert [name for _, name in seen] == ["onednn"] * 4
