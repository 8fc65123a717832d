"""Functional convolution ops with the signatures of their ``keras.ops`` namesakes.

Beyond Keras, ``padding`` also takes 'full', an int, per-dimension ints or
(before, after) pairs, and strides may be combined with dilation_rate.
"""

from __future__ import annotations

import numpy as np

from ..arguments import (
    invalid,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
)
from .convolution import (
    conv_nd,
    conv_transpose_nd,
    depthwise_conv_nd,
    from_channels_last,
    separable_conv_nd,
    to_channels_last,
)
from .registry import get_algorithm, record, set_algorithm  # force an algorithm: docs/performance.md

__all__ = [
    "conv",
    "conv_transpose",
    "depthwise_conv",
    "separable_conv",
    "as_float_array",
    "get_algorithm",
    "record",
    "set_algorithm",
]

_FLOAT_KINDS = "fiub"


def as_float_array(value, name, dtype=None):
    """``value`` as a floating ndarray; ints and bools are cast, other kinds rejected.

    Args:
        value: an array or array-like.
        name: the argument's name, for the TypeError a non-numeric value raises.
        dtype: the float dtype wanted; None keeps a float input's own and
            casts other kinds to float32.
    """
    array = np.asarray(value)
    if array.dtype.kind not in _FLOAT_KINDS:
        raise invalid(
            name,
            "a real-valued numeric array (float, int or bool)",
            f"array of dtype {array.dtype}",
            "Convert it with np.asarray(x, dtype='float32').",
            error=TypeError,
        )
    if dtype is not None:
        return array.astype(dtype, copy=False)
    return array if array.dtype.kind == "f" else array.astype("float32")


def _prepare(inputs, kernel, strides, padding, data_format, dilation_rate, min_rank=1):
    kernel = as_float_array(kernel, "kernel")
    rank = kernel.ndim - 2
    if rank < min_rank:
        raise invalid("kernel", "an array of rank >= 3: (*kernel_size, in, out)", f"shape {kernel.shape}")
    x = as_float_array(inputs, "inputs")
    if x.ndim != rank + 2:
        raise invalid(
            "inputs",
            f"an array of rank {rank + 2} (batch, *spatial, channels) for a kernel of rank {kernel.ndim}",
            f"shape {x.shape}",
        )
    data_format = standardize_data_format(data_format)
    x = to_channels_last(x, data_format)
    strides = standardize_tuple(strides, rank, "strides")
    dilation = standardize_tuple(dilation_rate, rank, "dilation_rate")
    padding = standardize_padding(padding, rank, allow_causal=rank == 1)
    return x, kernel, rank, strides, padding, dilation, data_format


