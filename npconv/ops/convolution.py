"""Convolution ops on arrays: standardised arguments in, geometry asked, a spec
built, the kernel seam (:mod:`.kernels`) called.

``x`` is channels_last here: (batch, *spatial, channels), possibly a view of a
channels_first array. ``padding`` is already standardised by
:mod:`npconv.arguments`: a mode string or a tuple of (before, after) pairs.
Padding modes other than zeros are applied here, so kernels only ever see
zero pads.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import geometry
from .kernels import conv_forward, conv_input_grad, conv_kernel_grad, pad_spatial, pad_spatial_backward
from .spec import ConvSpec


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


@functools.lru_cache(maxsize=1024)
def _forward_spec(x_shape, kernel_shape, strides, padding, dilation, groups, padding_mode, dtype, cf, activation, bias):
    """(spec, pads) of a forward conv; with a padding mode, the spec is of the
    padded input and has zero pads, and ``pads`` are what to pad x by."""
    strides, dilation = tuple(strides), tuple(dilation)
    pads = _forward_pads(x_shape[1:-1], kernel_shape[:-2], strides, padding, dilation)
    check_padding_mode(x_shape[1:-1], pads, padding_mode)
    spec_pads = pads
    if padding_mode != "zeros":
        x_shape = (x_shape[0], *[n + b + a for n, (b, a) in zip(x_shape[1:-1], pads)], x_shape[-1])
        spec_pads = ((0, 0),) * len(pads)
    spec = ConvSpec(x_shape, kernel_shape, strides, spec_pads, dilation, groups, dtype.name, cf, activation, bias)
    return spec, pads


def _layout(x):
    """Whether x is stored channels_first (a channels_last view), for the spec."""
    return x.ndim > 2 and x.strides[-1] != x.itemsize


def _spec_of(x, kernel, strides, padding, dilation, groups, padding_mode, activation=None, bias=False):
    dtype = x.dtype if x.dtype == kernel.dtype else np.result_type(x.dtype, kernel.dtype)
    return _forward_spec(
        x.shape,
        kernel.shape,
        strides,
        padding,
        dilation,
        groups,
        padding_mode,
        dtype,
        _layout(x),
        activation,
        bias,
    )


def conv_nd(
    x, kernel, strides, padding, dilation, groups=1, padding_mode="zeros", keep=None, bias=None, activation=None
):
    """Forward conv, then bias and activation. x: (batch, *spatial, in);
    kernel: (*k, in/groups, filters); bias: (filters,) or None; activation: a
    name from :data:`.kernels.FUSED_ACTIVATIONS` or None. ``keep``: a dict for
    what the backward pass can reuse (a training step)."""
    spec, pads = _spec_of(x, kernel, strides, padding, dilation, groups, padding_mode, activation, bias is not None)
    if padding_mode != "zeros":
        x = pad_spatial(x, pads, padding_mode)
    return conv_forward(spec, x, kernel, bias, keep)


def _transpose_spec(x, kernel, strides, padding, output_padding, dilation):
    """The spec of the forward conv whose input gradient is this transposed conv:
    its input is the transposed conv's output. kernel: (*k, filters, in)."""
    kernel_size = kernel.shape[:-2]
    out_size = conv_transpose_output_size(x.shape[1:-1], kernel_size, strides, padding, output_padding, dilation)
    inserted = conv_transpose_pads(x.shape[1:-1], kernel_size, strides, padding, output_padding, dilation)
    pads = []
    for n, k, s, d, (b, _), length in zip(x.shape[1:-1], kernel_size, strides, dilation, inserted, out_size):
        k_eff = (k - 1) * d + 1
        before = k_eff - 1 - b
        pads.append((before, (n - 1) * s + k_eff - length - before))
    dtype = np.result_type(x.dtype, kernel.dtype)
    shape = (x.shape[0], *out_size, kernel.shape[-2])
    return ConvSpec(shape, kernel.shape, tuple(strides), tuple(pads), tuple(dilation), 1, dtype.name, _layout(x))


def conv_transpose_nd(x, kernel, strides, padding, output_padding, dilation):
    """Transposed conv. x: (batch, *spatial, in); kernel: (*k, filters, in)."""
    spec = _transpose_spec(x, kernel, strides, padding, output_padding, dilation)
    return conv_input_grad(spec, x, kernel)


def depthwise_conv_nd(x, kernel, strides, padding, dilation, padding_mode="zeros", bias=None, activation=None):
    """Depthwise conv. x: (batch, *spatial, in); kernel: (*k, in, multiplier).

    Output channel c * multiplier + m reads input channel c, as in Keras.
    """
    *kernel_size, channels, multiplier = kernel.shape
    grouped = kernel.reshape(*kernel_size, 1, channels * multiplier)
    return conv_nd(x, grouped, strides, padding, dilation, channels, padding_mode, None, bias, activation)


