"""Layers, named as in ``keras.layers``."""

from .base import Layer, Variable
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
from .input_layer import Input, InputLayer

# Keras 2 spellings the article and older code use.
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Deconvolution2D, Deconvolution3D = Conv2DTranspose, Conv3DTranspose

from . import convolutional  # noqa: E402  (keras.layers.convolutional.Conv2D)

_CLASSES = {
    cls.__name__: cls
    for cls in (
        Conv1D, Conv2D, Conv3D, Conv1DTranspose, Conv2DTranspose, Conv3DTranspose,
        DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D, InputLayer,
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
        raise ValueError(
            f"Unknown layer class_name={config['class_name']!r}. npconv knows {sorted(_CLASSES)}."
        )
    return cls.from_config(config.get("config", {}))


def invalid_layer_config(config):
    from ..arguments import invalid

    return invalid("config", "a dict with 'class_name' and 'config'", config, error=TypeError)
