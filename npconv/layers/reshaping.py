"""Reshaping layers: ZeroPadding, Cropping and UpSampling in 1D, 2D and 3D, and Permute.

Padding and cropping are each other's adjoint: the backward pass of one is the
forward pass of the other. Nearest upsampling repeats pixels and its backward
sums each block; bilinear upsampling (2D) is a matrix per axis, with
TensorFlow's half-pixel centres, and its backward applies the transposes.

Inside, arrays are channels_last: x: (batch, *spatial, channels).
"""

from __future__ import annotations

import numbers

import numpy as np

from ..arguments import invalid, standardize_data_format, standardize_int, standardize_tuple
from .base import Layer
from .core import SpatialLayer


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def standardize_pairs(value, rank, name):
    """An int, ``rank`` ints or ``rank`` (before, after) pairs, all >= 0, as
    a tuple of ``rank`` pairs."""
    expected = f"a non-negative int, a tuple of {rank} non-negative ints, or a tuple of {rank} (before, after) pairs"
    if _is_int(value):
        if value < 0:
            raise invalid(name, expected, value)
        return ((int(value), int(value)),) * rank
    if isinstance(value, str) or not hasattr(value, "__len__"):
        raise invalid(name, expected, value, error=TypeError)
    if len(value) != rank:
        raise invalid(name, expected, value)
    pairs = []
    for item in value:
        if _is_int(item):
            item = (item, item)
        if isinstance(item, str) or not hasattr(item, "__len__"):
            raise invalid(name, expected, value, error=TypeError)
        if len(item) != 2:
            raise invalid(name, expected, value)
        if not all(_is_int(v) for v in item):
            raise invalid(name, expected, value, error=TypeError)
        if min(item) < 0:
            raise invalid(name, expected, value)
        pairs.append((int(item[0]), int(item[1])))
    return tuple(pairs)


# --------------------------------------------------------------------------
# ZeroPadding and Cropping
# --------------------------------------------------------------------------
def pad_zeros(x, pads):
    """x: (batch, *spatial, channels) padded by ``pads`` (before, after) per spatial axis."""
    return np.pad(x, [(0, 0), *pads, (0, 0)])


def crop(x, crops):
    """x: (batch, *spatial, channels) with ``crops`` (before, after) removed per spatial axis."""
    return x[(slice(None), *[slice(b, n - a) for n, (b, a) in zip(x.shape[1:-1], crops)])]


class BaseZeroPadding(SpatialLayer):
    """Adds rows of zeros before and after each spatial axis."""

    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self._pads = standardize_pairs(padding, self.rank, "padding")
        self.padding = self._pads[0] if self.rank == 1 else self._pads

    def compute_output_shape(self, input_shape):
        spatial, channels = self._split_shape(input_shape)
        size = [None if n is None else n + b + a for n, (b, a) in zip(spatial, self._pads)]
        return self._join_shape(tuple(input_shape)[0], size, channels)

    def call(self, x, training=False):
        return self.from_channels_last(pad_zeros(self.to_channels_last(x), self._pads))

    def backward(self, dy, input_grad=True):
        return self.from_channels_last(np.ascontiguousarray(crop(self.to_channels_last(np.asarray(dy)), self._pads)))

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding, data_format=self.data_format)
        return config


class ZeroPadding1D(BaseZeroPadding):
    """Pads a sequence with zeros before and after its steps, as ``keras.layers.ZeroPadding1D``.

    Args:
        padding: an int (both sides) or ``(before, after)``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> npconv.layers.ZeroPadding1D((1, 2)).compute_output_shape((None, 5, 3))
        (None, 8, 3)
    """

    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        if not _is_int(padding):
            padding = (standardize_tuple(padding, 2, "padding", minimum=0),)
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding2D(BaseZeroPadding):
    """Pads images with zeros around their rows and columns, as ``keras.layers.ZeroPadding2D``.

    Args:
        padding: an int (every side), ``(rows, cols)`` (symmetric per axis) or
            ``((top, bottom), (left, right))``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> npconv.layers.ZeroPadding2D(((0, 1), (2, 2))).compute_output_shape((None, 5, 5, 3))
        (None, 6, 9, 3)
    """

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(BaseZeroPadding):
    """Pads volumes with zeros before and after each of their 3 spatial axes, as ``keras.layers.ZeroPadding3D``.

    Args:
        padding: an int (every side), 3 ints (symmetric per axis) or 3
            ``(before, after)`` pairs.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
    """

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class BaseCropping(SpatialLayer):
    """Removes pixels before and after each spatial axis; at least one must remain."""

    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self._crops = standardize_pairs(cropping, self.rank, "cropping")
        self.cropping = self._crops[0] if self.rank == 1 else self._crops

    def _cropped_size(self, spatial):
        size = [None if n is None else n - b - a for n, (b, a) in zip(spatial, self._crops)]
        if any(m is not None and m <= 0 for m in size):
            raise invalid(
                "cropping",
                f"amounts smaller than the input's spatial size {list(spatial)} on every axis",
                self.cropping,
                "Crop less, or use a larger input.",
            )
        return size

    def compute_output_shape(self, input_shape):
        spatial, channels = self._split_shape(input_shape)
        return self._join_shape(tuple(input_shape)[0], self._cropped_size(spatial), channels)

    def call(self, x, training=False):
        x = self.to_channels_last(x)
        self._cropped_size(x.shape[1:-1])
        return self.from_channels_last(np.ascontiguousarray(crop(x, self._crops)))

    def backward(self, dy, input_grad=True):
        return self.from_channels_last(pad_zeros(self.to_channels_last(np.asarray(dy)), self._crops))

    def get_config(self):
        config = super().get_config()
        config["cropping"] = self.cropping
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


