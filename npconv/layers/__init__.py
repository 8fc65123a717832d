"""Layers, named as in ``keras.layers``."""

from .activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .base import Layer, Variable  # noqa: F401
from .conv import (
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
from .core import Activation, Dense, Dropout, Flatten, Reshape
from .input_layer import Input, InputLayer  # noqa: F401
from .merging import Add, Average, Concatenate, Maximum, Merge, Minimum, Multiply, Subtract  # noqa: F401
from .normalization import BatchNormalization
from .pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    AvgPool1D,  # noqa: F401
    AvgPool2D,  # noqa: F401
    AvgPool3D,  # noqa: F401
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalAvgPool1D,  # noqa: F401
    GlobalAvgPool2D,  # noqa: F401
    GlobalAvgPool3D,  # noqa: F401
    GlobalMaxPool1D,  # noqa: F401
    GlobalMaxPool2D,  # noqa: F401
    GlobalMaxPool3D,  # noqa: F401
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPool1D,  # noqa: F401
    MaxPool2D,  # noqa: F401
    MaxPool3D,  # noqa: F401
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from .reshaping import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)

# Keras 2 spellings the article and older code use.
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Deconvolution2D, Deconvolution3D = Conv2DTranspose, Conv3DTranspose

from . import convolutional  # noqa: E402, F401  (keras.layers.convolutional.Conv2D)

_CLASSES = {
    cls.__name__: cls
    for cls in (
        Conv1D, Conv2D, Conv3D, Conv1DTranspose, Conv2DTranspose, Conv3DTranspose,
        DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D, InputLayer,
        Dense, Flatten, Reshape, Activation, Dropout, BatchNormalization,
        MaxPooling1D, MaxPooling2D, MaxPooling3D, AveragePooling1D, AveragePooling2D, AveragePooling3D,
        GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
        GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D,
        ZeroPadding1D, ZeroPadding2D, ZeroPadding3D, Cropping1D, Cropping2D, Cropping3D,
        UpSampling1D, UpSampling2D, UpSampling3D,
        ReLU, LeakyReLU, PReLU, ELU, Softmax,
        Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate,
    )
}  # fmt: skip


def serialize(layer):
    """A layer as a Keras-style config dict."""
    return {
        "module": "keras.layers",
        "class_name": type(layer).__name__,
        "config": layer.get_config(),
        "registered_name": None,
    }


def deserialize(config):
    """A layer from ``serialize``'s dict. Only npconv's own classes are built."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise invalid_layer_config(config)
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown layer class_name={config['class_name']!r}. npconv knows {sorted(_CLASSES)}.")
    return cls.from_config(config.get("config", {}))


def invalid_layer_config(config):
    from ..arguments import invalid

    return invalid("config", "a dict with 'class_name' and 'config'", config, error=TypeError)
