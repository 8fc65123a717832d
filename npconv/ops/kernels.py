"""N-d convolution kernels on arrays, channels_last, explicit pads.

Nothing here decides a length or a pad: callers pass ``pads`` as
``(pad_before, pad_after)`` per spatial dimension, computed by
:mod:`npconv.geometry`.

Each kernel asks :mod:`.dispatch` for an algorithm (from the shape, cached per
shape, overridable with ``set_algorithm``) and runs it:

- :func:`conv_forward`: ``small``, ``gemm`` (1x1), ``winograd`` (3x3 stride 1),
  ``depthwise`` (per-tap multiply-adds) or ``im2col`` (bounded chunks);
- :func:`conv_transpose_forward`: ``subpixel`` (one stride-1 conv per output
  phase) or ``scatter`` (GEMM, then an overlap-add);
- the backward passes are the same operations with the roles swapped: a
  stride-1 conv's input gradient is a forward conv of dy with the flipped
  kernel, a strided one is a transposed conv of dy; a kernel gradient contracts
  the windows of x with dy (``winograd``, ``depthwise``, ``gemm``, ``im2col``);
  a transposed conv's input gradient is a forward conv of dy.

Every algorithm holds at most about ``WORKSPACE_BYTES`` of temporaries at once,
splitting its work into batch, then row (or tile-row) chunks.
"""

from __future__ import annotations

import numpy as np

from . import depthwise, dispatch, im2col, transpose, winograd
from .primitives import Pads, overlap_add, pad_spatial, pad_spatial_backward, windows
from .primitives import output_size as _output_size

__all__ = [
    "WORKSPACE_BYTES",
    "conv_forward",
    "conv_transpose_forward",
    "conv_input_grad",
    "conv_kernel_grad",
    "conv_transpose_input_grad",
    "conv_transpose_kernel_grad",
    "pad_spatial",
    "pad_spatial_backward",
    "windows",
    "overlap_add",
    "bias_grad",
]

# Bytes of temporaries (im2col columns, padded blocks, transform tiles) one call
# may hold at once; work beyond this is split into batch, then row chunks.
WORKSPACE_BYTES = 64 * 2**20

_group_kernel = im2col.group_kernel


def bias_grad(dy: np.ndarray) -> np.ndarray:
    """dbias of ``y = conv(x) + bias``: dy (batch, *spatial, filters) summed over
    everything but the channels, as one BLAS product with a ones vector (about
    twice as fast as ``dy.sum(axis=...)`` and summed in blocks, so closer to exact)."""
    rows = dy.reshape(-1, dy.shape[-1])
    return np.ones(rows.shape[0], dtype=rows.dtype) @ rows


def _describe(x_shape, kernel_shape, strides, pads, dilation, groups, padding_mode, output_size):
    return {
        "x_shape": x_shape,
        "kernel_size": kernel_shape[:-2],
        "cin": kernel_shape[-2],
        "filters": kernel_shape[-1],
        "strides": strides,
        "pads": pads,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": padding_mode,
        "output_size": output_size,
    }


def _forward(x, kernel, strides, pads, dilation, groups=1, padding_mode="zeros", keep=None):
    """(y, algorithm) of the grouped N-d cross-correlation (``keep``: see :func:`conv_forward`)."""
    if not (
        type(strides) is tuple
        and type(dilation) is tuple
        and type(pads) is tuple
        and all(type(p) is tuple for p in pads)
    ):
        strides, dilation, pads = tuple(strides), tuple(dilation), tuple(map(tuple, pads))  # hashable, for the cache
    dtype = x.dtype if x.dtype == kernel.dtype else np.result_type(x.dtype, kernel.dtype)
    key = ("conv", x.shape, kernel.shape, strides, pads, dilation, groups, padding_mode, dtype)

    def describe():
        padded = [n + b + a for n, (b, a) in zip(x.shape[1:-1], pads)]
        osize = _output_size(padded, kernel.shape[:-2], strides, dilation)
        return _describe(x.shape, kernel.shape, strides, pads, dilation, groups, padding_mode, osize)

    algorithm = dispatch.choose("conv", key, describe)
    workspace = WORKSPACE_BYTES
    if algorithm == "small":
        y = im2col.forward_small(x, kernel, strides, pads, dilation, dtype, key, keep)
    elif algorithm == "gemm":
        y = im2col.forward_gemm(x, kernel, strides, pads, groups, padding_mode, workspace, dtype)
    elif algorithm == "window":
        y = im2col.forward_window(x, kernel, strides, pads, padding_mode, workspace, dtype)
    elif algorithm in ("winograd", "winograd2"):
        m = 4 if algorithm == "winograd" else 2
        y = winograd.forward(x, kernel, pads, dilation, padding_mode, workspace, dtype, m)
    elif algorithm == "depthwise":
        y = depthwise.forward(x, kernel, strides, pads, dilation, padding_mode, workspace, dtype)
    else:
        y = im2col.forward(x, kernel, strides, pads, dilation, groups, padding_mode, workspace, dtype, keep)
    return y, algorithm