class Cropping1D(BaseCropping):
    """Removes steps from the start and end of a sequence, as ``keras.layers.Cropping1D``.

    Inputs are ``(batch, steps, channels)``; as in Keras there is no ``data_format``.

    Args:
        cropping: an int (both ends) or ``(before, after)``.
    """

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        if not _is_int(cropping):
            cropping = (standardize_tuple(cropping, 2, "cropping", minimum=0),)
        super().__init__(cropping, None, **kwargs)


class Cropping2D(BaseCropping):
    """Removes rows and columns from the edges of images, as ``keras.layers.Cropping2D``.

    Args:
        cropping: an int (every side), ``(rows, cols)`` (symmetric per axis) or
            ``((top, bottom), (left, right))``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> npconv.layers.Cropping2D(((1, 0), (2, 2))).compute_output_shape((None, 8, 8, 3))
        (None, 7, 4, 3)
    """

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(BaseCropping):
    """Removes pixels from the edges of volumes along their 3 spatial axes, as ``keras.layers.Cropping3D``.

    Args:
        cropping: an int (every side), 3 ints (symmetric per axis) or 3
            ``(before, after)`` pairs.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
    """

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


# --------------------------------------------------------------------------
# UpSampling
# --------------------------------------------------------------------------
def upsample_nearest(x, size):
    """Each pixel of x: (batch, *spatial, channels) repeated size[i] times along axis i."""
    batch, *spatial, channels = x.shape
    expanded = [batch]
    for n in spatial:
        expanded += [n, 1]
    blocks = x.reshape(*expanded, channels)
    target = [batch]
    for n, factor in zip(spatial, size):
        target += [n, factor]
    out = [n * factor for n, factor in zip(spatial, size)]
    return np.broadcast_to(blocks, (*target, channels)).reshape(batch, *out, channels)


