"""Pooling behind the kernel seam: the numpy and onednn backends, forward and backward.

Oracles:

- a naive loop reference written here from the definition (each window's real
  pixels gathered one output at a time; max: np.max, so NaN propagates, and the
  gradient at np.argmax, the first maximum in row-major order or the first
  NaN; average: the mean of the real pixels);
- the numpy backend (exact; float64 stays on it) for the onednn backend, over
  a seeded sample of random specs (ranks 1-3, strides, same/valid pads, both
  layouts, odd sizes, ties, NaN and +-Inf);
- real Keras (TensorFlow) for values and gradients, ties included;
- ``npconv.ops.record()`` for which algorithm ran.
"""

import itertools
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import on_backend

import npconv
from npconv import geometry
from npconv.layers import pooling
from npconv.ops import kernels
from npconv.ops.backends import onednn
from npconv.ops.backends.numpy import pooling as numpy_pooling
from npconv.ops.spec import make_pool_spec

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONEDNN = onednn.available()[0]
needs_onednn = pytest.mark.skipif(not ONEDNN, reason=f"oneDNN not loadable: {onednn.available()[1]}")


# --------------------------------------------------------------------------
# the naive reference, from the definition
# --------------------------------------------------------------------------
def naive_windows(x_shape, pool_size, strides, pads):
    """For each output position: the real pixels of its window, in row-major order."""
    spatial = x_shape[1:-1]
    out = [(n + b + a - k) // s + 1 for n, (b, a), k, s in zip(spatial, pads, pool_size, strides)]
    for o in itertools.product(*[range(m) for m in out]):
        ranges = [
            range(max(oi * s - b, 0), min(oi * s - b + k, n))
            for oi, s, (b, _), k, n in zip(o, strides, pads, pool_size, spatial)
        ]
        yield o, list(itertools.product(*ranges))


def naive_forward(kind, x, pool_size, strides, pads):
    x = np.asarray(x, dtype="float64")
    windows = list(naive_windows(x.shape, pool_size, strides, pads))
    out = [max(o[i] for o, _ in windows) + 1 for i in range(len(pool_size))]
    y = np.empty((x.shape[0], *out, x.shape[-1]))
    for o, pixels in windows:
        block = np.stack([x[(slice(None), *p)] for p in pixels], axis=1)  # (batch, pixels, channels)
        y[(slice(None), *o)] = block.max(axis=1) if kind == "max" else block.mean(axis=1)
    return y


def naive_backward(kind, x, dy, pool_size, strides, pads):
    x, dy = np.asarray(x, dtype="float64"), np.asarray(dy, dtype="float64")
    dx = np.zeros_like(x)
    for o, pixels in naive_windows(x.shape, pool_size, strides, pads):
        g = dy[(slice(None), *o)]  # (batch, channels)
        if kind == "avg":
            for p in pixels:
                dx[(slice(None), *p)] += g / len(pixels)
            continue
        block = np.stack([x[(slice(None), *p)] for p in pixels], axis=1)
        first = np.argmax(block, axis=1)  # the first maximum, or the first NaN
        for b, c in np.ndindex(first.shape):
            dx[(b, *pixels[first[b, c]], c)] += g[b, c]
    return dx


# --------------------------------------------------------------------------
# random specs
# --------------------------------------------------------------------------
def random_case(rng, values="normal", kind=None):
    """(kind, x (channels_last view), pool_size, strides, pads, channels_first) of a random pooling."""
    rank = int(rng.integers(1, 4))
    kind = kind or str(rng.choice(["max", "avg"]))
    pool_size = tuple(int(k) for k in rng.integers(1, 5 if rank < 3 else 4, rank))
    strides = tuple(int(s) for s in rng.integers(1, 4, rank))
    padding = str(rng.choice(["valid", "same"]))
    size = [int(rng.integers(1, 10 if rank < 3 else 7)) for _ in range(rank)]
    if padding == "valid":
        size = [max(n, k) for n, k in zip(size, pool_size)]
    pads = [geometry.conv_padding(n, k, s, padding) for n, k, s in zip(size, pool_size, strides)]
    batch, channels = int(rng.integers(1, 3)), int(rng.choice([1, 3, 5, 17]))
    channels_first = bool(rng.random() < 0.4)
    shape = (batch, channels, *size) if channels_first else (batch, *size, channels)
    if values == "ties":  # few distinct values: many tied maxima
        stored = rng.integers(-2, 2, shape).astype(np.float32)
    else:
        stored = rng.standard_normal(shape).astype(np.float32)
    if values == "nonfinite":
        for value, least in ((np.nan, 1), (np.inf, 0), (-np.inf, 0)):
            for _ in range(int(rng.integers(least, 4))):
                stored[tuple(int(rng.integers(0, n)) for n in shape)] = value
        if rng.random() < 0.5:  # a slab of -inf: whole windows of -inf
            stored[(slice(None),) * (2 if channels_first else 1) + (slice(0, 2),)] = -np.inf
    x = np.moveaxis(stored, 1, -1) if channels_first else stored
    return kind, x, pool_size, strides, pads, channels_first


def spec_of(kind, x, pool_size, strides, pads, channels_first=False, training=True, dtype=None):
    return make_pool_spec(
        kind,
        x.shape,
        pool_size,
        strides,
        pads,
        dtype or x.dtype.name,
        channels_first=channels_first,
        training=training,
    )


def run_backend(backend, spec, x, dy):
    """(y, dx, the (pass, algorithm) pairs that ran) on one backend."""
    with on_backend(backend), npconv.ops.record() as seen:
        keep = {}
        y = kernels.pool_forward(spec, x, keep)
        dx = kernels.pool_backward(spec, dy, keep)
    return np.array(y), np.array(dx), seen


def assert_same_numbers(ours, expected, rtol=1e-6, atol=1e-6, exact=False):
    """Non-finite exactly where expected is (NaN where NaN, each infinity with its sign), the rest close."""
    ours, expected = np.asarray(ours, dtype="float64"), np.asarray(expected, dtype="float64")
    assert ours.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(expected))
    finite = np.isfinite(expected)
    if exact:
        np.testing.assert_array_equal(ours[finite], expected[finite])
    else:
        np.testing.assert_allclose(ours[finite], expected[finite], rtol=rtol, atol=atol)


