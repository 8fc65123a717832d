"""N-d convolution kernels on arrays, channels_last, explicit pads.

Nothing here decides a length or a pad: callers pass ``pads`` as
``(pad_before, pad_after)`` per spatial dimension, computed by
:mod:`npconv.geometry`.

- :func:`conv_forward` pads, takes strided windows (a view, no copy), then
  contracts them with the kernel on BLAS in bounded chunks (im2col per chunk).
- :func:`conv_transpose_forward` is the scatter form of the conv gradient:
  one GEMM of every input pixel with every kernel tap, then an overlap-add of
  the taps into the output (prod(kernel_size) strided adds).
- The backward passes reuse both: a conv's input gradient is an overlap-add
  (a transposed conv), its kernel gradient is the windows contracted with dy;
  a transposed conv's input gradient is a forward conv of dy.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
from numpy.lib.stride_tricks import as_strided

# Bytes of im2col workspace one call may hold at once; work beyond this is
# split into batch (then row) chunks.
WORKSPACE_BYTES = 64 * 2**20

_NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}

Pads = Sequence[tuple[int, int]]


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
    w = _group_kernel(kernel.astype(dtype, copy=False), groups)  # (groups, taps*cin, fout)
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


def overlap_add(cols: np.ndarray, strides, dilation, size, offset) -> np.ndarray:
    """Scatter-add per-tap contributions: the adjoint of :func:`windows`.

    cols: (batch, *input_size, *kernel_size, channels). Input i, tap j lands at
    index i*s + j*d - offset of a zero array (batch, *size, channels); indices
    outside [0, size) are dropped. Returns that array.
    """
    rank = len(size)
    batch, in_size = cols.shape[0], cols.shape[1 : 1 + rank]
    kernel_size, channels = cols.shape[1 + rank : 1 + 2 * rank], cols.shape[-1]
    lo = [min(0, -o) for o in offset]
    hi = [max((n - 1) * s + (k - 1) * d + 1 - o, z) for n, s, k, d, o, z in zip(in_size, strides, kernel_size, dilation, offset, size)]
    buffer = np.zeros((batch, *[h - low for h, low in zip(hi, lo)], channels), dtype=cols.dtype)
    for tap in product(*[range(k) for k in kernel_size]):
        dest = tuple(
            slice(t * d - o - low, t * d - o - low + (n - 1) * s + 1, s)
            for t, d, o, low, n, s in zip(tap, dilation, offset, lo, in_size, strides)
        )
        buffer[(slice(None), *dest)] += cols[(slice(None),) * (rank + 1) + tap]
    return buffer[(slice(None), *[slice(-low, -low + z) for low, z in zip(lo, size)])]


def _transpose_geometry(in_size, kernel_size, strides, pads, dilation):
    """Output size and crop offset of a transposed conv whose zero-inserted
    input is padded by ``pads``."""
    k_eff = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    out_size = [(n - 1) * s + 1 + b + a - ke + 1 for n, s, (b, a), ke in zip(in_size, strides, pads, k_eff)]
    offset = [ke - 1 - b for ke, (b, _) in zip(k_eff, pads)]
    return out_size, offset


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
    dtype = np.result_type(x.dtype, kernel.dtype)
    out_size, offset = _transpose_geometry(x.shape[1:-1], kernel_size, strides, pads, dilation)
    if x.size == 0 or min(out_size) <= 0:
        return np.zeros((x.shape[0], *out_size, filters), dtype=dtype)
    w = kernel.reshape(-1, channels).T.astype(dtype, copy=False)  # (C, taps*F)
    cols = (x.reshape(-1, channels) @ w).reshape(*x.shape[:-1], *kernel_size, filters)
    return overlap_add(cols, strides, dilation, out_size, offset)


# --------------------------------------------------------------------------
# backward passes, written with the primitives above
# --------------------------------------------------------------------------
def pad_spatial_backward(dxp: np.ndarray, pads: Pads, padding_mode: str = "zeros") -> np.ndarray:
    """Adjoint of :func:`pad_spatial`: fold the gradient of the padded input
    back onto the input (reflected, replicated or wrapped pads add to their
    source pixels)."""
    dx = dxp
    for axis, (before, after) in enumerate(pads, start=1):
        if not (before or after):
            continue
        length = dx.shape[axis] - before - after
        inner = np.take(dx, np.arange(before, before + length), axis=axis)
        if padding_mode != "zeros":
            source = np.pad(np.arange(length), (before, after), mode=_NUMPY_PAD_MODES[padding_mode])
            edge = np.r_[0:before, before + length : before + length + after]
            inner = np.moveaxis(inner, axis, 0).copy()
            np.add.at(inner, source[edge], np.moveaxis(np.take(dx, edge, axis=axis), axis, 0))
            inner = np.moveaxis(inner, 0, axis)
        dx = inner
    return np.ascontiguousarray(dx)


def _group_kernel(kernel, groups):
    """(*k, cin, F) -> (groups, taps*cin, F/groups), rows ordered (taps, cin)."""
    *kernel_size, cin, filters = kernel.shape
    taps = int(np.prod(kernel_size))
    w = kernel.reshape(taps, cin, groups, filters // groups).transpose(2, 0, 1, 3)
    return w.reshape(groups, taps * cin, filters // groups)


def conv_input_grad(dy, kernel, strides, pads, dilation, input_size, groups=1, padding_mode="zeros"):
    """dx of :func:`conv_forward`. dy: (batch, *output_size, filters); returns
    (batch, *input_size, in_channels)."""
    kernel_size = kernel.shape[:-2]
    cin = kernel.shape[-2]
    batch, out_size, filters = dy.shape[0], dy.shape[1:-1], dy.shape[-1]
    w = _group_kernel(kernel.astype(dy.dtype, copy=False), groups)  # (G, taps*cin, F/G)
    d = dy.reshape(-1, groups, filters // groups).transpose(1, 0, 2)  # (G, B*P, F/G)
    cols = np.matmul(d, w.transpose(0, 2, 1))  # (G, B*P, taps*cin)
    taps = int(np.prod(kernel_size))
    cols = cols.reshape(groups, -1, taps, cin).transpose(1, 2, 0, 3)
    cols = cols.reshape(batch, *out_size, *kernel_size, groups * cin)
    padded = [n + b + a for n, (b, a) in zip(input_size, pads)]
    dxp = overlap_add(cols, strides, dilation, padded, [0] * len(padded))
    return pad_spatial_backward(dxp, pads, padding_mode)


def conv_kernel_grad(x, dy, kernel_shape, strides, pads, dilation, groups=1, padding_mode="zeros"):
    """dkernel of :func:`conv_forward`: the windows of x contracted with dy.
    Returns an array of ``kernel_shape`` (*kernel_size, in/groups, filters)."""
    *kernel_size, cin, filters = kernel_shape
    xp = pad_spatial(x, pads, padding_mode)
    out_size = dy.shape[1:-1]
    view = windows(xp, kernel_size, strides, dilation, out_size)
    taps = int(np.prod(kernel_size))
    pixels = int(np.prod(out_size))
    dtype = np.result_type(x.dtype, dy.dtype)
    grad = np.zeros((groups, taps * cin, filters // groups), dtype=dtype)
    item_bytes = pixels * taps * x.shape[-1] * dtype.itemsize
    for chunk in _batch_chunks(x.shape[0], item_bytes):
        n = chunk.stop - chunk.start
        cols = view[chunk].reshape(n * pixels, taps, groups, cin).transpose(2, 0, 1, 3).reshape(groups, n * pixels, taps * cin)
        d = dy[chunk].reshape(n * pixels, groups, filters // groups).transpose(1, 0, 2)
        grad += np.matmul(cols.transpose(0, 2, 1), d)
    grad = grad.reshape(groups, taps, cin, filters // groups).transpose(1, 2, 0, 3)
    return grad.reshape(kernel_shape)


def _transpose_buffer(dy, in_size, kernel_size, strides, pads, dilation):
    """dy placed where the transposed conv's full result sits: the padded input
    of the forward conv that is the transposed conv's adjoint."""
    _, offset = _transpose_geometry(in_size, kernel_size, strides, pads, dilation)
    needed = [(n - 1) * s + (k - 1) * d + 1 for n, s, k, d in zip(in_size, strides, kernel_size, dilation)]
    width = [(max(o, 0), max(need - o - size, 0)) for o, need, size in zip(offset, needed, dy.shape[1:-1])]
    crop = [slice(max(-o, 0), max(-o, 0) + need) for o, need in zip(offset, needed)]
    padded = np.pad(dy, [(0, 0), *width, (0, 0)])
    return padded[(slice(None), *crop)]


def conv_transpose_input_grad(dy, kernel, strides, pads, dilation, input_size):
    """dx of :func:`conv_transpose_forward`: a forward conv of dy."""
    kernel_size = kernel.shape[:-2]
    buffer = _transpose_buffer(dy, input_size, kernel_size, strides, pads, dilation)
    return conv_forward(buffer, kernel, strides, [(0, 0)] * len(kernel_size), dilation)


def conv_transpose_kernel_grad(x, dy, kernel_shape, strides, pads, dilation):
    """dkernel of :func:`conv_transpose_forward`, kernel (*k, filters, in)."""
    kernel_size = kernel_shape[:-2]
    buffer = _transpose_buffer(dy, x.shape[1:-1], kernel_size, strides, pads, dilation)
    return conv_kernel_grad(buffer, x, kernel_shape, strides, [(0, 0)] * len(kernel_size), dilation)
