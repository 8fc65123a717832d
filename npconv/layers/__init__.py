"""Layers, named as in ``keras.layers``."""

from ..arguments import invalid
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
from .core import Activation, Dense, Dropout, Flatten, Identity, Reshape
from .embedding import Embedding
from .input_layer import Input, InputLayer  # noqa: F401
from .merging import (  # noqa: F401  (add ... concatenate: Keras's functional shortcuts)
    Add,
    Average,
    Concatenate,
    Maximum,
    Merge,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .normalization import BatchNormalization, LayerNormalization
from .op_layers import OPERATION_LAYERS, LayerScale, OperationLayer  # noqa: F401
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
from .preprocessing import Normalization, Rescaling
from .regularization import SpatialDropout1D, SpatialDropout2D, SpatialDropout3D
from .reshaping import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    Permute,
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
        Rescaling, Normalization, LayerNormalization, Embedding, Identity, Permute,
        SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
    )
}  # fmt: skip


# Keras classes that configs name under a module other than keras.layers, each
# rebuilt by an npconv class: (module, class_name) -> class. This is the whole
# list: a config naming any other module is refused, and no module named in a
# config is ever imported.
KERAS_OPERATIONS = {
    **{(cls.keras_module, cls.keras_class_name): cls for cls in OPERATION_LAYERS},
    (LayerScale.keras_module, "LayerScale"): LayerScale,
}
_LAYERS_MODULES = (None, "keras.layers")

# The model classes a config can name, by class name ("Functional", "Model", "Sequential").
# npconv.models adds its classes here when it loads, so layers, nested models and
# npconv.saving rebuild models from this table without importing npconv.models.
MODEL_CLASSES = {}


def serialize(layer):
    """A layer as a Keras-style config dict, under the module and class name Keras uses for it.

    Args:
        layer: an npconv layer; its module is ``keras.layers``, or its entry in
            ``KERAS_OPERATIONS`` for a layer Keras keeps elsewhere.

    Returns:
        ``{"module", "class_name", "config", "registered_name"}``, which
        :func:`deserialize` reads back.
    """
    cls = type(layer)
    module = getattr(cls, "keras_module", "keras.layers")
    class_name = getattr(cls, "keras_class_name", None) or cls.__name__
    return {
        "module": module,
        "class_name": class_name,
        "config": layer.get_config(),
        "registered_name": None if module == "keras.layers" else class_name,
    }


def deserialize(config):
    """A layer or a model from ``serialize``'s dict (or Keras's).

    Only npconv's own classes are built: a model by its class name in
    ``MODEL_CLASSES``, a layer by ``(module, class_name)``.

    Args:
        config: a dict with ``"class_name"`` and ``"config"`` (and, for a layer
            that is not in ``keras.layers``, the ``"module"`` Keras writes).

    Returns:
        A new, unbuilt layer, or a model built from its own config.
    """
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise _invalid_layer_config(config)
    module, class_name = config.get("module"), config["class_name"]
    if class_name in MODEL_CLASSES:
        cls = MODEL_CLASSES[class_name]
    elif (module, class_name) in KERAS_OPERATIONS:
        cls = KERAS_OPERATIONS[(module, class_name)]
    elif module in _LAYERS_MODULES and class_name in _CLASSES:
        cls = _CLASSES[class_name]
    elif module in _LAYERS_MODULES:
        raise ValueError(f"Unknown layer class_name={class_name!r}. npconv knows {sorted(_CLASSES)}.")
    else:
        known = sorted(f"{m}.{c}" for m, c in KERAS_OPERATIONS)
        raise ValueError(
            f"Unknown layer module={module!r}, class_name={class_name!r}. npconv builds layers of "
            f"'keras.layers' ({len(_CLASSES)} classes) and these operations only: {known}. "
            f"Modules named in a config are never imported."
        )
    arguments = config.get("config", {})
    if not isinstance(arguments, dict):
        raise _invalid_layer_config(config)
    return cls.from_config(arguments)


def _invalid_layer_config(config):
    return invalid("config", "a dict with 'class_name' and 'config'", config, error=TypeError)
