"""Depthwise convolutions (groups == input channels) as a sum of per-tap
products, instead of a grouped matmul with one column per group.

    y[..., c, m] = sum over taps t of window_t(x)[..., c] * kernel[t, c, m]

The sum runs in ``np.einsum`` over the strided windows view, one block of
output rows at a time (sized to stay in cache): no im2col copy and no
multiplications by other channels' zeros.

x: (batch, *spatial, channels); kernel: (*kernel_size, 1, channels * multiplier),
the grouped layout (Keras's depthwise kernel (*k, channels, multiplier) reshaped).
"""

from __future__ import annotations

from itertools import product
from math import prod

import numpy as np

from .primitives import box_windows, chunks, interior_split, output_size, pad_spatial_backward

# Bytes of input and output one block of batch items spans: about one image here.
BLOCK_BYTES = 4 * 2**20


def _taps(kernel_size):
    return list(product(*[range(k) for k in kernel_size]))


def _weights(kernel, channels, dtype):
    """(*k, 1, C*m) -> (*k, C, m)."""
    return kernel.reshape(*kernel.shape[:-2], channels, kernel.shape[-1] // channels).astype(dtype, copy=False)


def _subscripts(rank, mult):
    """einsum axes: windows (n, *out, *k, c), weights (*k, c[, m]), output (n, *out, c[, m])."""
    out = list(range(1, 1 + rank))
    taps = list(range(1 + rank, 1 + 2 * rank))
    c, m = [1 + 2 * rank], ([2 + 2 * rank] if mult > 1 else [])
    return [0, *out, *taps, *c], [*taps, *c, *m], [0, *out, *c, *m]


def _boxes(x, pads, padding_mode, kernel_size, strides, dilation, out_size, dtype, workspace):
    """(batch slice, output box, windows view) for blocks of batch items: the
    interior box reads x in place, border boxes read small padded copies."""
    per_item = np.dtype(dtype).itemsize * x.shape[-1] * (prod(out_size) + prod(x.shape[1:-1]))
    split = interior_split(out_size, x.shape[1:-1], kernel_size, strides, dilation, pads)
    for bs, _ in chunks(x.shape[0], 1, per_item, min(workspace, BLOCK_BYTES)):
        for box, inside in split:
            yield bs, box, box_windows(x[bs], box, inside, kernel_size, strides, dilation, pads, padding_mode)


def forward(x, kernel, strides, pads, dilation, padding_mode, workspace, dtype):
    """y: (batch, *output_size, channels * multiplier)."""
    kernel_size = kernel.shape[:-2]
    rank = len(kernel_size)
    batch, channels = x.shape[0], x.shape[-1]
    w = _weights(kernel, channels, dtype)
    padded = [n + b + a for n, (b, a) in zip(x.shape[1:-1], pads)]
    osize = output_size(padded, kernel_size, strides, dilation)
    y = np.empty((batch, *osize, kernel.shape[-1]), dtype=dtype)
    if y.size == 0:
        return y
    x = x.astype(dtype, copy=False)
    mult = w.shape[-1]
    if mult == 1:
        w = w[..., 0]
    view_axes, w_axes, out_axes = _subscripts(rank, mult)
    for bs, box, view in _boxes(x, pads, padding_mode, kernel_size, strides, dilation, osize, dtype, workspace):
        out = y[(bs, *box)]
        if mult > 1:
            out = out.reshape(*view.shape[: 1 + rank], channels, mult)
        np.einsum(view, view_axes, w, w_axes, out_axes, out=out)
    return y


def input_grad(dy, kernel, channels, strides, pads, dilation, input_size, padding_mode, workspace, dtype):
    """dx of :func:`forward`: every tap's product scattered back (any stride).
    dy: (batch, *output_size, channels * multiplier); returns (batch, *input_size, channels)."""
    kernel_size = kernel.shape[:-2]
    batch, out_size = dy.shape[0], dy.shape[1:-1]
    w = _weights(kernel, channels, dtype).reshape(prod(kernel_size), channels, -1)
    mult = w.shape[-1]
    padded = [n + b + a for n, (b, a) in zip(input_size, pads)]
    dx = np.empty((batch, *input_size, channels), dtype=dtype)
    if dx.size == 0:
        return dx
    dy = dy.astype(dtype, copy=False)
    itemsize = np.dtype(dtype).itemsize
    per_item = itemsize * (prod(padded) * channels + prod(out_size) * channels * mult)
    taps = _taps(kernel_size)
    for bs, _ in chunks(batch, 1, per_item, workspace):
        d = dy[bs].reshape(*dy[bs].shape[:-1], channels, mult)
        dxp = np.zeros((d.shape[0], *padded, channels), dtype=dtype)
        tmp = np.empty(d.shape[:-1], dtype=dtype)
        for i, tap in enumerate(taps):
            dest = tuple(
                slice(t * dd, t * dd + (o - 1) * s + 1, s) for t, dd, o, s in zip(tap, dilation, out_size, strides)
            )
            if mult == 1:
                np.multiply(d[..., 0], w[i, :, 0], out=tmp)
            else:
                np.einsum("...cm,cm->...c", d, w[i], out=tmp)
            dxp[(slice(None), *dest)] += tmp
        dx[bs] = pad_spatial_backward(dxp, pads, padding_mode)
    return dx


def kernel_grad(x, dy, kernel_shape, strides, pads, dilation, padding_mode, workspace, dtype):
    """dkernel (*kernel_size, 1, channels * multiplier): per tap, the product of
    the input window and dy, summed over batch and pixels."""
    kernel_size = kernel_shape[:-2]
    rank = len(kernel_size)
    channels = x.shape[-1]
    mult = kernel_shape[-1] // channels
    out_size = dy.shape[1:-1]
    x = x.astype(dtype, copy=False)
    dy = dy.astype(dtype, copy=False)
    view_axes, w_axes, out_axes = _subscripts(rank, mult)
    grad = np.zeros((*kernel_size, channels, mult), dtype=dtype)
    flat = grad if mult > 1 else grad[..., 0]
    for bs, box, view in _boxes(x, pads, padding_mode, kernel_size, strides, dilation, out_size, dtype, workspace):
        d = dy[(bs, *box)]
        if mult > 1:
            d = d.reshape(*view.shape[: 1 + rank], channels, mult)
        flat += np.einsum(view, view_axes, d, out_axes, w_axes)
    return grad.reshape(kernel_shape)
