"""Pooling layers: Max/AveragePooling1D/2D/3D and Global Max/AveragePooling1D/2D/3D.

The windowed layers take their output lengths and pads from
:mod:`npconv.geometry` (a pooling window is a conv window with dilation 1),
describe the call as a :class:`~npconv.ops.spec.PoolSpec`, and run it through
the kernel seam (:func:`npconv.ops.kernels.pool_forward` and
:func:`~npconv.ops.kernels.pool_backward`), on oneDNN or numpy. 'same'
follows TensorFlow's SAME rule: max pooling never picks a pad, and average
pooling divides by the number of real pixels in each window.

The global layers are one NumPy reduction over the spatial axes each way;
see :class:`BaseGlobalPooling` for why they do not go through the seam.

Inside, arrays are channels_last: x: (batch, *spatial, channels).
"""

from __future__ import annotations

import numpy as np

from .. import geometry
from ..arguments import invalid, standardize_data_format, standardize_tuple
from ..ops import kernels
from ..ops.spec import make_pool_spec
from .core import SpatialLayer, check_bool

_PADDINGS = ("valid", "same")


def pooling_geometry(input_size, pool_size, strides, padding):
    """(pads, output_size) per spatial dimension, from :mod:`npconv.geometry`
    (a pooling window is a conv window with dilation 1); both are None where
    the input length is None."""
    pads = tuple(geometry.conv_padding(n, k, s, padding) for n, k, s in zip(input_size, pool_size, strides))
    output_size = tuple(
        geometry.conv_output_length(n, k, s, padding) for n, k, s in zip(input_size, pool_size, strides)
    )
    if any(o is not None and o <= 0 for o in output_size):
        raise ValueError(
            f"Computed output size would be zero or negative: output_size={list(output_size)} "
            f"for input_size={list(input_size)}, pool_size={list(pool_size)}, "
            f"strides={list(strides)}, padding={padding!r}. Use a larger input, a smaller "
            f"pool_size, or padding='same'."
        )
    return pads, output_size


