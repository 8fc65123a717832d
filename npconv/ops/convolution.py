"""Convolution ops on arrays: standardised arguments in, geometry asked, kernels run.

``x`` is channels_last here: (batch, *spatial, channels). ``padding`` is
already standardised by :mod:`npconv.arguments`: a mode string or a tuple of
(before, after) pairs.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import geometry
from . import kernels
from .kernels import conv_forward, conv_transpose_forward


def _per_dim(padding, i):
    return padding if isinstance(padding, str) else padding[i]


def conv_pads(input_size, kernel_size, strides, padding, dilation):
    """(before, after) per spatial dimension of a forward conv."""
    return [
        geometry.conv_padding(n, k, s, _per_dim(padding, i), d)
        for i, (n, k, s, d) in enumerate(zip(input_size, kernel_size, strides, dilation))
    ]


def conv_output_size(input_size, kernel_size, strides, padding, dilation):
    """Output spatial size of a forward conv; None stays None. Raises on <= 0."""
    size = tuple(
        geometry.conv_output_length(n, k, s, _per_dim(padding, i), d)
        for i, (n, k, s, d) in enumerate(zip(input_size, kernel_size, strides, dilation))
    )
    check_output_size(size, input_size, kernel_size, padding, dilation)
    return size


def check_output_size(output_size, input_size, kernel_size, padding, dilation, transposed=False):
    if all(o is None or o > 0 for o in output_size):
        return
    if transposed:
        advice = (
            "A transposed conv's explicit pads crop its output: use smaller pads, "
            "a larger input or kernel, or padding='valid'."
        )
    else:
        advice = (
            "The effective kernel ((kernel_size - 1) * dilation_rate + 1) must fit in the "
            "padded input: use a larger input, a smaller kernel or dilation_rate, or padding='same'."
        )
    raise ValueError(
        f"Computed output size would be zero or negative: output_size="
        f"{list(output_size)} for input_size={list(input_size)}, "
        f"kernel_size={list(kernel_size)}, dilation_rate={list(dilation)}, "
        f"padding={padding!r}. {advice}"
    )


def conv_transpose_pads(input_size, kernel_size, strides, padding, output_padding, dilation):
    """(before, after) per dimension, on the zero-inserted input."""
    ops = output_padding or (None,) * len(kernel_size)
    return [
        geometry.conv_transpose_padding(n, k, s, _per_dim(padding, i), op, d)
        for i, (n, k, s, op, d) in enumerate(zip(input_size, kernel_size, strides, ops, dilation))
    ]


def conv_transpose_output_size(input_size, kernel_size, strides, padding, output_padding, dilation):
    ops = output_padding or (None,) * len(kernel_size)
    size = tuple(
        geometry.conv_transpose_output_length(n, k, s, _per_dim(padding, i), op, d)
        for i, (n, k, s, op, d) in enumerate(zip(input_size, kernel_size, strides, ops, dilation))
    )
    check_output_size(size, input_size, kernel_size, padding, dilation, transposed=True)
    return size


def check_padding_mode(input_size, pads, padding_mode):
    """Pads within the mode's limit (geometry.PADDING_MODES): reflect < length, circular <= length."""
    max_pad = geometry.PADDING_MODES[padding_mode].max_pad
    if max_pad is None:
        return
    for axis, (n, (before, after)) in enumerate(zip(input_size, pads)):
        limit = max_pad(n)
        if max(before, after) > limit:
            raise ValueError(
                f"Invalid value for argument `padding_mode`. padding_mode="
                f"{padding_mode!r} can pad at most {limit} pixels on spatial axis "
                f"{axis} of length {n}. Received: pads={[list(p) for p in pads]}. Use a larger "
                f"input, a smaller kernel or padding_mode='zeros'."
            )


@functools.lru_cache(maxsize=1024)
def _forward_pads(input_size, kernel_size, strides, padding, dilation):
    """Checked (before, after) pads of a forward conv, cached per shape."""
    conv_output_size(input_size, kernel_size, strides, padding, dilation)
    return tuple(map(tuple, conv_pads(input_size, kernel_size, strides, padding, dilation)))


def conv_nd(x, kernel, strides, padding, dilation, groups=1, padding_mode="zeros", keep=None):
    """Forward conv. x: (batch, *spatial, in); kernel: (*k, in/groups, filters).
    ``keep``: a dict for what the backward pass can reuse (a training step)."""
    pads = _forward_pads(x.shape[1:-1], kernel.shape[:-2], tuple(strides), padding, tuple(dilation))
    check_padding_mode(x.shape[1:-1], pads, padding_mode)
    return conv_forward(x, kernel, strides, pads, dilation, groups, padding_mode, keep)