def differential(seed, values):
    """onednn against numpy, and numpy against the naive reference, for one random case."""
    rng = np.random.default_rng(seed)
    kind, x, pool_size, strides, pads, channels_first = random_case(rng, values, ("max", "avg")[seed % 2])
    spec = spec_of(kind, x, pool_size, strides, pads, channels_first, training=bool(rng.random() < 0.7))
    dy = rng.standard_normal(spec.y_shape).astype(np.float32)
    y, dx, seen_numpy = run_backend("numpy", spec, x, dy)
    assert seen_numpy == [("pool_forward", "windows"), ("pool_backward", "windows")]
    assert_same_numbers(y, naive_forward(kind, x, pool_size, strides, pads), rtol=1e-6)
    assert_same_numbers(dx, naive_backward(kind, x, dy, pool_size, strides, pads), rtol=1e-5)
    if not ONEDNN:
        return
    y1, dx1, seen = run_backend("onednn", spec, x, dy)
    assert seen == [("pool_forward", "onednn"), ("pool_backward", "onednn")]
    assert_same_numbers(y1, y, exact=kind == "max")
    assert_same_numbers(dx1, dx, rtol=1e-5, atol=1e-6)


SEEDS = range(16)


@pytest.mark.parametrize("values", ["normal", "ties", "nonfinite"])
@pytest.mark.parametrize("seed", SEEDS)
def test_backends_agree_with_each_other_and_the_naive_reference(seed, values):
    differential(seed, values)


@pytest.mark.slow
@pytest.mark.parametrize("values", ["normal", "ties", "nonfinite"])
def test_backends_agree_sweep(values):
    for seed in range(100, 500):
        differential(seed, values)


# --------------------------------------------------------------------------
# the exact rules, spelled out
# --------------------------------------------------------------------------
BACKENDS = ["numpy", "onednn"] if ONEDNN else ["numpy"]


