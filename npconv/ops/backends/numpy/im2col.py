"""GEMM-based convolutions: im2col in bounded chunks, plain GEMM for 1x1
kernels, and a cached-gather path for tiny inputs.

x: (batch, *spatial, in_channels); kernel: (*kernel_size, in_channels/groups,
filters); pads: (pad_before, pad_after) per spatial dimension; y: (batch,
*output_size, filters). The slow, obvious version of all of them is
``windows(pad(x)) . kernel``; these only choose how much to materialise at once.
"""

from __future__ import annotations

from math import prod

import numpy as np

from .primitives import chunks, output_size, padded_block, windows


def group_kernel(kernel: np.ndarray, groups: int) -> np.ndarray:
    """(*k, cin, F) -> (groups, taps*cin, F/groups), rows ordered (taps, cin)."""
    *kernel_size, cin, filters = kernel.shape
    taps = prod(kernel_size)
    if groups == 1:
        return kernel.reshape(1, taps * cin, filters)
    w = kernel.reshape(taps, cin, groups, filters // groups).transpose(2, 0, 1, 3)
    return w.reshape(groups, taps * cin, filters // groups)


def _contract(view, w, groups, out2d):
    """out2d (rows, F) = windows view (..., *k, C) contracted with w (G, taps*cin, fo).
    Returns the columns (rows, taps*C) when groups == 1."""
    rows = out2d.shape[0]
    if groups == 1:
        cols = view.reshape(rows, w.shape[1])
        np.matmul(cols, w[0], out=out2d)
        return cols
    cols = view.reshape(rows, -1, groups, view.shape[-1] // groups).transpose(2, 0, 1, 3)
    cols = cols.reshape(groups, rows, w.shape[1])
    out2d.reshape(rows, groups, -1)[...] = np.matmul(cols, w).transpose(1, 0, 2)


# im2col works in blocks of about this many bytes even when the workspace cap
# allows more: columns that stay in cache between the copy and the GEMM are
# read back faster (measured here, 2 to 64 MiB: 4 MiB was fastest on every
# suite shape; 64 MiB blocks ran 10-65% slower).
BLOCK_BYTES = 4 * 2**20


def forward(x, kernel, strides, pads, dilation, groups, padding_mode, workspace, dtype, keep=None):
    """Grouped N-d cross-correlation by im2col, chunked by batch then rows.

    ``keep``: a dict that receives ``"cols"``, the (pixels, taps*C) columns, when
    they were built in one block (at most ``BLOCK_BYTES``), so that the kernel
    gradient of a training step is one GEMM instead of a second im2col."""
    kernel_size = kernel.shape[:-2]
    padded = [n + b + a for n, (b, a) in zip(x.shape[1:-1], pads)]
    osize = output_size(padded, kernel_size, strides, dilation)
    batch, channels, filters = x.shape[0], x.shape[-1], kernel.shape[-1]
    y = np.empty((batch, *osize, filters), dtype=dtype)
    if y.size == 0:
        return y
    w = group_kernel(kernel.astype(dtype, copy=False), groups)
    x = x.astype(dtype, copy=False)
    itemsize = np.dtype(dtype).itemsize
    rest = prod(osize[1:])
    k_eff0 = (kernel_size[0] - 1) * dilation[0] + 1
    per_row = itemsize * (rest * prod(kernel_size) * channels + strides[0] * prod(padded[1:]) * channels)
    if groups > 1:
        per_row += itemsize * rest * filters
    plan = chunks(batch, osize[0], per_row, min(workspace, BLOCK_BYTES))
    for bs, rs in plan:
        cols = None  # free the previous chunk's columns before building the next
        start, stop = rs.start * strides[0], (rs.stop - 1) * strides[0] + k_eff0
        xb = padded_block(x[bs], pads, padding_mode, start, stop)
        view = windows(xb, kernel_size, strides, dilation, (rs.stop - rs.start, *osize[1:]))
        out = y[bs, rs]
        cols = _contract(view, w, groups, out.reshape(-1, filters))
    if keep is not None and len(plan) == 1 and cols is not None:
        keep["cols"] = cols
    return y


def kernel_grad_from_columns(cols, dy, kernel_shape):
    """dkernel from the forward pass's kept columns: cols^T @ dy, one GEMM."""
    d = dy.reshape(-1, kernel_shape[-1]).astype(cols.dtype, copy=False)
    return (cols.T @ d).reshape(kernel_shape)


def forward_gemm(x, kernel, strides, pads, groups, padding_mode, workspace, dtype):
    """1x1 kernels: y = x[::s] @ kernel, one GEMM (per group), no windows."""
    if any(b or a for b, a in pads):
        return forward(x, kernel, strides, pads, (1,) * len(strides), groups, padding_mode, workspace, dtype)
    filters = kernel.shape[-1]
    xs = x[(slice(None), *[slice(None, None, s) for s in strides])].astype(dtype, copy=False)
    w = group_kernel(kernel.astype(dtype, copy=False), groups)
    y = np.empty((*xs.shape[:-1], filters), dtype=dtype)
    if y.size == 0:
        return y
    if groups == 1 and xs.flags.c_contiguous:
        np.matmul(xs.reshape(-1, xs.shape[-1]), w[0], out=y.reshape(-1, filters))
        return y
    per_item = xs[0].size * xs.itemsize * 2
    for bs, _ in chunks(xs.shape[0], 1, per_item, workspace):
        _contract(xs[bs], w, groups, y[bs].reshape(-1, filters))
    return y


_GATHERS: dict = {}


def _gather_plan(x_shape, kernel_shape, strides, pads, dilation, key=None):
    """(flat indices into one item's (pixels*channels [+1 zero]) values, whether
    the zero slot is used, output shape, columns per output pixel); cached
    under ``key`` (any hashable naming this shape)."""
    key = key or (x_shape, kernel_shape, strides, pads, dilation)
    plan = _GATHERS.get(key)
    if plan is not None:
        return plan
    spatial, channels = x_shape[1:-1], x_shape[-1]
    kernel_size = kernel_shape[:-2]
    rank = len(spatial)
    padded = [n + b + a for n, (b, a) in zip(spatial, pads)]
    osize = output_size(padded, kernel_size, strides, dilation)
    grids = np.meshgrid(
        *[np.arange(o) * s for o, s in zip(osize, strides)],
        *[np.arange(k) * d for k, d in zip(kernel_size, dilation)],
        indexing="ij",
    )
    flat = np.zeros(grids[0].shape, dtype=np.intp)
    inside = np.ones(grids[0].shape, dtype=bool)
    for axis in range(rank):
        pos = grids[axis] + grids[rank + axis] - pads[axis][0]
        inside &= (pos >= 0) & (pos < spatial[axis])
        flat = flat * spatial[axis] + pos
    zero = prod(spatial) * channels
    index = np.where(inside[..., None], flat[..., None] * channels + np.arange(channels), zero).reshape(-1)
    if len(_GATHERS) > 256:
        _GATHERS.clear()
    plan = _GATHERS[key] = (
        index,
        not inside.all(),
        (x_shape[0], *osize, kernel_shape[-1]),
        prod(kernel_size) * channels,
    )
    return plan


def _gathered_columns(x, index, needs_zero, columns, dtype):
    """The (pixels, taps*C) columns of x by one gather of a plan's flat indices."""
    if x.dtype != dtype:
        x = x.astype(dtype)
    batch, size = x.shape[0], prod(x.shape[1:])
    if needs_zero:
        flat = np.zeros((batch, size + 1), dtype=dtype)
        flat[:, :-1] = x.reshape(batch, size)
    else:
        flat = x.reshape(batch, size)
    cols = flat[0].take(index) if batch == 1 else flat.take(index, axis=1)
    return cols.reshape(-1, columns)


def forward_small(x, kernel, strides, pads, dilation, dtype, key=None, keep=None):
    """Tiny inputs: one gather with cached indices and one matrix product
    (``keep``: as in :func:`forward`)."""
    index, needs_zero, out_shape, columns = _gather_plan(x.shape, kernel.shape, strides, pads, dilation, key)
    cols = _gathered_columns(x, index, needs_zero, columns, dtype)
    w = kernel.reshape(columns, kernel.shape[-1])
    if w.dtype != dtype:
        w = w.astype(dtype)
    if keep is not None:
        keep["cols"] = cols
    return np.dot(cols, w).reshape(out_shape)


# --------------------------------------------------------------------------
# kernel gradients
# --------------------------------------------------------------------------
def kernel_grad_small(x, dy, kernel_shape, strides, pads, dilation, dtype):
    """Tiny inputs: the cached gather of :func:`forward_small`, then cols^T @ dy."""
    index, needs_zero, _, columns = _gather_plan(x.shape, kernel_shape, strides, pads, dilation)
    cols = _gathered_columns(x, index, needs_zero, columns, dtype)
    return kernel_grad_from_columns(cols, dy, kernel_shape)


def kernel_grad(x, dy, kernel_shape, strides, pads, dilation, groups, padding_mode, workspace, dtype):
    """dkernel: windows of x contracted with dy over batch and pixels, chunked."""
    *kernel_size, cin, filters = kernel_shape
    out_size = dy.shape[1:-1]
    channels = x.shape[-1]
    taps = prod(kernel_size)
    fo = filters // groups
    padded = [n + b + a for n, (b, a) in zip(x.shape[1:-1], pads)]
    grad = np.zeros((groups, taps * cin, fo), dtype=dtype)
    itemsize = np.dtype(dtype).itemsize
    rest = prod(out_size[1:])
    per_row = itemsize * (rest * taps * channels + strides[0] * prod(padded[1:]) * channels)
    k_eff0 = (kernel_size[0] - 1) * dilation[0] + 1
    x = x.astype(dtype, copy=False)
    dy = dy.astype(dtype, copy=False)
    for bs, rs in chunks(x.shape[0], out_size[0], per_row, min(workspace, BLOCK_BYTES)):
        start, stop = rs.start * strides[0], (rs.stop - 1) * strides[0] + k_eff0
        xb = padded_block(x[bs], pads, padding_mode, start, stop)
        view = windows(xb, kernel_size, strides, dilation, (rs.stop - rs.start, *out_size[1:]))
        d = dy[bs, rs]
        rows = d.size // filters
        if groups == 1:
            grad[0] += view.reshape(rows, taps * channels).T @ d.reshape(rows, filters)
            continue
        cols = view.reshape(rows, taps, groups, cin).transpose(2, 1, 3, 0).reshape(groups, taps * cin, rows)
        grad += np.matmul(cols, d.reshape(rows, groups, fo).transpose(1, 0, 2))
    grad = grad.reshape(groups, taps, cin, fo).transpose(1, 2, 0, 3)
    return grad.reshape(kernel_shape)


def kernel_grad_gemm(x, dy, kernel_shape, strides, groups, dtype):
    """1x1 kernels without pads: x[::s]^T @ dy (per group)."""
    filters, cin = kernel_shape[-1], kernel_shape[-2]
    xs = x[(slice(None), *[slice(None, (o - 1) * s + 1, s) for o, s in zip(dy.shape[1:-1], strides)])]
    a = xs.reshape(-1, x.shape[-1]).astype(dtype, copy=False)
    b = dy.reshape(-1, filters).astype(dtype, copy=False)
    if groups == 1:
        return (a.T @ b).reshape(kernel_shape)
    fo = filters // groups
    a = a.reshape(-1, groups, cin).transpose(1, 2, 0)
    b = b.reshape(-1, groups, fo).transpose(1, 0, 2)
    grad = np.matmul(a, b)  # (G, cin, fo)
    return grad.transpose(1, 0, 2).reshape(kernel_shape)
