"""ZeroPadding, Cropping and UpSampling against real Keras (forward, shapes,
configs), finite differences in float64, and the padding/cropping adjoint."""

import numpy as np
import pytest
from helpers import check_gradients, keras_config_keys

from npconv.layers import reshaping

SPATIAL = {1: (5,), 2: (4, 5), 3: (3, 4, 3)}


def input_shape(rank, data_format, channels=2, batch=2):
    spatial = SPATIAL[rank]
    return (batch, *spatial, channels) if data_format == "channels_last" else (batch, channels, *spatial)


def unknown_spatial(shape, data_format):
    """shape with the batch and every spatial size unknown."""
    spatial = (None,) * (len(shape) - 2)
    return (None, *spatial, shape[-1]) if data_format == "channels_last" else (None, shape[1], *spatial)


def keras_layer(keras, cls, *args, **kwargs):
    return getattr(keras.layers, cls.__name__)(*args, **kwargs)


# rank -> argument forms Keras accepts
PADDINGS = {
    1: [1, (0, 2), (3, 1)],
    2: [1, (2, 1), ((1, 0), (0, 2))],
    3: [1, (1, 0, 2), ((1, 0), (0, 2), (2, 1))],
}
CROPPINGS = {
    1: [1, (0, 2), (2, 1)],
    2: [1, (1, 0), ((1, 0), (0, 2))],
    3: [0, (1, 0, 1), ((1, 0), (0, 2), (1, 1))],
}
ZERO_PADDING = {1: reshaping.ZeroPadding1D, 2: reshaping.ZeroPadding2D, 3: reshaping.ZeroPadding3D}
CROPPING = {1: reshaping.Cropping1D, 2: reshaping.Cropping2D, 3: reshaping.Cropping3D}
UPSAMPLING = {1: reshaping.UpSampling1D, 2: reshaping.UpSampling2D, 3: reshaping.UpSampling3D}
FORMATS = ["channels_last", "channels_first"]


def formats(cls):
    """Cropping1D and UpSampling1D take no data_format, as in Keras."""
    return ["channels_last"] if cls in (reshaping.Cropping1D, reshaping.UpSampling1D) else FORMATS


def format_kwargs(cls, data_format):
    return {} if cls in (reshaping.Cropping1D, reshaping.UpSampling1D) else {"data_format": data_format}


def cases(table, arguments):
    return [
        (table[rank], arg, data_format)
        for rank in (1, 2, 3)
        for arg in arguments[rank]
        for data_format in formats(table[rank])
    ]


PAD_CASES = cases(ZERO_PADDING, PADDINGS) + cases(CROPPING, CROPPINGS)
UP_CASES = cases(UPSAMPLING, {1: [2, 3], 2: [2, (1, 3)], 3: [2, (1, 2, 3)]})


# --------------------------------------------------------------------------
# Keras forward, shapes, configs
# --------------------------------------------------------------------------
@pytest.mark.parametrize("cls, arg, data_format", PAD_CASES + UP_CASES)
def test_matches_keras(keras, rng, cls, arg, data_format):
    x = rng.standard_normal(input_shape(cls.rank, data_format)).astype("float32")
    kwargs = format_kwargs(cls, data_format)
    theirs = keras_layer(keras, cls, arg, **kwargs)
    ours = cls(arg, **kwargs)
    np.testing.assert_array_equal(ours(x), np.asarray(theirs(x)))
    for shape in [x.shape, (None, *x.shape[1:]), unknown_spatial(x.shape, data_format)]:
        assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape)), shape
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    assert set(ours_config) == keras_config_keys(theirs)
    for key in set(ours_config) - {"name", "dtype", "trainable"}:
        assert ours_config[key] == theirs_config[key], key
    assert cls.from_config(ours_config).get_config() == ours_config


@pytest.mark.parametrize("cls", list(ZERO_PADDING.values()) + list(CROPPING.values()) + list(UPSAMPLING.values()))
def test_defaults_match_keras(keras, cls):
    theirs = keras_layer(keras, cls).get_config()
    for key, value in cls().get_config().items():
        if key not in ("name", "dtype", "trainable"):
            assert value == theirs[key], key


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("size", [2, (3, 2), (1, 4)])
def test_bilinear_upsampling_matches_keras(keras, rng, data_format, size):
    x = rng.standard_normal(input_shape(2, data_format, channels=3)).astype("float32")
    theirs = keras.layers.UpSampling2D(size, data_format=data_format, interpolation="bilinear")
    ours = reshaping.UpSampling2D(size, data_format=data_format, interpolation="bilinear")
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)
    assert ours.get_config()["interpolation"] == theirs.get_config()["interpolation"] == "bilinear"