def _check_channels(x, expected, argument="kernel"):
    if x.shape[-1] != expected:
        raise ValueError(
            f"The input has {x.shape[-1]} channels but `{argument}` expects "
            f"{expected}. Check data_format and the kernel layout."
        )


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-d convolution, as ``keras.ops.conv``.

    The number of groups is ``in_channels / kernel.shape[-2]``, as in Keras.

    Args:
        inputs: ``(batch, *spatial, channels)`` (channels_last) or
            ``(batch, channels, *spatial)``; the rank of ``spatial`` (1 to 3)
            comes from the kernel.
        kernel: ``(*kernel_size, in_channels / groups, filters)``.
        strides: an int or one int per spatial axis.
        padding: ``"valid"``, ``"same"``, ``"full"``, an int, one int per
            axis, or one ``(before, after)`` pair per axis.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        dilation_rate: an int or one int per spatial axis; beyond Keras, it
            may be combined with strides above 1.

    Returns:
        ``(batch, *output_spatial, filters)`` in ``data_format``'s layout.

    Example:
        >>> x, kernel = np.ones((1, 5, 5, 1)), np.ones((3, 3, 1, 1))
        >>> conv(x, kernel, strides=2, padding="same")[0, :, :, 0]
        array([[4., 6., 4.],
               [6., 9., 6.],
               [4., 6., 4.]])
    """
    x, kernel, _, strides, padding, dilation, data_format = _prepare(
        inputs, kernel, strides, padding, data_format, dilation_rate
    )
    channels, per_group, filters = x.shape[-1], kernel.shape[-2], kernel.shape[-1]
    if per_group == 0 or channels % per_group or filters % (channels // per_group):
        raise ValueError(
            f"The input has {channels} channels and the kernel has shape "
            f"{kernel.shape}: kernel.shape[-2] must divide the channels, and the "
            f"resulting groups ({channels}/{per_group}) must divide the filters."
        )
    y = conv_nd(x, kernel, strides, padding, dilation, channels // per_group)
    return from_channels_last(y, data_format)


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None, dilation_rate=1):
    """N-d transposed convolution, as ``keras.ops.conv_transpose``.

    Args:
        inputs: ``(batch, *spatial, channels)`` (channels_last) or
            ``(batch, channels, *spatial)``; the rank of ``spatial`` (1 to 3)
            comes from the kernel.
        kernel: ``(*kernel_size, filters, in_channels)``.
        strides: an int or one int per spatial axis.
        padding: ``"valid"``, ``"same"``, ``"full"``, an int, one int per
            axis, or one ``(before, after)`` pair per axis.
        output_padding: None, an int or one int per axis, each below the
            stride: extra output rows, as Keras's ``output_padding``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        dilation_rate: an int or one int per spatial axis; beyond Keras, it
            may be combined with strides above 1.

    Returns:
        ``(batch, *output_spatial, filters)`` in ``data_format``'s layout.
    """
    x, kernel, rank, strides, padding, dilation, data_format = _prepare(
        inputs, kernel, strides, padding, data_format, dilation_rate
    )
    _check_channels(x, kernel.shape[-1])
    output_padding = standardize_output_padding(output_padding, rank, strides, dilation)
    y = conv_transpose_nd(x, kernel, strides, padding, output_padding, dilation)
    return from_channels_last(y, data_format)


def standardize_output_padding(output_padding, rank, strides, dilation):
    """None, or a tuple of ints with 0 <= output_padding < stride (Keras's rule)."""
    output_padding = standardize_tuple(output_padding, rank, "output_padding", minimum=0, allow_none=True)
    if output_padding is not None and any(op >= s for op, s in zip(output_padding, strides)):
        raise invalid(
            "output_padding",
            f"values smaller than strides={list(strides)} in every dimension",
            output_padding,
            "output_padding picks one of the `strides` output lengths that map "
            "to the same input length, so it must be below the stride",
        )
    return output_padding


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Depthwise convolution (each channel on its own), as ``keras.ops.depthwise_conv``.

    Args:
        inputs: ``(batch, *spatial, channels)`` (channels_last) or
            ``(batch, channels, *spatial)``; the rank of ``spatial`` (1 to 3)
            comes from the kernel.
        kernel: ``(*kernel_size, in_channels, depth_multiplier)``.
        strides, padding, data_format, dilation_rate: as in :func:`conv`.

    Returns:
        ``(batch, *output_spatial, in_channels * depth_multiplier)``.
    """
    x, kernel, _, strides, padding, dilation, data_format = _prepare(
        inputs, kernel, strides, padding, data_format, dilation_rate
    )
    _check_channels(x, kernel.shape[-2])
    y = depthwise_conv_nd(x, kernel, strides, padding, dilation)
    return from_channels_last(y, data_format)


def separable_conv(
    inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None, dilation_rate=1
):
    """Depthwise then pointwise (1x1) convolution, as ``keras.ops.separable_conv``.

    Args:
        inputs: ``(batch, *spatial, channels)`` (channels_last) or
            ``(batch, channels, *spatial)``; the rank of ``spatial`` (1 to 3)
            comes from the kernel.
        depthwise_kernel: ``(*kernel_size, in_channels, depth_multiplier)``.
        pointwise_kernel: ``(1, ..., in_channels * depth_multiplier, filters)``.
        strides, padding, data_format, dilation_rate: as in :func:`conv`; the
            depthwise step applies them, the pointwise step has stride 1.

    Returns:
        ``(batch, *output_spatial, filters)``.
    """
    x, depthwise_kernel, _, strides, padding, dilation, data_format = _prepare(
        inputs, depthwise_kernel, strides, padding, data_format, dilation_rate
    )
    _check_channels(x, depthwise_kernel.shape[-2], "depthwise_kernel")
    pointwise_kernel = as_float_array(pointwise_kernel, "pointwise_kernel")
    expected = depthwise_kernel.shape[-2] * depthwise_kernel.shape[-1]
    if pointwise_kernel.shape[-2] != expected:
        raise invalid(
            "pointwise_kernel",
            f"shape (1, ..., {expected}, filters) to match depthwise_kernel",
            f"shape {pointwise_kernel.shape}",
        )
    y = separable_conv_nd(x, depthwise_kernel, pointwise_kernel, strides, padding, dilation)
    return from_channels_last(y, data_format)
