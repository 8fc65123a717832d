"""Pooling layers against real Keras (forward, shapes, configs), TensorFlow's
gradients, a naive loop reference, and finite differences in float64."""

import doctest
import itertools
import math

import numpy as np
import pytest
from helpers import check_gradients, keras_config_keys

from npconv.layers import pooling

WINDOWED = {
    ("max", 1): pooling.MaxPooling1D,
    ("max", 2): pooling.MaxPooling2D,
    ("max", 3): pooling.MaxPooling3D,
    ("average", 1): pooling.AveragePooling1D,
    ("average", 2): pooling.AveragePooling2D,
    ("average", 3): pooling.AveragePooling3D,
}
GLOBAL = {
    ("max", 1): pooling.GlobalMaxPooling1D,
    ("max", 2): pooling.GlobalMaxPooling2D,
    ("max", 3): pooling.GlobalMaxPooling3D,
    ("average", 1): pooling.GlobalAveragePooling1D,
    ("average", 2): pooling.GlobalAveragePooling2D,
    ("average", 3): pooling.GlobalAveragePooling3D,
}
SPATIAL = {1: (7,), 2: (6, 5), 3: (5, 4, 5)}
CASES = [  # (pool_size, strides) per rank
    (2, None),
    (3, 1),
    (3, 2),
    (2, 3),
    (4, 2),
]


def distinct_input(rng, shape):
    """Values far apart, so max pooling has no ties and finite differences never cross one."""
    size = math.prod(shape)
    return rng.permutation(np.arange(size, dtype="float64")).reshape(shape) / size - 0.5


def input_shape(rank, data_format, channels=3, batch=2):
    spatial = SPATIAL[rank]
    return (batch, *spatial, channels) if data_format == "channels_last" else (batch, channels, *spatial)


def keras_class(keras, cls):
    return getattr(keras.layers, cls.__name__)


# --------------------------------------------------------------------------
# a naive reference, from the definition
# --------------------------------------------------------------------------
def naive_pool(x, pool_size, strides, padding, mode):
    """x: (batch, *spatial, channels). One output pixel at a time, TF's SAME
    pads derived here: total = max((ceil(n/s) - 1)*s + k - n, 0), odd pixel after."""
    spatial = x.shape[1:-1]
    if padding == "same":
        out = [math.ceil(n / s) for n, s in zip(spatial, strides)]
        before = [max((o - 1) * s + k - n, 0) // 2 for o, s, k, n in zip(out, strides, pool_size, spatial)]
    else:
        out = [(n - k) // s + 1 for n, k, s in zip(spatial, pool_size, strides)]
        before = [0] * len(spatial)
    y = np.zeros((x.shape[0], *out, x.shape[-1]))
    for o in itertools.product(*[range(m) for m in out]):
        index = [
            [p for p in range(oi * s - b, oi * s - b + k) if 0 <= p < n]
            for oi, s, b, k, n in zip(o, strides, before, pool_size, spatial)
        ]
        block = x[np.ix_(range(x.shape[0]), *index, range(x.shape[-1]))]
        axes = tuple(range(1, x.ndim - 1))
        y[(slice(None), *o)] = block.max(axis=axes) if mode == "max" else block.mean(axis=axes)
    return y


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool_size, strides", CASES)
def test_pooling_matches_naive_reference(rng, rank, mode, padding, pool_size, strides):
    x = rng.standard_normal(input_shape(rank, "channels_last"))
    layer = WINDOWED[mode, rank](pool_size, strides, padding, dtype="float64")
    strides = pool_size if strides is None else strides
    expected = naive_pool(x, (pool_size,) * rank, (strides,) * rank, padding, mode)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# Keras forward, shapes, configs
# --------------------------------------------------------------------------
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("pool_size, strides", CASES[:3])
def test_pooling_matches_keras(keras, rng, rank, mode, padding, data_format, pool_size, strides):
    x = rng.standard_normal(input_shape(rank, data_format)).astype("float32")
    cls = WINDOWED[mode, rank]
    theirs = keras_class(keras, cls)(pool_size, strides, padding, data_format)
    ours = cls(pool_size, strides, padding, data_format)
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_matches_keras_sweep(keras, rng, rank, mode, padding):
    cls = WINDOWED[mode, rank]
    for n, k, s in itertools.product(range(1, 8), range(1, 5), range(1, 4)):
        if padding == "valid" and n < k:
            continue
        x = rng.standard_normal((1, *(n,) * rank, 2)).astype("float32")
        expected = np.asarray(keras_class(keras, cls)(k, s, padding)(x))
        np.testing.assert_allclose(cls(k, s, padding)(x), expected, rtol=1e-5, atol=1e-6, err_msg=str((n, k, s)))


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_pooling_output_shape_matches_keras(keras, rank, padding, data_format):
    cls = WINDOWED["max", rank]
    shapes = [input_shape(rank, data_format), input_shape(rank, data_format, batch=None)]
    spatial_axis = 1 if data_format == "channels_last" else 2
    unknown = list(shapes[1])
    unknown[spatial_axis] = None
    shapes.append(tuple(unknown))
    for (pool_size, strides), shape in itertools.product(CASES, shapes):
        ours = cls(pool_size, strides, padding, data_format).compute_output_shape(shape)
        theirs = keras_class(keras, cls)(pool_size, strides, padding, data_format).compute_output_shape(shape)
        assert ours == tuple(theirs), (pool_size, strides, shape)


@pytest.mark.parametrize("cls", list(WINDOWED.values()) + list(GLOBAL.values()))
def test_pooling_config_keys_match_keras(keras, cls):
    args = () if cls in GLOBAL.values() else (2,)
    ours = cls(*args).get_config()
    assert set(ours) == keras_config_keys(keras_class(keras, cls)(*args))
    if args:
        assert ours["pool_size"] == (2,) * cls.rank and ours["strides"] == (2,) * cls.rank
        assert ours["padding"] == "valid" and ours["data_format"] == "channels_last"
        assert cls.from_config(ours).get_config() == ours


def test_pooling_defaults_match_keras(keras):
    for cls in (pooling.MaxPooling1D, pooling.MaxPooling2D, pooling.MaxPooling3D):
        assert cls().get_config()["pool_size"] == tuple(keras_class(keras, cls)().get_config()["pool_size"])


def test_max_pooling_same_never_picks_a_pad():
    x = -np.ones((1, 3, 3, 1))  # every real pixel is below the zero a pad would hold
    y = pooling.MaxPooling2D(2, 2, "same")(x)
    np.testing.assert_array_equal(y, -np.ones((1, 2, 2, 1)))


def test_average_pooling_same_divides_by_real_pixels():
    x = np.ones((1, 5, 1))
    np.testing.assert_array_equal(pooling.AveragePooling1D(3, 2, "same")(x), np.ones((1, 3, 1)))


# --------------------------------------------------------------------------
# gradients
# --------------------------------------------------------------------------
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("pool_size, strides", [(2, None), (3, 2), (3, 1)])
def test_pooling_gradients(rng, rank, mode, padding, data_format, pool_size, strides):
    cls = WINDOWED[mode, rank]
    layer = cls(pool_size, strides, padding, data_format, dtype="float64")
    shape = input_shape(rank, data_format, channels=2, batch=1)
    check_gradients(layer, distinct_input(rng, shape), rng)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_gradients_match_tensorflow(keras, rng, rank, mode, padding):
    tf = pytest.importorskip("tensorflow")
    cls = WINDOWED[mode, rank]
    x = distinct_input(rng, input_shape(rank, "channels_last")).astype("float32")
    ours = cls(3, 2, padding)
    y = ours(x)
    dy = rng.standard_normal(y.shape).astype("float32")
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = keras_class(keras, cls)(3, 2, padding)(xt)
    expected = tape.gradient(yt, xt, output_gradients=tf.constant(dy)).numpy()
    np.testing.assert_allclose(ours.backward(dy), expected, rtol=1e-5, atol=1e-6)


def test_max_pooling_ties_go_to_the_first_pixel():
    layer = pooling.MaxPooling1D(2)
    layer(np.array([[[1.0], [1.0], [3.0], [3.0]]]))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 2, 1)))[0, :, 0], [1, 0, 1, 0])


