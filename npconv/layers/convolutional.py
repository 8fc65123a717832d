"""Alias of :mod:`npconv.layers` under the Keras 2 path ``keras.layers.convolutional``."""

from .conv import (  # noqa: F401
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)

Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Deconvolution2D, Deconvolution3D = Conv2DTranspose, Conv3DTranspose
