"""SpatialDropout1D/2D/3D, Permute and Identity: masks and scaling as
properties (Keras's random draws differ from NumPy's), values against real
Keras where deterministic, gradients against finite differences, configs both
ways and errors."""

import numpy as np
import pytest
from helpers import assert_close, check_gradients, input_shape, keras_twin

from npconv import layers
from npconv.layers import Identity, Permute, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D

SPATIAL = {1: SpatialDropout1D, 2: SpatialDropout2D, 3: SpatialDropout3D}


def formats(rank):
    return ["channels_last"] if rank == 1 else ["channels_last", "channels_first"]


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_spatial_dropout_drops_whole_channels(rank):
    for data_format in formats(rank):
        kwargs = {} if rank == 1 else {"data_format": data_format}
        layer = SPATIAL[rank](0.5, seed=3, **kwargs)
        shape = input_shape(rank, channels=40, size=3, batch=4, data_format=data_format)
        x = np.ones(shape, dtype="float32")
        y = layer(x, training=True)
        channel_axis = 1 if data_format == "channels_first" else -1
        per_channel = np.moveaxis(y, channel_axis, -1).reshape(4, -1, 40)
        # one decision per (sample, channel): every pixel of a channel agrees
        assert np.all(per_channel == per_channel[:, :1, :])
        assert set(np.unique(per_channel)) <= {0.0, 2.0}
        dropped = np.mean(per_channel[:, 0, :] == 0)
        assert 0.3 < dropped < 0.7
        assert_close(layer(x, training=False), x)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_spatial_dropout_gradient_uses_the_same_mask(rng, rank):
    layer = SPATIAL[rank](0.4, seed=1, dtype="float64")
    x = rng.standard_normal(input_shape(rank, channels=5, size=3))
    y = layer(x, training=True)
    dy = rng.standard_normal(y.shape)
    assert_close(layer.backward(dy), dy * (y / x))
    check_gradients(SPATIAL[rank](0.4, dtype="float64"), x, rng, training=False)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_spatial_dropout_config_both_ways(keras, rank):
    kwargs = {} if rank == 1 else {"data_format": "channels_first"}
    ours = SPATIAL[rank](0.25, seed=7, name=f"sd{rank}", **kwargs)
    theirs = keras.layers.deserialize(layers.serialize(ours))
    assert theirs.rate == 0.25 and theirs.seed == 7
    if rank > 1:
        assert theirs.data_format == "channels_first"
    back = layers.deserialize(keras.layers.serialize(theirs))
    assert back.get_config() == ours.get_config()


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: SpatialDropout2D(1.5), ValueError, "`rate`"),
        (lambda: SpatialDropout2D(0.5, data_format="nhwc"), ValueError, "`data_format`"),
        (lambda: SpatialDropout2D(0.5)(np.ones((2, 3, 4)), training=True), ValueError, "rank 4"),
        (lambda: SpatialDropout1D(0.5)(np.ones((2, 3, 4, 5)), training=True), ValueError, "rank 3"),
    ],
)
def test_spatial_dropout_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("dims", [(2, 1), (1, 2), (3, 1, 2), (2, 3, 1)])
def test_permute_matches_keras_and_gradients(keras, rng, dims):
    shape = (2, 3, 4, 5)[: len(dims) + 1]
    x = rng.standard_normal(shape).astype("float32")
    ours = Permute(dims)
    y = ours(x)
    assert_close(y, keras_twin(keras, ours)(x))
    assert ours.compute_output_shape((None, *shape[1:])) == (None, *y.shape[1:])
    check_gradients(Permute(dims, dtype="float64"), x.astype("float64"), rng)
    theirs = keras.layers.Permute(dims)
    assert layers.deserialize(keras.layers.serialize(theirs)).dims == tuple(dims)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: Permute((1, 1)), ValueError, "`dims`"),
        (lambda: Permute((0, 1)), ValueError, "`dims`"),
        (lambda: Permute(2), TypeError, "`dims`"),
        (lambda: Permute((1.0, 2.0)), TypeError, "`dims`"),
        (lambda: Permute((2, 1))(np.ones((2, 3))), ValueError, "rank 3"),
    ],
)
def test_permute_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_identity(keras, rng):
    x = rng.standard_normal((2, 3)).astype("float32")
    ours = Identity(name="skip")
    assert_close(ours(x), keras_twin(keras, ours)(x))
    check_gradients(Identity(dtype="float64"), x.astype("float64"), rng)
    assert layers.deserialize(keras.layers.serialize(keras.layers.Identity(name="skip"))).name == "skip"