def test_bilinear_upsampling_of_one_pixel_is_constant():
    x = np.full((1, 1, 1, 2), 3.0)
    np.testing.assert_array_equal(reshaping.UpSampling2D(3, interpolation="bilinear")(x), np.full((1, 3, 3, 2), 3.0))


@pytest.mark.parametrize("size", [2, (3, 2)])
def test_bilinear_upsampling_gradients_match_tensorflow(keras, rng, size):
    tf = pytest.importorskip("tensorflow")
    x = rng.standard_normal((2, 4, 3, 2)).astype("float32")
    ours = reshaping.UpSampling2D(size, interpolation="bilinear")
    dy = rng.standard_normal(ours(x).shape).astype("float32")
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = keras.layers.UpSampling2D(size, interpolation="bilinear")(xt)
    expected = tape.gradient(yt, xt, output_gradients=tf.constant(dy)).numpy()
    np.testing.assert_allclose(ours.backward(dy), expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------
# gradients and the adjoint identity
# --------------------------------------------------------------------------
@pytest.mark.parametrize("cls, arg, data_format", PAD_CASES + UP_CASES)
def test_gradients(rng, cls, arg, data_format):
    layer = cls(arg, **format_kwargs(cls, data_format), dtype="float64")
    check_gradients(layer, rng.standard_normal(input_shape(cls.rank, data_format, batch=1)), rng)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("size", [2, (1, 3)])
def test_bilinear_gradients(rng, data_format, size):
    layer = reshaping.UpSampling2D(size, data_format=data_format, interpolation="bilinear", dtype="float64")
    check_gradients(layer, rng.standard_normal(input_shape(2, data_format, batch=1)), rng)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_zero_padding_and_cropping_are_adjoint(rng, rank):
    """<pad(x), y> == <x, crop(y)> for the same amounts."""
    amounts = PADDINGS[rank][-1]
    x = rng.standard_normal(input_shape(rank, "channels_last"))
    padded = ZERO_PADDING[rank](amounts, dtype="float64")(x)
    y = rng.standard_normal(padded.shape)
    cropped = CROPPING[rank](amounts, dtype="float64")(y)
    np.testing.assert_allclose(np.sum(padded * y), np.sum(x * cropped))


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls, kwargs, error, match",
    [
        (reshaping.ZeroPadding1D, {"padding": -1}, ValueError, "`padding`"),
        (reshaping.ZeroPadding1D, {"padding": (1, 2, 3)}, ValueError, "`padding`"),
        (reshaping.ZeroPadding2D, {"padding": (1, 2, 3)}, ValueError, "`padding`"),
        (reshaping.ZeroPadding2D, {"padding": ((1, 2), (3,))}, ValueError, "`padding`"),
        (reshaping.ZeroPadding2D, {"padding": ((1, 2), (3, -1))}, ValueError, "`padding`"),
        (reshaping.ZeroPadding3D, {"padding": "same"}, TypeError, "`padding`"),
        (reshaping.ZeroPadding2D, {"padding": 1, "data_format": "NCHW"}, ValueError, "`data_format`"),
        (reshaping.Cropping1D, {"cropping": -2}, ValueError, "`cropping`"),
        (reshaping.Cropping2D, {"cropping": (1.5, 1)}, TypeError, "`cropping`"),
        (reshaping.Cropping3D, {"cropping": (1, 1)}, ValueError, "`cropping`"),
        (reshaping.UpSampling1D, {"size": 0}, ValueError, "`size`"),
        (reshaping.UpSampling1D, {"size": 2.0}, TypeError, "`size`"),
        (reshaping.UpSampling2D, {"size": (2, 0)}, ValueError, "`size`"),
        (reshaping.UpSampling2D, {"interpolation": "bicubic"}, ValueError, "`interpolation`"),
        (reshaping.UpSampling3D, {"size": (2, 2)}, ValueError, "`size`"),
    ],
)
def test_errors(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_cropping_too_much():
    with pytest.raises(ValueError, match="`cropping`"):
        reshaping.Cropping2D(((2, 2), (0, 0))).compute_output_shape((None, 4, 5, 1))
    with pytest.raises(ValueError, match="`cropping`"):
        reshaping.Cropping1D((3, 3))(np.zeros((1, 5, 1)))


def test_wrong_rank():
    with pytest.raises(ValueError, match="rank 5"):
        reshaping.UpSampling3D()(np.zeros((1, 2, 2, 1)))