def conv_transpose_nd(x, kernel, strides, padding, output_padding, dilation):
    """Transposed conv. x: (batch, *spatial, in); kernel: (*k, filters, in)."""
    kernel_size = kernel.shape[:-2]
    conv_transpose_output_size(x.shape[1:-1], kernel_size, strides, padding, output_padding, dilation)
    pads = conv_transpose_pads(x.shape[1:-1], kernel_size, strides, padding, output_padding, dilation)
    return conv_transpose_forward(x, kernel, strides, pads, dilation)


def depthwise_conv_nd(x, kernel, strides, padding, dilation, padding_mode="zeros"):
    """Depthwise conv. x: (batch, *spatial, in); kernel: (*k, in, multiplier).

    Output channel c * multiplier + m reads input channel c, as in Keras.
    """
    *kernel_size, channels, multiplier = kernel.shape
    grouped = kernel.reshape(*kernel_size, 1, channels * multiplier)
    return conv_nd(x, grouped, strides, padding, dilation, channels, padding_mode)


def separable_conv_nd(x, depthwise_kernel, pointwise_kernel, strides, padding, dilation, padding_mode="zeros"):
    """Depthwise conv, then a 1x1 conv. pointwise_kernel: (1, ..., in*mult, filters)."""
    y = depthwise_conv_nd(x, depthwise_kernel, strides, padding, dilation, padding_mode)
    pointwise = pointwise_kernel.reshape(pointwise_kernel.shape[-2:])
    return y @ pointwise.astype(y.dtype, copy=False)


def to_channels_last(x, data_format):
    return x if data_format == "channels_last" else np.moveaxis(x, 1, -1)


def from_channels_last(y, data_format):
    return y if data_format == "channels_last" else np.ascontiguousarray(np.moveaxis(y, -1, 1))


# --------------------------------------------------------------------------
# backward: (dx, dkernel) for the last forward call's arguments
# --------------------------------------------------------------------------
def conv_nd_backward(
    x, kernel, dy, strides, padding, dilation, groups=1, padding_mode="zeros", input_grad=True, kept=None
):
    """Gradients of :func:`conv_nd` with respect to x and kernel (dx is None
    when ``input_grad`` is False, e.g. for a model's first layer). ``kept``:
    the ``keep`` dict of the forward call."""
    input_size = x.shape[1:-1]
    pads = _forward_pads(input_size, kernel.shape[:-2], tuple(strides), padding, tuple(dilation))
    dx = None
    if input_grad:
        dx = kernels.conv_input_grad(dy, kernel, strides, pads, dilation, input_size, groups, padding_mode)
    dkernel = kernels.conv_kernel_grad(x, dy, kernel.shape, strides, pads, dilation, groups, padding_mode, kept)
    return dx, dkernel


def conv_transpose_nd_backward(x, kernel, dy, strides, padding, output_padding, dilation, input_grad=True):
    """Gradients of :func:`conv_transpose_nd` with respect to x and kernel."""
    input_size = x.shape[1:-1]
    pads = conv_transpose_pads(input_size, kernel.shape[:-2], strides, padding, output_padding, dilation)
    dx = kernels.conv_transpose_input_grad(dy, kernel, strides, pads, dilation, input_size) if input_grad else None
    dkernel = kernels.conv_transpose_kernel_grad(x, dy, kernel.shape, strides, pads, dilation)
    return dx, dkernel


def depthwise_conv_nd_backward(x, kernel, dy, strides, padding, dilation, padding_mode="zeros", input_grad=True):
    """Gradients of :func:`depthwise_conv_nd`: the grouped conv's, reshaped."""
    *kernel_size, channels, multiplier = kernel.shape
    grouped = kernel.reshape(*kernel_size, 1, channels * multiplier)
    dx, dkernel = conv_nd_backward(x, grouped, dy, strides, padding, dilation, channels, padding_mode, input_grad)
    return dx, dkernel.reshape(kernel.shape)


def separable_conv_nd_backward(
    x, depthwise_kernel, pointwise_kernel, dy, strides, padding, dilation, padding_mode="zeros", input_grad=True
):
    """Gradients of :func:`separable_conv_nd`: (dx, ddepthwise, dpointwise)."""
    middle = depthwise_conv_nd(x, depthwise_kernel, strides, padding, dilation, padding_mode)
    pointwise = pointwise_kernel.reshape(pointwise_kernel.shape[-2:])
    dpointwise = middle.reshape(-1, middle.shape[-1]).T @ dy.reshape(-1, dy.shape[-1])
    dmiddle = dy @ pointwise.T.astype(dy.dtype, copy=False)
    dx, ddepthwise = depthwise_conv_nd_backward(
        x, depthwise_kernel, dmiddle, strides, padding, dilation, padding_mode, input_grad
    )
    return dx, ddepthwise, dpointwise.reshape(pointwise_kernel.shape)