def conv_forward(
    x: np.ndarray,
    kernel: np.ndarray,
    strides,
    pads: Pads,
    dilation,
    groups: int = 1,
    padding_mode: str = "zeros",
    keep: dict | None = None,
) -> np.ndarray:
    """Grouped N-d cross-correlation.

    x: (batch, *spatial, in_channels); kernel: (*kernel_size, in_channels/groups,
    filters). Returns y: (batch, *output_size, filters). ``keep``, a dict, may
    receive the im2col columns for :func:`conv_kernel_grad` (a training step).
    """
    y, algorithm = _forward(x, kernel, strides, pads, dilation, groups, padding_mode, keep)
    dispatch.note("forward", algorithm)
    return y


# --------------------------------------------------------------------------
# transposed convolution
# --------------------------------------------------------------------------
def _transpose_geometry(in_size, kernel_size, strides, pads, dilation):
    """Output size and crop offset of a transposed conv whose zero-inserted
    input is padded by ``pads``."""
    k_eff = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    out_size = [(n - 1) * s + 1 + b + a - ke + 1 for n, s, (b, a), ke in zip(in_size, strides, pads, k_eff)]
    offset = [ke - 1 - b for ke, (b, _) in zip(k_eff, pads)]
    return out_size, offset


def _transpose(x, kernel, strides, dilation, offset, size, groups=1):
    """(y, algorithm): input pixel i, tap j lands at i*s + j*d - offset of y
    (batch, *size, out). kernel: (*k, out/groups, in)."""
    strides, dilation, offset, size = tuple(strides), tuple(dilation), tuple(offset), tuple(size)
    dtype = np.result_type(x.dtype, kernel.dtype)
    key = ("conv_transpose", x.shape, kernel.shape, strides, dilation, offset, size, groups, dtype)

    def describe():
        shape = _describe(x.shape, kernel.shape, strides, None, dilation, groups, "zeros", size)
        shape["offset"] = offset
        return shape

    algorithm = dispatch.choose("conv_transpose", key, describe)
    if algorithm == "subpixel":

        def conv(xs, sub, s, p, d, g):
            return _forward(xs, sub, s, p, d, g)[0]

        y = transpose.subpixel(x, kernel, strides, offset, size, groups, conv, dtype, WORKSPACE_BYTES)
    else:
        y = transpose.scatter(x, kernel, strides, dilation, offset, size, groups, WORKSPACE_BYTES, dtype)
    return y, algorithm


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
    filters = kernel.shape[-2]
    dtype = np.result_type(x.dtype, kernel.dtype)
    out_size, offset = _transpose_geometry(x.shape[1:-1], kernel_size, strides, pads, dilation)
    if x.size == 0 or min(out_size) <= 0:
        return np.zeros((x.shape[0], *[max(n, 0) for n in out_size], filters), dtype=dtype)
    y, algorithm = _transpose(x, kernel, strides, dilation, offset, out_size)
    dispatch.note("conv_transpose", algorithm)
    return y


# --------------------------------------------------------------------------
# backward passes
# --------------------------------------------------------------------------
def _flipped(kernel, groups):
    """The kernel of the stride-1 conv that is a conv's input gradient:
    (*k, in/G, F) -> (*k, F/G, in), taps reversed."""
    rank = kernel.ndim - 2
    flipped = kernel[(slice(None, None, -1),) * rank]
    return transpose.as_forward_kernel(flipped, groups)


def conv_input_grad(dy, kernel, strides, pads, dilation, input_size, groups=1, padding_mode="zeros"):
    """dx of :func:`conv_forward`. dy: (batch, *output_size, filters); returns
    (batch, *input_size, in_channels)."""
    kernel_size = kernel.shape[:-2]
    rank = len(kernel_size)
    input_size = tuple(input_size)
    k_eff = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    channels = groups * kernel.shape[-2]
    dtype = np.result_type(dy.dtype, kernel.dtype)
    padded = [n + b + a for n, (b, a) in zip(input_size, pads)]
    if dy.size == 0 or np.prod(input_size) == 0:
        return np.zeros((dy.shape[0], *input_size, channels), dtype=dtype)
    unit = all(s == 1 for s in strides)
    depthwise_form = groups == channels and kernel.shape[-2] == 1 and channels > 1
    if depthwise_form and not (unit and kernel.shape[-1] == channels):
        dx = depthwise.input_grad(
            dy, kernel, channels, strides, pads, dilation, input_size, padding_mode, WORKSPACE_BYTES, dtype
        )
        algorithm = "depthwise"
    elif unit and all(b <= ke - 1 and a <= ke - 1 for (b, a), ke in zip(pads, k_eff)):
        flipped = _flipped(kernel, groups)
        if padding_mode == "zeros":
            inner = [(ke - 1 - b, ke - 1 - a) for (b, a), ke in zip(pads, k_eff)]
            dx, algorithm = _forward(dy, flipped, (1,) * rank, inner, dilation, groups)
        else:
            full = [(ke - 1, ke - 1) for ke in k_eff]
            dxp, algorithm = _forward(dy, flipped, (1,) * rank, full, dilation, groups)
            dx = pad_spatial_backward(dxp, pads, padding_mode)
    elif padding_mode == "zeros":
        dx, algorithm = _transpose(dy, kernel, strides, dilation, [b for b, _ in pads], input_size, groups)
    else:
        dxp, algorithm = _transpose(dy, kernel, strides, dilation, [0] * rank, padded, groups)
        dx = pad_spatial_backward(dxp, pads, padding_mode)
    dispatch.note("input_grad", algorithm)
    return dx