# --------------------------------------------------------------------------
# global pooling
# --------------------------------------------------------------------------
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_matches_keras(keras, rng, rank, mode, data_format, keepdims):
    cls = GLOBAL[mode, rank]
    x = rng.standard_normal(input_shape(rank, data_format)).astype("float32")
    theirs = keras_class(keras, cls)(data_format=data_format, keepdims=keepdims)
    ours = cls(data_format=data_format, keepdims=keepdims)
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)
    for shape in [x.shape, (None, *x.shape[1:]), (None, None, *x.shape[2:])]:
        assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_gradients(rng, rank, mode, data_format, keepdims):
    cls = GLOBAL[mode, rank]
    layer = cls(data_format=data_format, keepdims=keepdims, dtype="float64")
    check_gradients(layer, distinct_input(rng, input_shape(rank, data_format, channels=2, batch=2)), rng)


def test_global_max_pooling_splits_ties_like_tensorflow():
    layer = pooling.GlobalMaxPooling1D()
    layer(np.array([[[2.0], [1.0], [2.0]]]))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1)))[0, :, 0], [0.5, 0, 0.5])


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"pool_size": 0}, ValueError, "`pool_size`"),
        ({"pool_size": (2, 2, 2)}, ValueError, "`pool_size`"),
        ({"pool_size": 2.0}, TypeError, "`pool_size`"),
        ({"pool_size": 2, "strides": 0}, ValueError, "`strides`"),
        ({"pool_size": 2, "padding": "full"}, ValueError, "`padding`"),
        ({"pool_size": 2, "padding": 1}, ValueError, "`padding`"),
        ({"pool_size": 2, "data_format": "NHWC"}, ValueError, "`data_format`"),
    ],
)
def test_pooling_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        pooling.AveragePooling2D(**kwargs)


def test_pooling_output_too_small():
    with pytest.raises(ValueError, match="zero or negative.*pool_size"):
        pooling.MaxPooling2D(4).compute_output_shape((None, 3, 3, 1))
    with pytest.raises(ValueError, match="zero or negative"):
        pooling.MaxPooling1D(4)(np.zeros((1, 3, 1)))


def test_pooling_rejects_wrong_rank():
    with pytest.raises(ValueError, match="rank 4"):
        pooling.MaxPooling2D().compute_output_shape((None, 4, 1))
    with pytest.raises(ValueError, match="rank 3"):
        pooling.GlobalAveragePooling1D()(np.zeros((1, 4, 4, 1)))


def test_global_pooling_keepdims_must_be_bool():
    with pytest.raises(TypeError, match="`keepdims`"):
        pooling.GlobalMaxPooling2D(keepdims="yes")


def test_docstring_examples_run():
    result = doctest.testmod(pooling, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 12 * 3


@pytest.mark.parametrize("cls", list(WINDOWED.values()) + list(GLOBAL.values()))
def test_every_pooling_class_has_a_keras_style_docstring(cls):
    doc = cls.__doc__
    assert "Args:" in doc and ">>> " in doc and cls.__name__ in doc
