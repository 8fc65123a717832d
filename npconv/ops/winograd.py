"""Winograd F(m x m, 3 x 3) for 3x3, stride-1, 2-D convolutions, as batched matmuls.

Each output tile of m x m pixels reads an (m+2) x (m+2) input tile d:

    y_tile = A^T [ (G g G^T) (*) (B^T d B) ] A

so the 9 * m * m multiplications per tile and channel pair of the direct
method become (m+2)^2: 36 instead of 144 for F(4x4, 3x3), 16 instead of 36
for F(2x2, 3x3). Here every transform is one GEMM with a Kronecker product
(``kron(B^T, B^T) @ tiles``), and the element-wise product summed over input
channels is a batch of (m+2)^2 matmuls, (tiles, C) @ (C, F).

A dilated kernel splits into dilation^2 independent stride-1 convolutions, one
per phase (every d-th row and column); each runs as above. Work goes in
blocks of tile rows sized to stay in cache (and under the workspace cap).

x: (batch, height, width, channels); kernel: (3, 3, channels, filters).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .primitives import chunks, padded_block

# Bytes of per-block buffers Winograd aims for: small enough to stay in L2.
BLOCK_BYTES = 3 * 2**20

# Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016).
_MATRICES = {
    2: (
        [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]],
    ),
    4: (
        [
            [4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1],
        ],
        [
            [1 / 4, 0, 0],
            [-1 / 6, -1 / 6, -1 / 6],
            [-1 / 6, 1 / 6, -1 / 6],
            [1 / 24, 1 / 12, 1 / 6],
            [1 / 24, -1 / 12, 1 / 6],
            [0, 0, 1],
        ],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    ),
}


@cache
def transforms(m: int, dtype: str):
    """(kron(B^T, B^T), kron(G, G), kron(A^T, A^T)) for F(m x m, 3 x 3)."""
    bt, g, at = (np.array(a, dtype=np.float64) for a in _MATRICES[m])
    return np.kron(bt, bt).astype(dtype), np.kron(g, g), np.kron(at, at).astype(dtype)


def transform_kernel(kernel: np.ndarray, m: int, dtype) -> np.ndarray:
    """U = G g G^T for every (in, out) channel pair: (3, 3, C, F) -> ((m+2)^2, C, F),
    computed in float64."""
    _, kg, _ = transforms(m, np.dtype(dtype).name)
    channels, filters = kernel.shape[-2:]
    u = kg @ kernel.reshape(9, channels * filters).astype(np.float64)
    return u.reshape(-1, channels, filters).astype(dtype)


def _ceil(a, b):
    return -(-a // b)


def _geometry(x_shape, pads, dilation, m):
    """Output size, tiles per phase and the zero rows/cols to add so every tile is whole."""
    padded = [n + b + a for n, (b, a) in zip(x_shape[1:3], pads)]
    out = [p - 2 * d for p, d in zip(padded, dilation)]
    tiles = [_ceil(_ceil(o, d), m) for o, d in zip(out, dilation)]
    need = [d * (t * m + 2) for t, d in zip(tiles, dilation)]
    extra = [max(0, nd - p) for nd, p in zip(need, padded)]
    return out, tiles, extra


def _blocks(x, pads, padding_mode, dilation, m, filters, workspace, itemsize):
    """Yield (batch slice, tile-row slice, padded input block) in cache-sized blocks."""
    _, (th, tw), extra = _geometry(x.shape, pads, dilation, m)
    d0, d1 = dilation
    channels = x.shape[-1]
    width = x.shape[2] + pads[1][0] + pads[1][1] + extra[1]
    a2 = (m + 2) ** 2
    per_row = itemsize * (d0 * d1 * tw * (2 * a2 * channels + (a2 + m * m) * filters) + m * d0 * width * channels)
    for bs, rs in chunks(x.shape[0], th, per_row, min(workspace, BLOCK_BYTES)):
        start, stop = rs.start * m * d0, (rs.stop * m + 2) * d0
        yield bs, rs, padded_block(x[bs], pads, padding_mode, start, stop, extra)


def _input_tiles(xb, rows, tw, m, dilation, kb):
    """V = kron(B^T, B^T) @ tiles: ((m+2)^2, tiles, C). Every dilation phase is
    a tile axis: tile (p, r, q, t) reads xb[p + d0*(m*r + i), q + d1*(m*t + j)]."""
    a = m + 2
    d0, d1 = dilation
    n, channels = xb.shape[0], xb.shape[-1]
    s0, s1, s2, s3 = xb.strides
    tiles = np.empty((a, a, n, d0, rows, d1, tw, channels), dtype=kb.dtype)
    strides = (d0 * s1, d1 * s2, s0, s1, d0 * m * s1, s2, d1 * m * s2, s3)
    np.copyto(tiles, as_strided(xb, tiles.shape, strides, writeable=False))
    v = kb @ tiles.reshape(a * a, -1)
    return v.reshape(a * a, -1, channels)


def _natural(tiles):
    """(m, m, n, d0, rows, d1, tw, F) tile outputs -> a view indexed like the
    output block reshaped to (n, rows, m, d0, tw, m, d1, F)."""
    return tiles.transpose(2, 4, 0, 3, 6, 1, 5, 7)


def forward(x, kernel, pads, dilation, padding_mode, workspace, dtype, m=4):
    """y: (batch, out_h, out_w, filters) of the 3x3 stride-1 conv of x."""
    batch, _, _, channels = x.shape
    filters = kernel.shape[-1]
    out, (_, tw), _ = _geometry(x.shape, pads, dilation, m)
    y = np.empty((batch, *out, filters), dtype=dtype)
    if y.size == 0:
        return y
    kb, _, ka = transforms(m, np.dtype(dtype).name)
    u = transform_kernel(kernel, m, dtype)
    x = x.astype(dtype, copy=False)
    d0, d1 = dilation
    itemsize = np.dtype(dtype).itemsize
    for bs, rs, xb in _blocks(x, pads, padding_mode, dilation, m, filters, workspace, itemsize):
        n, rows = bs.stop - bs.start, rs.stop - rs.start
        v = _input_tiles(xb, rows, tw, m, dilation, kb)
        prod = np.matmul(v, u)  # ((m+2)^2, tiles, F)
        tiles = (ka @ prod.reshape(prod.shape[0], -1)).reshape(m, m, n, d0, rows, d1, tw, filters)
        full = (n, rows * m * d0, tw * m * d1, filters)
        target = y[bs, rs.start * m * d0 : rs.stop * m * d0]
        if target.shape == full:
            np.copyto(target.reshape(n, rows, m, d0, tw, m, d1, filters), _natural(tiles))
        else:
            block = np.empty((n, rows, m, d0, tw, m, d1, filters), dtype=dtype)
            np.copyto(block, _natural(tiles))
            target[...] = block.reshape(full)[:, : target.shape[1], : target.shape[2]]
    return y


def _dy_tiles(dy_block, rows, tw, m, dilation):
    """dy tiles (m*m, tiles*F) of an output block, zeros past its edges."""
    d0, d1 = dilation
    n, filters = dy_block.shape[0], dy_block.shape[-1]
    full = (n, rows * m * d0, tw * m * d1, filters)
    if dy_block.shape != full:
        padded = np.zeros(full, dtype=dy_block.dtype)
        padded[:, : dy_block.shape[1], : dy_block.shape[2]] = dy_block
        dy_block = padded
    tiles = np.empty((m, m, n, d0, rows, d1, tw, filters), dtype=dy_block.dtype)
    np.copyto(_natural(tiles), dy_block.reshape(n, rows, m, d0, tw, m, d1, filters))
    return tiles.reshape(m * m, -1)


def kernel_grad(x, dy, pads, dilation, padding_mode, workspace, dtype, m=4):
    """dkernel (3, 3, C, F) of the 3x3 stride-1 conv: dU = sum over tiles of
    V^T dM with dM = kron(A^T, A^T)^T @ dy tiles, then dk = kron(G, G)^T dU."""
    channels, filters = x.shape[-1], dy.shape[-1]
    _, (_, tw), _ = _geometry(x.shape, pads, dilation, m)
    kb, kg, ka = transforms(m, np.dtype(dtype).name)
    a2 = (m + 2) ** 2
    du = np.zeros((a2, channels, filters), dtype=dtype)
    x = x.astype(dtype, copy=False)
    dy = dy.astype(dtype, copy=False)
    d0 = dilation[0]
    itemsize = np.dtype(dtype).itemsize
    for bs, rs, xb in _blocks(x, pads, padding_mode, dilation, m, filters, workspace, itemsize):
        rows = rs.stop - rs.start
        v = _input_tiles(xb, rows, tw, m, dilation, kb)
        dy_block = dy[bs, rs.start * m * d0 : rs.stop * m * d0]
        dm = (ka.T @ _dy_tiles(dy_block, rows, tw, m, dilation)).reshape(a2, -1, filters)
        du += np.matmul(v.transpose(0, 2, 1), dm)
    dk = kg.T @ du.reshape(a2, -1).astype(np.float64)
    return dk.reshape(3, 3, channels, filters).astype(dtype)