# --------------------------------------------------------------------------
# windowed pooling layers
# --------------------------------------------------------------------------
class BasePooling(SpatialLayer):
    """Max or average pooling of rank 1, 2 or 3 (the base of the six windowed
    pooling layers). ``strides`` defaults to ``pool_size``."""

    pool_mode = None  # "max" or "avg": the kernels' PoolSpec.kind

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = standardize_tuple(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else standardize_tuple(strides, self.rank, "strides")
        if not isinstance(padding, str) or padding.lower() not in _PADDINGS:
            raise invalid("padding", "'valid' or 'same'", padding)
        self.padding = padding.lower()
        self.data_format = standardize_data_format(data_format)
        self._last = None

    def _geometry(self, spatial):
        return pooling_geometry(spatial, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        spatial, channels = self._split_shape(input_shape)
        _, output_size = self._geometry(spatial)
        return self._join_shape(tuple(input_shape)[0], output_size, channels)

    def call(self, x, training=False):
        x = self.to_channels_last(x)
        pads, _ = self._geometry(x.shape[1:-1])
        spec = make_pool_spec(
            self.pool_mode,
            x.shape,
            self.pool_size,
            self.strides,
            pads,
            x.dtype.name,
            channels_first=self.data_format == "channels_first",
            training=bool(training),
        )
        keep = {}  # what backward needs, kept after any call (a gradient check calls backward after inference)
        y = kernels.pool_forward(spec, x, keep)
        self._last = (spec, keep)
        return self.from_channels_last(y)

    def backward(self, dy, input_grad=True):
        """dx of the last call: see :func:`npconv.ops.kernels.pool_backward`."""
        spec, keep = self._last
        dy = self.to_channels_last(np.asarray(dy, dtype=spec.dtype))
        return self.from_channels_last(kernels.pool_backward(spec, dy, keep))

    def get_config(self):
        config = super().get_config()
        config.update(
            pool_size=self.pool_size, padding=self.padding, strides=self.strides, data_format=self.data_format
        )
        return config


_WINDOWED_ARGS = """
    Args:
        pool_size: int or tuple of {ints}, the window size{default}.
        strides: int, tuple of {ints}, or None (the default: ``pool_size``),
            how far the window moves between outputs.
        padding: ``"valid"`` (windows stay inside the input) or ``"same"``
            (the output length is ceil(input length / stride); TensorFlow's
            SAME pads, the odd pixel after). {padding}
        data_format: ``"channels_last"`` (batch, {spatial}, channels) or
            ``"channels_first"`` (batch, channels, {spatial}); None means channels_last.
        name: the layer's name; other keyword arguments are Keras's (``dtype``, ...).

    Input shape: (batch, {spatial}, channels), or (batch, channels, {spatial}).
    Output shape: the same, each spatial length becoming
    ``floor((n - pool_size) / strides) + 1`` ("valid") or ``ceil(n / strides)`` ("same").
"""
_INTS = {1: "1 int", 2: "2 ints", 3: "3 ints"}
_SPATIAL = {1: "steps", 2: "rows, cols", 3: "dim1, dim2, dim3"}
_DEFAULTS = {1: " (default 2)", 2: " (default (2, 2))", 3: " (default (2, 2, 2))"}
_PADDING_NOTE = {
    "max": "The pads never win a maximum.",
    "avg": "Each window is averaged over its real pixels only (the pads are not counted).",
}


def _windowed_doc(summary, mode, rank, example):
    default = _DEFAULTS[rank] if mode == "max" else ""
    args = _WINDOWED_ARGS.format(ints=_INTS[rank], default=default, spatial=_SPATIAL[rank], padding=_PADDING_NOTE[mode])
    return summary.rstrip() + "\n" + args + "\n    Example:\n\n" + example


_MAX_NOTE = """
    A window holding a NaN gives NaN, and one whose real pixels are all -inf
    gives -inf (as Keras on JAX and torch; TensorFlow skips NaN and gives the
    lowest finite float). The gradient of each window goes to its first
    maximum in row-major order (its first NaN, if any).
"""


class MaxPooling1D(BasePooling):
    __doc__ = _windowed_doc(
        "Max pooling over steps: the largest value in each window, per channel.\n" + _MAX_NOTE,
        "max",
        1,
        """    >>> import numpy as np
    >>> from npconv.layers import MaxPooling1D
    >>> x = np.array([1.0, 3.0, 2.0, 5.0, 4.0]).reshape(1, 5, 1)
    >>> MaxPooling1D(pool_size=2, strides=1)(x)[0, :, 0].tolist()
    [3.0, 3.0, 5.0, 5.0]
    >>> MaxPooling1D(pool_size=2, padding="same")(x)[0, :, 0].tolist()
    [3.0, 5.0, 4.0]
""",
    )
    rank, pool_mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling2D(BasePooling):
    __doc__ = _windowed_doc(
        "Max pooling over rows and columns: the largest value in each window, per channel.\n" + _MAX_NOTE,
        "max",
        2,
        """    >>> import numpy as np
    >>> from npconv.layers import MaxPooling2D
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> MaxPooling2D(pool_size=(2, 2))(x)[0, :, :, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
""",
    )
    rank, pool_mode = 2, "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling3D(BasePooling):
    __doc__ = _windowed_doc(
        "Max pooling over three spatial dimensions: the largest value in each window, per channel.\n" + _MAX_NOTE,
        "max",
        3,
        """    >>> import numpy as np
    >>> from npconv.layers import MaxPooling3D
    >>> x = np.arange(27.0).reshape(1, 3, 3, 3, 1)
    >>> MaxPooling3D(pool_size=2, padding="same")(x)[0, :, :, :, 0].tolist()
    [[[13.0, 14.0], [16.0, 17.0]], [[22.0, 23.0], [25.0, 26.0]]]
""",
    )
    rank, pool_mode = 3, "max"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling1D(BasePooling):
    __doc__ = _windowed_doc(
        "Average pooling over steps: the mean of each window, per channel.\n",
        "avg",
        1,
        """    >>> import numpy as np
    >>> from npconv.layers import AveragePooling1D
    >>> x = np.array([1.0, 3.0, 2.0, 6.0, 4.0]).reshape(1, 5, 1)
    >>> AveragePooling1D(pool_size=2)(x)[0, :, 0].tolist()
    [2.0, 4.0]
    >>> AveragePooling1D(pool_size=2, padding="same")(x)[0, :, 0].tolist()  # the last window has one pixel
    [2.0, 4.0, 4.0]
""",
    )
    rank, pool_mode = 1, "avg"


class AveragePooling2D(BasePooling):
    __doc__ = _windowed_doc(
        "Average pooling over rows and columns: the mean of each window, per channel.\n",
        "avg",
        2,
        """    >>> import numpy as np
    >>> from npconv.layers import AveragePooling2D
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> AveragePooling2D(pool_size=(2, 2))(x)[0, :, :, 0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
""",
    )
    rank, pool_mode = 2, "avg"


class AveragePooling3D(BasePooling):
    __doc__ = _windowed_doc(
        "Average pooling over three spatial dimensions: the mean of each window, per channel.\n",
        "avg",
        3,
        """    >>> import numpy as np
    >>> from npconv.layers import AveragePooling3D
    >>> x = np.arange(8.0).reshape(1, 2, 2, 2, 1)
    >>> AveragePooling3D(pool_size=2)(x)[0, :, :, :, 0].tolist()
    [[[3.5]]]
""",
    )
    rank, pool_mode = 3, "avg"


# --------------------------------------------------------------------------
# global pooling
# --------------------------------------------------------------------------
class BaseGlobalPooling(SpatialLayer):
    """Mean or max over every spatial axis: (batch, channels), or with
    ``keepdims`` (batch, 1, ..., channels).

    These stay one NumPy reduction (``x.mean`` or ``x.max`` over the spatial
    axes) rather than a pooling spec whose window is the whole input: that
    reduction already reads x once, and the backward pass is a broadcast.
    Global max pooling also splits the gradient evenly between tied maxima
    (TensorFlow's ``reduce_max`` gradient, which Keras uses), where windowed
    max pooling gives it to the first, so the seam's backward pass does not fit it.
    """

    pool_mode = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = check_bool(keepdims, "keepdims")
        self._cache = None

    def _axes(self):
        start = 1 if self.data_format == "channels_last" else 2
        return tuple(range(start, start + self.rank))

    def compute_output_shape(self, input_shape):
        _, channels = self._split_shape(input_shape)
        batch = tuple(input_shape)[0]
        if self.keepdims:
            return self._join_shape(batch, (1,) * self.rank, channels)
        return (batch, channels)

    def call(self, x, training=False):
        axes = self._axes()
        if self.pool_mode == "average":
            y = x.mean(axis=axes, keepdims=True)
            self._cache = (x.shape, None)
        else:
            y = x.max(axis=axes, keepdims=True)
            winners = x == y
            self._cache = (x.shape, winners / winners.sum(axis=axes, keepdims=True))
        return y if self.keepdims else y.reshape(y.shape[0], -1)

    def backward(self, dy, input_grad=True):
        """Average: dy / pixels everywhere. Max: dy split evenly between tied maxima."""
        x_shape, share = self._cache
        axes = self._axes()
        keep_shape = tuple(1 if i in axes else n for i, n in enumerate(x_shape))
        dy = np.reshape(dy, keep_shape)
        if share is None:
            pixels = int(np.prod([x_shape[i] for i in axes]))
            return np.broadcast_to(dy / pixels, x_shape).astype(dy.dtype)
        return (dy * share).astype(dy.dtype, copy=False)

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


_GLOBAL_DOC = """Global {what} pooling over {over}: one value per channel.
{note}
    Args:
        data_format: ``"channels_last"`` (batch, {spatial}, channels) or
            ``"channels_first"`` (batch, channels, {spatial}); None means channels_last.
        keepdims: whether to keep the spatial axes, each of length 1.
        name: the layer's name; other keyword arguments are Keras's (``dtype``, ...).

    Input shape: (batch, {spatial}, channels), or (batch, channels, {spatial}).
    Output shape: (batch, channels); with ``keepdims``, the input's rank with
    every spatial length 1.

    Example:

    >>> import numpy as np
    >>> from npconv.layers import {name}
{example}"""
_MEAN_NOTE = ""
_GLOBAL_MAX_NOTE = """
    A NaN anywhere gives NaN. The gradient is split evenly between tied maxima,
    as Keras computes it on TensorFlow.
"""


def _global_doc(name, what, rank, example):
    over = {1: "steps", 2: "rows and columns", 3: "three spatial dimensions"}[rank]
    note = _GLOBAL_MAX_NOTE if what == "max" else _MEAN_NOTE
    return _GLOBAL_DOC.format(what=what, over=over, note=note, spatial=_SPATIAL[rank], name=name, example=example)


class GlobalAveragePooling1D(BaseGlobalPooling):
    __doc__ = _global_doc(
        "GlobalAveragePooling1D",
        "average",
        1,
        """    >>> x = np.array([[[1.0, 10.0], [2.0, 20.0], [6.0, 60.0]]])  # (batch, steps, channels)
    >>> GlobalAveragePooling1D()(x).tolist()
    [[3.0, 30.0]]
""",
    )
    rank, pool_mode = 1, "average"


class GlobalAveragePooling2D(BaseGlobalPooling):
    __doc__ = _global_doc(
        "GlobalAveragePooling2D",
        "average",
        2,
        """    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)
    >>> GlobalAveragePooling2D()(x).tolist()
    [[3.0, 4.0]]
    >>> GlobalAveragePooling2D(keepdims=True)(x).shape
    (1, 1, 1, 2)
""",
    )
    rank, pool_mode = 2, "average"


class GlobalAveragePooling3D(BaseGlobalPooling):
    __doc__ = _global_doc(
        "GlobalAveragePooling3D",
        "average",
        3,
        """    >>> x = np.arange(8.0).reshape(1, 2, 2, 2, 1)
    >>> GlobalAveragePooling3D()(x).tolist()
    [[3.5]]
""",
    )
    rank, pool_mode = 3, "average"


class GlobalMaxPooling1D(BaseGlobalPooling):
    __doc__ = _global_doc(
        "GlobalMaxPooling1D",
        "max",
        1,
        """    >>> x = np.array([[[1.0, 10.0], [5.0, 20.0], [2.0, 60.0]]])  # (batch, steps, channels)
    >>> GlobalMaxPooling1D()(x).tolist()
    [[5.0, 60.0]]
""",
    )
    rank, pool_mode = 1, "max"


class GlobalMaxPooling2D(BaseGlobalPooling):
    __doc__ = _global_doc(
        "GlobalMaxPooling2D",
        "max",
        2,
        """    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)
    >>> GlobalMaxPooling2D()(x).tolist()
    [[6.0, 7.0]]
    >>> GlobalMaxPooling2D(data_format="channels_first", keepdims=True)(x).shape
    (1, 2, 1, 1)
""",
    )
    rank, pool_mode = 2, "max"


class GlobalMaxPooling3D(BaseGlobalPooling):
    __doc__ = _global_doc(
        "GlobalMaxPooling3D",
        "max",
        3,
        """    >>> x = np.arange(8.0).reshape(1, 2, 2, 2, 1)
    >>> GlobalMaxPooling3D()(x).tolist()
    [[7.0]]
""",
    )
    rank, pool_mode = 3, "max"


# Keras's short aliases.
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
)
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
