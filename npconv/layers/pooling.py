"""Pooling layers: Max/AveragePooling1D/2D/3D and Global Max/AveragePooling1D/2D/3D.

Output lengths and pads come from :mod:`npconv.geometry` (a pooling window is a
conv window with dilation 1). 'same' follows TensorFlow's SAME rule: max
pooling never picks a pad, and average pooling divides by the number of real
pixels in each window.

Inside, arrays are channels_last: x: (batch, *spatial, channels).
"""

from __future__ import annotations

from itertools import product

import numpy as np

from .. import geometry
from ..arguments import invalid, standardize_data_format, standardize_tuple
from ..ops.kernels import windows
from .core import SpatialLayer, check_bool

_PADDINGS = ("valid", "same")


# --------------------------------------------------------------------------
# geometry and kernels (channels_last)
# --------------------------------------------------------------------------
def pooling_geometry(input_size, pool_size, strides, padding):
    """(pads, output_size) per spatial dimension; output lengths are None where
    the input length is None, and pads then None too."""
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


def _taps(pool_size):
    return product(*[range(k) for k in pool_size])


def _tap_region(tap, output_size, strides):
    """Index of the padded-input pixels that tap ``tap`` reads for every output pixel."""
    return (slice(None), *[slice(t, t + (o - 1) * s + 1, s) for t, o, s in zip(tap, output_size, strides)])


def _crop(dxp, pads):
    return dxp[(slice(None), *[slice(b, dxp.shape[i + 1] - a) for i, (b, a) in enumerate(pads)])]


def _padded_zeros(x_shape, pads, dtype):
    return np.zeros((x_shape[0], *[n + b + a for n, (b, a) in zip(x_shape[1:-1], pads)], x_shape[-1]), dtype)


def max_pool(x, pool_size, strides, pads, output_size):
    """(y, xp): the window maxima and the padded input backward reads them from.

    Pads hold -inf, so they never win. Branch-free: one np.maximum per tap.
    """
    width = [(0, 0), *pads, (0, 0)]
    xp = np.pad(x, width, constant_values=-np.inf) if any(b or a for b, a in pads) else x
    view = windows(xp, pool_size, strides, (1,) * len(pool_size), output_size)
    lead = (slice(None),) * (len(pool_size) + 1)
    taps = list(_taps(pool_size))
    y = view[lead + taps[0]].copy()
    for tap in taps[1:]:
        np.maximum(y, view[lead + tap], out=y)
    return y, xp


def max_pool_backward(dy, y, xp, pool_size, strides, pads):
    """dx: each window's dy routed to the pixel that holds its max, the first
    in row-major scan order on ties (as TensorFlow's MaxPoolGrad)."""
    output_size = dy.shape[1:-1]
    view = windows(xp, pool_size, strides, (1,) * len(pool_size), output_size)
    lead = (slice(None),) * (len(pool_size) + 1)
    dxp = np.zeros(xp.shape, dy.dtype)
    taken = np.zeros(y.shape, dtype=bool)
    disjoint = all(k <= s for k, s in zip(pool_size, strides))  # each pixel in at most one window
    for tap in _taps(pool_size):
        hit = view[lead + tap] == y
        hit &= ~taken
        taken |= hit
        region = dxp[_tap_region(tap, output_size, strides)]
        if disjoint:
            np.multiply(dy, hit, out=region)
        else:
            region += dy * hit
    return _crop(dxp, pads)


def window_counts(input_size, pool_size, strides, pads, output_size):
    """Real (non-pad) pixels in each window, shaped (1, *output_size, 1)."""
    counts = np.ones((1,) * (len(input_size) + 2))
    for axis, (n, k, s, (before, _), o) in enumerate(zip(input_size, pool_size, strides, pads, output_size)):
        start = np.arange(o) * s - before
        real = np.minimum(start + k, n) - np.maximum(start, 0)
        counts = counts * real.reshape([-1 if i == axis + 1 else 1 for i in range(counts.ndim)])
    return counts