def pool_1d(backend, kind, values, pool_size, strides, pads, dy=None, training=True):
    x = np.asarray(values, dtype=np.float32).reshape(1, -1, 1)
    spec = spec_of(kind, x, (pool_size,), (strides,), [pads], training=training)
    dy = np.ones(spec.y_shape, np.float32) if dy is None else np.asarray(dy, np.float32).reshape(spec.y_shape)
    y, dx, _ = run_backend(backend, spec, x, dy)
    return y.ravel(), dx.ravel()


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_nan_wins_and_takes_the_gradient(backend):
    """A NaN anywhere in a window gives NaN (as Keras on JAX and torch), and the
    window's dy goes to its first NaN."""
    nan = np.nan
    for position in range(3):
        values = [1.0, 2.0, 3.0]
        values[position] = nan
        y, dx = pool_1d(backend, "max", values, 3, 3, (0, 0), dy=[5.0])
        assert np.isnan(y).all()
        np.testing.assert_array_equal(dx, np.eye(3)[position] * 5)
    y, dx = pool_1d(backend, "max", [nan, 4.0, nan, 1.0], 2, 1, (0, 0), dy=[1.0, 2.0, 3.0])
    np.testing.assert_array_equal(np.isnan(y), [True, True, True])
    np.testing.assert_array_equal(dx, [1.0, 0.0, 5.0, 0.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_of_minus_infinity_is_minus_infinity(backend):
    """A window of -inf gives -inf (TensorFlow gives the lowest finite float),
    and its gradient goes to its first real pixel, never to a pad."""
    y, dx = pool_1d(backend, "max", [-np.inf] * 4, 3, 2, (1, 1), dy=[1.0, 2.0])  # windows [pad, 0, 1], [1, 2, 3]
    np.testing.assert_array_equal(y, [-np.inf, -np.inf])
    np.testing.assert_array_equal(dx, [1.0, 2.0, 0.0, 0.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_infinite_dy_reaches_only_the_maximum(backend):
    y, dx = pool_1d(backend, "max", [1.0, 2.0, 4.0, 3.0], 2, 2, (0, 0), dy=[np.inf, np.nan])
    np.testing.assert_array_equal(y, [2.0, 4.0])
    np.testing.assert_array_equal(np.isposinf(dx), [False, True, False, False])
    np.testing.assert_array_equal(np.isnan(dx), [False, False, True, False])
    assert dx[0] == 0 and dx[3] == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_gradient_goes_to_the_first_tied_maximum_in_3d(backend):
    """Row-major over the window, in every rank. (TensorFlow's 3-D gradient gives
    the whole dy to every tied maximum; its 1-D and 2-D ones follow this rule.)"""
    x = np.ones((1, 3, 3, 3, 1), np.float32)
    spec = spec_of("max", x, (2, 2, 2), (1, 1, 1), [(0, 0)] * 3)
    y, dx, _ = run_backend(backend, spec, x, np.ones(spec.y_shape, np.float32))
    expected = np.zeros((3, 3, 3))
    expected[:2, :2, :2] = 1  # window (i, j, k) starts at pixel (i, j, k)
    np.testing.assert_array_equal(dx[0, ..., 0], expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_average_pool_counts_real_pixels_and_carries_infinities(backend):
    y, dx = pool_1d(backend, "avg", [np.inf, -np.inf, 1.0, np.inf, 1.0, 2.0, 4.0], 2, 2, (0, 1))
    assert np.isnan(y[0]) and y[1] == np.inf
    np.testing.assert_array_equal(y[2:], [1.5, 4.0])
    np.testing.assert_array_equal(dx, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1.0])


def test_float64_stays_exact_on_numpy(rng):
    x = rng.standard_normal((2, 7, 6, 3))
    for kind in ("max", "avg"):
        spec = spec_of(kind, x, (3, 2), (2, 2), [(1, 1), (0, 0)])
        dy = rng.standard_normal(spec.y_shape)
        y, dx, seen = run_backend("onednn" if ONEDNN else "numpy", spec, x, dy)
        assert seen == [("pool_forward", "windows"), ("pool_backward", "windows")]
        assert y.dtype == dx.dtype == np.float64
        expected_y = naive_forward(kind, x, (3, 2), (2, 2), [(1, 1), (0, 0)])
        expected_dx = naive_backward(kind, x, dy, (3, 2), (2, 2), [(1, 1), (0, 0)])
        if kind == "max":  # a maximum and its routing involve no arithmetic
            np.testing.assert_array_equal(y, expected_y)
            np.testing.assert_array_equal(dx, expected_dx)
        else:
            np.testing.assert_allclose(y, expected_y, rtol=1e-15)
            np.testing.assert_allclose(dx, expected_dx, rtol=1e-15)


def test_max_backward_needs_what_the_forward_kept():
    spec = make_pool_spec("max", (1, 4, 1), (2,), (2,), [(0, 0)])
    with pytest.raises(ValueError, match="keep"):
        kernels.pool_backward(spec, np.ones((1, 2, 1), np.float32), None)


def test_pool_kind_is_checked():
    with pytest.raises(ValueError, match="`kind`.*Received: kind='mean'"):
        make_pool_spec("mean", (1, 4, 1), (2,), (2,), [(0, 0)])


# --------------------------------------------------------------------------
# the onednn path: algorithm, layout, workspace
# --------------------------------------------------------------------------
@needs_onednn
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("cls", [pooling.MaxPooling2D, pooling.AveragePooling3D, pooling.MaxPooling1D])
def test_layers_run_on_onednn_and_match_numpy(rng, cls, data_format):
    shape = {1: (2, 9, 5), 2: (2, 7, 8, 5), 3: (2, 5, 6, 4, 5)}[cls.rank]
    if data_format == "channels_first":
        shape = (shape[0], shape[-1], *shape[1:-1])
    x = rng.standard_normal(shape).astype(np.float32)
    results = {}
    for backend in ("numpy", "onednn"):
        layer = cls(3, 2, "same", data_format)
        with on_backend(backend), npconv.ops.record() as seen:
            y = layer(x, training=True)
            dx = layer.backward(np.ones_like(y))
        results[backend] = y, dx
        name = "windows" if backend == "numpy" else "onednn"
        assert seen == [("pool_forward", name), ("pool_backward", name)]
        assert y.flags.c_contiguous and dx.shape == x.shape
    np.testing.assert_allclose(results["onednn"][0], results["numpy"][0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(results["onednn"][1], results["numpy"][1], rtol=1e-6, atol=1e-7)


@needs_onednn
def test_channels_first_is_read_and_written_in_place(rng):
    """oneDNN takes a channels_first array through its strides, and writes y
    channels_first, so turning it back is no copy."""
    stored = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    x = np.moveaxis(stored, 1, -1)
    spec = spec_of("max", x, (2, 2), (2, 2), [(0, 0), (0, 0)], channels_first=True)
    keep = {}
    with on_backend("onednn"):
        y = kernels.pool_forward(spec, x, keep)
        dx = kernels.pool_backward(spec, np.ones(spec.y_shape, np.float32), keep)
    assert np.moveaxis(y, -1, 1).flags.c_contiguous
    assert np.moveaxis(dx, -1, 1).flags.c_contiguous
    np.testing.assert_array_equal(np.moveaxis(y, -1, 1), stored.reshape(2, 3, 4, 2, 4, 2).max(axis=(3, 5)))


@needs_onednn
def test_training_keeps_the_workspace_and_inference_recomputes_it(rng):
    x = rng.integers(-3, 3, (2, 6, 6, 3)).astype(np.float32)
    x[0, 1, 1, 0] = np.nan
    dy = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    grads = []
    with on_backend("onednn"):
        for training in (True, False):
            spec = spec_of("max", x, (2, 2), (2, 2), [(0, 0), (0, 0)], training=training)
            keep = {}
            kernels.pool_forward(spec, x, keep)
            assert ("onednn_max" in keep) == training
            if training:
                workspace, codes_workspace, _ = keep["onednn_max"]
                assert workspace is not None and codes_workspace is not None  # x holds a NaN
            grads.append(kernels.pool_backward(spec, dy, keep))
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_array_equal(grads[0], naive_backward("max", x, dy, (2, 2), (2, 2), [(0, 0), (0, 0)]))


@needs_onednn
def test_backward_from_a_numpy_forward_runs_on_onednn(rng):
    """What the seam keeps (x and y) is enough for either backend's backward pass."""
    x = rng.standard_normal((1, 7, 4)).astype(np.float32)
    spec = spec_of("max", x, (3,), (2,), [(1, 1)])
    dy = rng.standard_normal(spec.y_shape).astype(np.float32)
    keep = {}
    with on_backend("numpy"):
        kernels.pool_forward(spec, x, keep)
    with on_backend("onednn"), npconv.ops.record() as seen:
        dx = kernels.pool_backward(spec, dy, keep)
    assert seen == [("pool_backward", "onednn")]
    np.testing.assert_allclose(dx, naive_backward("max", x, dy, (3,), (2,), [(1, 1)]), rtol=1e-6)  # float32 sums


def test_numpy_backend_from_the_environment():
    """NPCONV_BACKEND=numpy: pooling runs on numpy, float32 included."""
    code = textwrap.dedent(
        """
        import numpy as np, npconv
        from npconv.layers import MaxPooling2D
        with npconv.ops.record() as seen:
            layer = MaxPooling2D(2)
            y = layer(np.ones((1, 4, 4, 2), np.float32), training=True)
            layer.backward(np.ones_like(y))
        print(seen)
        """
    )
    env = dict(os.environ, NPCONV_BACKEND="numpy", PYTHONPATH=ROOT)
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[('pool_forward', 'windows'), ('pool_backward', 'windows')]"


def test_window_counts_are_the_real_pixels():
    spec = make_pool_spec("avg", (1, 5, 4, 1), (3, 2), (2, 3), [(1, 1), (0, 1)])
    counts = numpy_pooling.window_counts(spec)
    np.testing.assert_array_equal(counts[0, :, :, 0], [[2 * 2, 2 * 1], [3 * 2, 3 * 1], [2 * 2, 2 * 1]])
    assert not counts.flags.writeable


# --------------------------------------------------------------------------
# real Keras: values and gradients, ties included
# --------------------------------------------------------------------------
KERAS_CASES = [  # (class, shape channels_last, pool_size, strides, padding, data_format, values)
    (pooling.MaxPooling2D, (2, 7, 6, 3), 3, 2, "same", "channels_last", "ties"),
    (pooling.MaxPooling2D, (1, 6, 6, 2), 2, 1, "valid", "channels_first", "ties"),
    (pooling.MaxPooling1D, (2, 9, 4), 3, 2, "same", "channels_last", "ties"),
    (pooling.MaxPooling3D, (1, 5, 4, 5, 2), 2, 2, "same", "channels_last", "normal"),
    (pooling.AveragePooling2D, (2, 7, 5, 3), 3, 2, "same", "channels_first", "normal"),
    (pooling.AveragePooling3D, (1, 5, 5, 4, 2), 3, 2, "same", "channels_last", "normal"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", range(len(KERAS_CASES)))
def test_values_and_gradients_match_keras(keras, rng, backend, case):
    tf = pytest.importorskip("tensorflow")
    cls, shape, pool_size, strides, padding, data_format, values = KERAS_CASES[case]
    if data_format == "channels_first":
        shape = (shape[0], shape[-1], *shape[1:-1])
    if values == "ties":
        x = rng.integers(-2, 2, shape).astype(np.float32)
    else:
        x = rng.standard_normal(shape).astype(np.float32)
    ours = cls(pool_size, strides, padding, data_format)
    with on_backend(backend), npconv.ops.record() as seen:
        y = ours(x, training=True)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        dx = ours.backward(dy)
    assert {name for _, name in seen} == {"onednn" if backend == "onednn" else "windows"}
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = getattr(keras.layers, cls.__name__)(pool_size, strides, padding, data_format)(xt)
    expected_dx = tape.gradient(yt, xt, output_gradients=tf.constant(dy)).numpy()
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_windows_of_more_than_255_pixels(rng, backend):
    """oneDNN's workspace holds each window's argmax in 8 bits up to 255 pixels
    per window, in 32 bits beyond: 17x17 windows take the wide form."""
    x = rng.integers(-3, 3, (1, 40, 37, 2)).astype(np.float32)
    x[0, 20, 5, 1] = np.nan
    pads = [(8, 8), (8, 8)]
    spec = spec_of("max", x, (17, 17), (5, 4), pads)
    dy = rng.standard_normal(spec.y_shape).astype(np.float32)
    y, dx, seen = run_backend(backend, spec, x, dy)
    assert seen[0][1] == ("windows" if backend == "numpy" else "onednn")
    assert_same_numbers(y, naive_forward("max", x, (17, 17), (5, 4), pads), exact=True)
    assert_same_numbers(dx, naive_backward("max", x, dy, (17, 17), (5, 4), pads), rtol=1e-6)