def _kernel_grad(x, dy, kernel_shape, strides, pads, dilation, groups=1, padding_mode="zeros"):
    """(dkernel, algorithm) of :func:`conv_forward`."""
    kernel_shape = tuple(kernel_shape)
    strides, dilation, pads = tuple(strides), tuple(dilation), tuple(map(tuple, pads))
    dtype = x.dtype if x.dtype == dy.dtype else np.result_type(x.dtype, dy.dtype)
    key = ("kernel_grad", x.shape, dy.shape, kernel_shape, strides, pads, dilation, groups, padding_mode, dtype)

    def describe():
        return _describe(x.shape, kernel_shape, strides, pads, dilation, groups, padding_mode, dy.shape[1:-1])

    algorithm = dispatch.choose("kernel_grad", key, describe)
    workspace = WORKSPACE_BYTES
    if x.size == 0 or dy.size == 0:
        return np.zeros(kernel_shape, dtype=dtype), algorithm
    if algorithm == "small":
        dk = im2col.kernel_grad_small(x, dy, kernel_shape, strides, pads, dilation, dtype)
    elif algorithm == "gemm":
        dk = im2col.kernel_grad_gemm(x, dy, kernel_shape, strides, groups, dtype)
    elif algorithm == "window":
        dk = im2col.kernel_grad_window(x, dy, kernel_shape, strides, pads, padding_mode, workspace, dtype)
    elif algorithm in ("winograd", "winograd2"):
        m = 4 if algorithm == "winograd" else 2
        dk = winograd.kernel_grad(x, dy, pads, dilation, padding_mode, workspace, dtype, m)
    elif algorithm == "depthwise":
        dk = depthwise.kernel_grad(x, dy, kernel_shape, strides, pads, dilation, padding_mode, workspace, dtype)
    else:
        dk = im2col.kernel_grad(x, dy, kernel_shape, strides, pads, dilation, groups, padding_mode, workspace, dtype)
    return dk, algorithm


def conv_kernel_grad(x, dy, kernel_shape, strides, pads, dilation, groups=1, padding_mode="zeros", kept=None):
    """dkernel of :func:`conv_forward`: the windows of x contracted with dy.
    Returns an array of ``kernel_shape`` (*kernel_size, in/groups, filters).
    ``kept``: the dict given to the forward call as ``keep``; its columns, if
    any, replace a second im2col."""
    cols = kept.get("cols") if kept else None
    if cols is not None and cols.dtype == np.result_type(x.dtype, dy.dtype):
        dispatch.note("kernel_grad", "im2col")
        return im2col.kernel_grad_from_columns(cols, dy, tuple(kernel_shape))
    dk, algorithm = _kernel_grad(x, dy, kernel_shape, strides, pads, dilation, groups, padding_mode)
    dispatch.note("kernel_grad", algorithm)
    return dk


def _transpose_source(dy, in_size, kernel_size, strides, pads, dilation):
    """dy as the padded input of the forward conv that is the transposed conv's
    adjoint: (a slice of dy, pads around it), so the forward conv pads block
    by block instead of copying all of dy."""
    _, offset = _transpose_geometry(in_size, kernel_size, strides, pads, dilation)
    needed = [(n - 1) * s + (k - 1) * d + 1 for n, s, k, d in zip(in_size, strides, kernel_size, dilation)]
    crop, width = [], []
    for o, need, size in zip(offset, needed, dy.shape[1:-1]):
        lo, hi = -o, -o + need  # the window of dy the adjoint reads
        start, stop = max(lo, 0), min(hi, size)
        if stop <= start:  # reads only zeros
            start = stop = 0
            crop.append(slice(0, 0))
            width.append((hi - lo, 0))
            continue
        crop.append(slice(start, stop))
        width.append((start - lo, hi - stop))
    return dy[(slice(None), *crop)], width


def conv_transpose_input_grad(dy, kernel, strides, pads, dilation, input_size):
    """dx of :func:`conv_transpose_forward`: a forward conv of dy."""
    kernel_size = kernel.shape[:-2]
    source, width = _transpose_source(dy, input_size, kernel_size, strides, pads, dilation)
    dx, algorithm = _forward(source, kernel, strides, width, dilation)
    dispatch.note("input_grad", algorithm)
    return dx


def conv_transpose_kernel_grad(x, dy, kernel_shape, strides, pads, dilation):
    """dkernel of :func:`conv_transpose_forward`, kernel (*k, filters, in)."""
    kernel_size = kernel_shape[:-2]
    source, width = _transpose_source(dy, x.shape[1:-1], kernel_size, strides, pads, dilation)
    dk, algorithm = _kernel_grad(source, x, kernel_shape, strides, width, dilation)
    dispatch.note("kernel_grad", algorithm)
    return dk