def average_pool(x, pool_size, strides, pads, output_size, counts):
    """Window sums over zero pads, divided by ``counts`` (real pixels per window)."""
    rank = len(pool_size)
    xp = np.pad(x, [(0, 0), *pads, (0, 0)]) if any(b or a for b, a in pads) else x
    view = windows(xp, pool_size, strides, (1,) * rank, output_size)
    lead = (slice(None),) * (rank + 1)
    total = np.zeros((x.shape[0], *output_size, x.shape[-1]), dtype=x.dtype)
    for tap in _taps(pool_size):
        total += view[lead + tap]
    return (total / counts).astype(x.dtype, copy=False)


def average_pool_backward(dy, x_shape, pool_size, strides, pads, counts):
    """dx: each window's dy / count spread over its pixels."""
    share = (dy / counts).astype(dy.dtype, copy=False)
    dxp = _padded_zeros(x_shape, pads, dy.dtype)
    for tap in _taps(pool_size):
        dxp[_tap_region(tap, dy.shape[1:-1], strides)] += share
    return _crop(dxp, pads)


# --------------------------------------------------------------------------
# windowed pooling layers
# --------------------------------------------------------------------------
class BasePooling(SpatialLayer):
    """Max or average pooling of rank 1, 2 or 3. ``strides`` defaults to ``pool_size``."""

    pool_mode = None

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = standardize_tuple(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else standardize_tuple(strides, self.rank, "strides")
        if not isinstance(padding, str) or padding.lower() not in _PADDINGS:
            raise invalid("padding", "'valid' or 'same'", padding)
        self.padding = padding.lower()
        self.data_format = standardize_data_format(data_format)
        self._cache = None

    def _geometry(self, spatial):
        return pooling_geometry(spatial, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        spatial, channels = self._split_shape(input_shape)
        _, output_size = self._geometry(spatial)
        return self._join_shape(tuple(input_shape)[0], output_size, channels)

    def call(self, x, training=False):
        x = self.to_channels_last(x)
        pads, output_size = self._geometry(x.shape[1:-1])
        if self.pool_mode == "max":
            y, xp = max_pool(x, self.pool_size, self.strides, pads, output_size)
            self._cache = (x.shape, pads, (y, xp))
        else:
            counts = window_counts(x.shape[1:-1], self.pool_size, self.strides, pads, output_size)
            y = average_pool(x, self.pool_size, self.strides, pads, output_size, counts)
            self._cache = (x.shape, pads, counts)
        return self.from_channels_last(y)

    def backward(self, dy, input_grad=True):
        x_shape, pads, extra = self._cache
        dy = self.to_channels_last(np.asarray(dy))
        if self.pool_mode == "max":
            dx = max_pool_backward(dy, *extra, self.pool_size, self.strides, pads)
        else:
            dx = average_pool_backward(dy, x_shape, self.pool_size, self.strides, pads, extra)
        return self.from_channels_last(dx)

    def get_config(self):
        config = super().get_config()
        config.update(
            pool_size=self.pool_size, padding=self.padding, strides=self.strides, data_format=self.data_format
        )
        return config


class MaxPooling1D(BasePooling):
    rank, pool_mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling2D(BasePooling):
    rank, pool_mode = 2, "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling3D(BasePooling):
    rank, pool_mode = 3, "max"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling1D(BasePooling):
    rank, pool_mode = 1, "average"


class AveragePooling2D(BasePooling):
    rank, pool_mode = 2, "average"


class AveragePooling3D(BasePooling):
    rank, pool_mode = 3, "average"


# --------------------------------------------------------------------------
# global pooling
# --------------------------------------------------------------------------
class BaseGlobalPooling(SpatialLayer):
    """Mean or max over every spatial axis: (batch, channels), or with
    ``keepdims`` (batch, 1, ..., channels)."""

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


class GlobalAveragePooling1D(BaseGlobalPooling):
    rank, pool_mode = 1, "average"


class GlobalAveragePooling2D(BaseGlobalPooling):
    rank, pool_mode = 2, "average"


class GlobalAveragePooling3D(BaseGlobalPooling):
    rank, pool_mode = 3, "average"


class GlobalMaxPooling1D(BaseGlobalPooling):
    rank, pool_mode = 1, "max"


class GlobalMaxPooling2D(BaseGlobalPooling):
    rank, pool_mode = 2, "max"


class GlobalMaxPooling3D(BaseGlobalPooling):
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