def _pointwise(y, pointwise_kernel):
    """pointwise_kernel (1, ..., in*mult, filters) as a 1x1 conv kernel of y's rank."""
    rank = y.ndim - 2
    return pointwise_kernel.reshape((1,) * rank + pointwise_kernel.shape[-2:])


def separable_conv_nd(
    x, depthwise_kernel, pointwise_kernel, strides, padding, dilation, padding_mode="zeros", bias=None, activation=None
):
    """Depthwise conv, then a 1x1 conv (with the bias and activation). pointwise_kernel: (1, ..., in*mult, filters)."""
    y = depthwise_conv_nd(x, depthwise_kernel, strides, padding, dilation, padding_mode)
    rank = y.ndim - 2
    pointwise = _pointwise(y, pointwise_kernel)
    return conv_nd(y, pointwise, (1,) * rank, "valid", (1,) * rank, 1, "zeros", None, bias, activation)


def to_channels_last(x, data_format):
    return x if data_format == "channels_last" else np.moveaxis(x, 1, -1)


def from_channels_last(y, data_format):
    return y if data_format == "channels_last" else np.ascontiguousarray(np.moveaxis(y, -1, 1))


# --------------------------------------------------------------------------
# backward: (dx, dkernel, dbias) for the last forward call's arguments
# --------------------------------------------------------------------------
def conv_nd_backward(
    x, kernel, dy, strides, padding, dilation, groups=1, padding_mode="zeros", input_grad=True, kept=None, bias=False
):
    """Gradients of :func:`conv_nd` (before its activation) with respect to x,
    kernel and bias: (dx, dkernel, dbias). dx is None when ``input_grad`` is
    False (a model's first layer); dbias is None unless ``bias``. ``kept``:
    the ``keep`` dict of the forward call."""
    spec, pads = _spec_of(x, kernel, strides, padding, dilation, groups, padding_mode, None, bias)
    xp = x if padding_mode == "zeros" else pad_spatial(x, pads, padding_mode)
    dx = None
    if input_grad:
        dx = conv_input_grad(spec, dy, kernel)
        if padding_mode != "zeros":
            dx = pad_spatial_backward(dx, pads, padding_mode)
    dkernel, dbias = conv_kernel_grad(spec, xp, dy, kept)
    return dx, dkernel, dbias


def conv_transpose_nd_backward(x, kernel, dy, strides, padding, output_padding, dilation, input_grad=True):
    """Gradients of :func:`conv_transpose_nd` with respect to x and kernel."""
    spec = _transpose_spec(x, kernel, strides, padding, output_padding, dilation)
    dx = conv_forward(spec, dy, kernel) if input_grad else None
    dkernel, _ = conv_kernel_grad(spec, dy, x)
    return dx, dkernel


def depthwise_conv_nd_backward(
    x, kernel, dy, strides, padding, dilation, padding_mode="zeros", input_grad=True, bias=False
):
    """Gradients of :func:`depthwise_conv_nd`: the grouped conv's, reshaped: (dx, dkernel, dbias)."""
    *kernel_size, channels, multiplier = kernel.shape
    grouped = kernel.reshape(*kernel_size, 1, channels * multiplier)
    dx, dkernel, dbias = conv_nd_backward(
        x, grouped, dy, strides, padding, dilation, channels, padding_mode, input_grad, None, bias
    )
    return dx, dkernel.reshape(kernel.shape), dbias


def separable_conv_nd_backward(
    x,
    depthwise_kernel,
    pointwise_kernel,
    dy,
    strides,
    padding,
    dilation,
    padding_mode="zeros",
    input_grad=True,
    bias=False,
):
    """Gradients of :func:`separable_conv_nd`: (dx, ddepthwise, dpointwise, dbias)."""
    middle = depthwise_conv_nd(x, depthwise_kernel, strides, padding, dilation, padding_mode)
    rank = middle.ndim - 2
    pointwise = _pointwise(middle, pointwise_kernel)
    dmiddle, dpointwise, dbias = conv_nd_backward(
        middle, pointwise, dy, (1,) * rank, "valid", (1,) * rank, 1, "zeros", True, None, bias
    )
    dx, ddepthwise, _ = depthwise_conv_nd_backward(
        x, depthwise_kernel, dmiddle, strides, padding, dilation, padding_mode, input_grad
    )
    return dx, ddepthwise, dpointwise.reshape(pointwise_kernel.shape), dbias