def upsample_nearest_backward(dy, size):
    """The sum of dy over each size[0] x size[1] x ... block."""
    batch, *spatial, channels = dy.shape
    split = [batch]
    for n, factor in zip(spatial, size):
        split += [n // factor, factor]
    blocks = dy.reshape(*split, channels)
    return blocks.sum(axis=tuple(range(2, 2 * len(size) + 1, 2)))


def bilinear_matrix(input_length, factor, dtype="float64"):
    """(input_length * factor, input_length) weights of TensorFlow's bilinear
    resize with half-pixel centres: output pixel o samples the input at
    (o + 0.5) / factor - 0.5, clamped to the edge pixels."""
    output_length = input_length * factor
    source = (np.arange(output_length) + 0.5) * (input_length / output_length) - 0.5
    floor = np.floor(source)
    lerp = source - floor
    lower = np.clip(floor.astype(int), 0, input_length - 1)
    upper = np.clip(np.ceil(source).astype(int), 0, input_length - 1)
    matrix = np.zeros((output_length, input_length), dtype=dtype)
    rows = np.arange(output_length)
    np.add.at(matrix, (rows, lower), 1 - lerp)
    np.add.at(matrix, (rows, upper), lerp)
    return matrix


def _along_rows(matrix, x):
    """matrix: (m, n) applied to axis 1 of x: (batch, n, width, channels)."""
    batch, n, width, channels = x.shape
    return (matrix @ x.reshape(batch, n, width * channels)).reshape(batch, -1, width, channels)


def _along_cols(matrix, x):
    """matrix: (m, n) applied to axis 2 of x: (batch, height, n, channels)."""
    batch, height, n, channels = x.shape
    return (matrix @ x.reshape(batch * height, n, channels)).reshape(batch, height, -1, channels)


def upsample_bilinear(x, size):
    """x: (batch, height, width, channels) resized bilinearly by integer factors:
    one interpolation matrix per axis."""
    rows = bilinear_matrix(x.shape[1], size[0], x.dtype)
    cols = bilinear_matrix(x.shape[2], size[1], x.dtype)
    return _along_cols(cols, _along_rows(rows, x))


def upsample_bilinear_backward(dy, size):
    """The transposes of the forward matrices, applied to dy."""
    rows = bilinear_matrix(dy.shape[1] // size[0], size[0], dy.dtype)
    cols = bilinear_matrix(dy.shape[2] // size[1], size[1], dy.dtype)
    return _along_rows(rows.T, _along_cols(cols.T, dy))


_INTERPOLATIONS = ("nearest", "bilinear")


class BaseUpSampling(SpatialLayer):
    """Repeats (or interpolates) each spatial axis by an integer factor."""

    interpolation = "nearest"

    def _init_size(self, size, data_format):
        self.data_format = standardize_data_format(data_format)
        self.size = standardize_tuple(size, self.rank, "size")
        self._size = self.size

    def compute_output_shape(self, input_shape):
        spatial, channels = self._split_shape(input_shape)
        out = [None if n is None else n * f for n, f in zip(spatial, self._size)]
        return self._join_shape(tuple(input_shape)[0], out, channels)

    def call(self, x, training=False):
        x = self.to_channels_last(x)
        if self.interpolation == "bilinear":
            y = upsample_bilinear(x, self._size)
        else:
            y = upsample_nearest(x, self._size)
        return self.from_channels_last(y)

    def backward(self, dy, input_grad=True):
        dy = self.to_channels_last(np.asarray(dy))
        if self.interpolation == "bilinear":
            dx = upsample_bilinear_backward(dy, self._size)
        else:
            dx = upsample_nearest_backward(dy, self._size)
        return self.from_channels_last(dx)


class UpSampling1D(BaseUpSampling):
    """Repeats each step of a sequence ``size`` times, as ``keras.layers.UpSampling1D``.

    Inputs are ``(batch, steps, features)``; as in Keras there is no ``data_format``.

    Args:
        size: how many times each step is repeated.
    """

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = standardize_int(size, "size")
        self._size = (self.size,)

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config


class UpSampling2D(BaseUpSampling):
    """Enlarges images by whole factors along rows and columns, as ``keras.layers.UpSampling2D``.

    Args:
        size: an int or ``(rows, cols)``, the factor along each axis.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        interpolation: ``"nearest"`` (each pixel repeated) or ``"bilinear"``
            (TensorFlow's half-pixel bilinear resize, which Keras uses).

    Example:
        >>> npconv.layers.UpSampling2D((2, 3)).compute_output_shape((None, 4, 4, 3))
        (None, 8, 12, 3)
    """

    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self._init_size(size, data_format)
        if not isinstance(interpolation, str) or interpolation.lower() not in _INTERPOLATIONS:
            raise invalid(
                "interpolation",
                f"one of {list(_INTERPOLATIONS)}",
                interpolation,
                "npconv implements nearest and bilinear upsampling only.",
            )
        self.interpolation = interpolation.lower()

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, data_format=self.data_format, interpolation=self.interpolation)
        return config


class UpSampling3D(BaseUpSampling):
    """Enlarges volumes by repeating each voxel, as ``keras.layers.UpSampling3D`` (nearest only).

    Args:
        size: an int or 3 ints, the factor along each spatial axis.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
    """

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self._init_size(size, data_format)

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, data_format=self.data_format)
        return config


# --------------------------------------------------------------------------
# Permute
# --------------------------------------------------------------------------
class Permute(Layer):
    """Reorders the axes after the batch: ``Permute((2, 1))`` turns
    (batch, steps, features) into (batch, features, steps).

    Args:
        dims: a permutation of 1..n (1 is the first axis after the batch).
        **kwargs: base layer arguments (name, dtype, trainable).

    Input: (batch, d1, ..., dn). Output: (batch, d[dims[0]], ..., d[dims[-1]]).
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        expected = "a permutation of the ints 1..n (axis 0, the batch, stays first)"
        try:
            dims = tuple(dims)
        except TypeError:
            raise invalid("dims", expected, dims, error=TypeError) from None
        if not all(_is_int(d) for d in dims):
            raise invalid("dims", expected, dims, error=TypeError)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise invalid("dims", expected, dims)
        self.dims = tuple(int(d) for d in dims)

    def _check_rank(self, shape):
        if len(shape) != len(self.dims) + 1:
            raise invalid(
                "inputs", f"an array of rank {len(self.dims) + 1} for dims={self.dims}", f"shape {tuple(shape)}"
            )

    def call(self, x, training=False):
        self._check_rank(x.shape)
        return np.transpose(x, (0, *self.dims))

    def backward(self, dy, input_grad=True):
        return np.transpose(np.asarray(dy), np.argsort((0, *self.dims)))

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        self._check_rank(shape)
        return (shape[0], *[shape[d] for d in self.dims])

    def get_config(self):
        config = super().get_config()
        config["dims"] = self.dims
        return config
