"""Alias of :mod:`npconv.layers` under the Keras 2 path ``keras.layers.convolutional``."""

from .conv import *  # noqa: F403  (the public conv layers: ``conv.__all__``)
from .conv import Conv1D, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose

Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Deconvolution2D, Deconvolution3D = Conv2DTranspose, Conv3DTranspose
