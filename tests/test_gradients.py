"""Finite-difference checks (float64) of every conv layer's backward pass:
dx, kernel(s) and bias, for every padding form, strides with dilation,
groups, depth multipliers, output_padding / output_shape and both data formats."""

import numpy as np
import pytest
from helpers import check_gradients

from npconv import layers


def check_layer(layer, x, rng):
    """backward() (dx and every weight's gradient) against finite differences of <layer(x), dy>."""
    check_gradients(layer, x, rng, rtol=1e-6, atol=1e-7, eps=1e-6)


PADDINGS_2D = ["valid", "same", "full", 1, (2, 0), ((0, 2), (1, 0))]
MODES = ["zeros", "reflect", "replicate", "circular"]


@pytest.mark.parametrize("padding", PADDINGS_2D)
@pytest.mark.parametrize("padding_mode", MODES)
def test_conv2d_padding_forms(padding, padding_mode, rng):
    layer = layers.Conv2D(
        4, (3, 2), strides=(2, 1), padding=padding, padding_mode=padding_mode, activation="tanh", dtype="float64"
    )
    check_layer(layer, rng.standard_normal((2, 6, 5, 2)), rng)


@pytest.mark.parametrize(
    "config",
    [
        dict(rank=1, kernel_size=3, strides=2, dilation_rate=2, padding="causal"),
        dict(rank=1, kernel_size=2, groups=2, padding="same", strides=3),
        dict(rank=2, kernel_size=3, strides=2, dilation_rate=2, padding="same", groups=2),
        dict(rank=3, kernel_size=2, strides=(1, 2, 1), padding="same", activation="relu"),
        dict(rank=2, kernel_size=3, data_format="channels_first", activation="softmax", padding="same"),
    ],
)
def test_conv_ranks_groups_dilation(config, rng):
    config = dict(config)
    rank = config.pop("rank")
    layer = getattr(layers, f"Conv{rank}D")(4, dtype="float64", **config)
    spatial = (5,) * rank
    shape = (2, 4, *spatial) if config.get("data_format") == "channels_first" else (2, *spatial, 4)
    check_layer(layer, rng.standard_normal(shape), rng)


@pytest.mark.parametrize(
    "config",
    [
        dict(rank=2, kernel_size=3, strides=2, padding="same"),
        dict(rank=2, kernel_size=3, strides=2, padding="same", output_padding=0),
        dict(rank=2, kernel_size=4, strides=2, padding="valid", output_padding=1),
        dict(rank=2, kernel_size=2, strides=3, padding="valid"),
        dict(rank=2, kernel_size=3, strides=2, dilation_rate=2, padding=((1, 0), (0, 2))),
        dict(rank=2, kernel_size=3, strides=2, padding="same", output_shape=(7, 8)),
        dict(rank=1, kernel_size=3, strides=2, padding="full"),
        dict(rank=3, kernel_size=2, strides=2, padding="same", data_format="channels_first"),
    ],
)
def test_conv_transpose(config, rng):
    config = dict(config)
    rank = config.pop("rank")
    layer = getattr(layers, f"Conv{rank}DTranspose")(3, dtype="float64", activation="sigmoid", **config)
    spatial = (4,) * rank
    shape = (2, 2, *spatial) if config.get("data_format") == "channels_first" else (2, *spatial, 2)
    check_layer(layer, rng.standard_normal(shape), rng)


@pytest.mark.parametrize("padding_mode", MODES)
@pytest.mark.parametrize("rank", [1, 2])
def test_depthwise_and_separable(rank, padding_mode, rng):
    x = rng.standard_normal((2, *(5,) * rank, 3))
    depthwise = getattr(layers, f"DepthwiseConv{rank}D")(
        3, strides=2, dilation_rate=1, depth_multiplier=2, padding="same", padding_mode=padding_mode, dtype="float64"
    )
    check_layer(depthwise, x, rng)
    separable = getattr(layers, f"SeparableConv{rank}D")(
        4, 2, dilation_rate=2, depth_multiplier=2, padding="same", padding_mode=padding_mode, dtype="float64"
    )
    check_layer(separable, x, rng)


def test_gradients_accumulate(rng):
    """Two backward calls add up (Variable.add_grad uses +=)."""
    layer = layers.Conv2D(2, 3, dtype="float64")
    x = rng.standard_normal((1, 5, 5, 1))
    dy = rng.standard_normal(layer(x).shape)
    layer.backward(dy)
    once = layer.kernel.grad.copy()
    layer.backward(dy)
    np.testing.assert_allclose(layer.kernel.grad, 2 * once)
