"""N-d convolution kernels on arrays, channels_last, explicit pads.

Nothing here decides a length or a pad: callers pass ``pads`` as
``(pad_before, pad_after)`` per spatial dimension, computed by
:mod:`npconv.geometry`.

- :func:`conv_forward` pads, takes strided windows (a view, no copy), then
  contracts them with the kernel on BLAS in bounded chunks (im2col per chunk).
- :func:`conv_transpose_forward` is the scatter form of the conv gradient:
  one GEMM of every input pixel with every kernel tap, then an overlap-add of
  the taps into the output (prod(kernel_size) strided adds).
"""

from __future__ import annotations

from itertools import product
from typing import Sequence, Tuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

# Bytes of im2col workspace one call may hold at once; work beyond this is
# split into batch (then row) chunks.
WORKSPACE_BYTES = 64 * 2**20

_NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}

Pads = Sequence[Tuple[int, int]]


def pad_spatial(x: np.ndarray, pads: Pads, padding_mode: str = "zeros") -> np.ndarray:
    """Pad the spatial axes of x: (batch, *spatial, channels). Pads are >= 0."""
    if not any(before or after for before, after in pads):
        return x
    width = [(0, 0), *pads, (0, 0)]
    return np.pad(x, width, mode=_NUMPY_PAD_MODES[padding_mode])


def windows(x: np.ndarray, kernel_size, strides, dilation, output_size) -> np.ndarray:
    """A read-only view (batch, *output_size, *kernel_size, channels) of the
    strided, dilated windows of an already padded x: (batch, *spatial, channels)."""
    batch_stride, *spatial_strides, channel_stride = x.strides
    shape = (x.shape[0], *output_size, *kernel_size, x.shape[-1])
    step = [st * s for st, s in zip(spatial_strides, strides)]
    tap = [st * d for st, d in zip(spatial_strides, dilation)]
    return as_strided(x, shape, (batch_stride, *step, *tap, channel_stride), writeable=False)


def _output_size(padded_size, kernel_size, strides, dilation):
    return tuple(
        (n - ((k - 1) * d + 1)) // s + 1
        for n, k, s, d in zip(padded_size, kernel_size, strides, dilation)
    )


def _batch_chunks(batch: int, bytes_per_item: int):
    step = max(1, WORKSPACE_BYTES // max(bytes_per_item, 1))
    return [slice(i, min(i + step, batch)) for i in range(0, batch, step)]


def conv_forward(
    x: np.ndarray,
    kernel: np.ndarray,
    strides,
    pads: Pads,
    dilation,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """Grouped N-d cross-correlation.

    x: (batch, *spatial, in_channels); kernel: (*kernel_size, in_channels/groups,
    filters). Returns y: (batch, *output_size, filters).
    """
    kernel_size = kernel.shape[:-2]
    xp = pad_spatial(x, pads, padding_mode)
    output_size = _output_size(xp.shape[1:-1], kernel_size, strides, dilation)
    batch, channels, filters = x.shape[0], x.shape[-1], kernel.shape[-1]
    dtype = np.result_type(x.dtype, kernel.dtype)
    y = np.empty((batch, *output_size, filters), dtype=dtype)
    if y.size == 0:
        return y
    view = windows(xp, kernel_size, strides, dilation, output_size)
    taps = int(np.prod(kernel_size))
    pixels = int(np.prod(output_size))
    cin = channels // groups
    fout = filters // groups
    # kernel as (groups, taps*cin, fout): row order (taps..., cin) matches the view.
    w = kernel.reshape(taps, cin, groups, fout).transpose(2, 0, 1, 3).reshape(groups, taps * cin, fout)
    w = w.astype(dtype, copy=False)
    item_bytes = pixels * taps * channels * dtype.itemsize
    for chunk in _batch_chunks(batch, item_bytes):
        n = chunk.stop - chunk.start
        v = view[chunk]
        if groups == 1:
            cols = v.reshape(n * pixels, taps * channels)
            y[chunk] = (cols @ w[0]).reshape(n, *output_size, filters)
            continue
        cols = v.reshape(n * pixels, taps, groups, cin).transpose(2, 0, 1, 3)
        cols = cols.reshape(groups, n * pixels, taps * cin)
        out = np.matmul(cols, w)  # (groups, n*pixels, fout)
        y[chunk] = out.transpose(1, 0, 2).reshape(n, *output_size, filters)
    return y


def conv_transpose_forward(
    x: np.ndarray,
    kernel: np.ndarray,
    strides,
    pads: Pads,
    dilation,
) -> np.ndarray:
    """N-d transposed convolution (the gradient of a conv with respect to its input).

    x: (batch, *spatial, in_channels); kernel: (*kernel_size, filters,
    in_channels), Keras's layout. ``pads`` are the pads on the zero-inserted
    input of the equivalent forward conv; a negative pad crops.
    Returns y: (batch, *output_size, filters).
    """
    kernel_size = kernel.shape[:-2]
    filters, channels = kernel.shape[-2:]
    batch, in_size = x.shape[0], x.shape[1:-1]
    dtype = np.result_type(x.dtype, kernel.dtype)
    k_eff = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    out_size = [
        (n - 1) * s + 1 + before + after - ke + 1
        for n, s, (before, after), ke in zip(in_size, strides, pads, k_eff)
    ]
    # Output index o sits at index o + shift of the full (unpadded) result,
    # where the full result has length (n - 1)*s + k_eff.
    shift = [ke - 1 - before for ke, (before, _) in zip(k_eff, pads)]
    full = [(n - 1) * s + ke for n, s, ke in zip(in_size, strides, k_eff)]
    lo = [min(0, c) for c in shift]
    hi = [max(f, c + o) for f, c, o in zip(full, shift, out_size)]
    y = np.zeros((batch, *out_size, filters), dtype=dtype)
    if y.size == 0 or x.size == 0:
        return y
    buffer = np.zeros((batch, *[h - lo_ for h, lo_ in zip(hi, lo)], filters), dtype=dtype)
    taps = int(np.prod(kernel_size))
    w = kernel.reshape(taps * filters, channels).T.astype(dtype, copy=False)  # (C, taps*F)
    cols = (x.reshape(-1, channels) @ w).reshape(batch, *in_size, *kernel_size, filters)
    rank = len(kernel_size)
    for tap in product(*[range(k) for k in kernel_size]):
        dest = tuple(
            slice(t * d - lo_, t * d - lo_ + (n - 1) * s + 1, s)
            for t, d, lo_, n, s in zip(tap, dilation, lo, in_size, strides)
        )
        buffer[(slice(None), *dest)] += cols[(slice(None),) * (rank + 1) + tap]
    crop = tuple(slice(c - lo_, c - lo_ + o) for c, lo_, o in zip(shift, lo, out_size))
    y[...] = buffer[(slice(None), *crop)]
    return y
