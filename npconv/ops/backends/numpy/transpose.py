"""Transposed convolutions (and strided input gradients, which are the same
operation) by two algorithms.

``scatter``: one GEMM of every input pixel with every kernel tap, then an
overlap-add of the taps into the output (prod(kernel_size) strided adds).

``subpixel``: the stride-phase decomposition. Output pixels o = p + s*q of one
phase p (per axis, 0 <= p < s) only meet the taps j with j = p + offset (mod s),
so each phase is a stride-1 forward conv of the input with that sub-kernel,
written to ``y[p::s]``. No overlap-add and no multiplications by inserted zeros.

Both take the input pixel i, tap j -> output index i*s + j*d - offset rule and
an output size, so callers can express any padding.

x: (batch, *spatial, in_channels); kernel: (*kernel_size, out_channels/groups,
in_channels) (Keras's transposed layout when groups == 1); input channel block
g (in_channels/groups wide) writes output channels g*out/groups ...
"""

from __future__ import annotations

from math import prod

import numpy as np

from .primitives import chunks, overlap_add


def as_forward_kernel(kernel: np.ndarray, groups: int) -> np.ndarray:
    """(*k, out/G, in) transposed layout -> (*k, in/G, out) forward layout, same taps."""
    *kernel_size, cout_g, cin = kernel.shape
    rank = len(kernel_size)
    w = kernel.reshape(*kernel_size, cout_g, groups, cin // groups)
    w = w.transpose(*range(rank), rank + 2, rank + 1, rank)  # (*k, fo, G, cout_g)
    return w.reshape(*kernel_size, cin // groups, groups * cout_g)


# Below this many output channels, ``scatter`` lays its GEMM result out
# channels-first, so every add runs along an image row instead of a pixel's channels.
CHANNELS_FIRST_BELOW = 32


def _landing(tap, n, s, d, offset, size, lo=0, hi=None):
    """Where tap j sends input pixels lo..hi-1 along one axis: (output phase,
    input slice, slice of that phase's pixels), or None when none lands inside."""
    hi = n if hi is None else hi
    start = tap * d - offset
    phase = start % s
    shift = (start - phase) // s
    count = len(range(phase, size, s))
    lo, hi = max(lo, -shift), min(hi, count - shift)
    if hi <= lo:
        return None
    return phase, slice(lo, hi), slice(lo + shift, hi + shift)


def scatter(x, kernel, strides, dilation, offset, size, groups, workspace, dtype):
    """y: (batch, *size, out_channels): one GEMM of a block of input rows with
    every tap, then each tap's products added into the output phase they land
    in. Adds go to a contiguous band per phase (so they run along whole rows),
    and each band is added into y once. Chunked by batch, then input rows."""
    if groups > 1:
        return _scatter_grouped(x, kernel, strides, dilation, offset, size, groups, workspace, dtype)
    kernel_size = kernel.shape[:-2]
    cout, cin = kernel.shape[-2:]
    taps = prod(kernel_size)
    y = np.zeros((x.shape[0], *size, cout), dtype=dtype)
    if x.size == 0 or y.size == 0:
        return y
    first = cout < CHANNELS_FIRST_BELOW
    w = kernel.astype(dtype, copy=False).reshape(taps, cout, cin)
    w = w.reshape(taps * cout, cin) if first else w.transpose(0, 2, 1)
    x = x.astype(dtype, copy=False)
    in_size = x.shape[1:-1]
    tap_list = list(np.ndindex(*kernel_size))
    rest = [
        [
            _landing(j, n, s, d, o, z)
            for j, n, s, d, o, z in zip(tap[1:], in_size[1:], strides[1:], dilation[1:], offset[1:], size[1:])
        ]
        for tap in tap_list
    ]
    counts = [[len(range(p, z, s)) for p in range(s)] for z, s in zip(size, strides)]
    per_row = np.dtype(dtype).itemsize * prod(in_size[1:]) * taps * cout * 2
    for bs, rs in chunks(x.shape[0], in_size[0], per_row, workspace):
        xc = x[bs, rs]
        n = xc.shape[0]
        pixels = xc.reshape(-1, cin)
        if first:  # (taps, cout, n, rows, ...): one GEMM, every plane's rows contiguous
            cols = (w @ pixels.T).reshape(taps, cout, n, *xc.shape[1:-1])
        else:  # (taps, n, rows, ..., cout)
            cols = np.matmul(pixels, w).reshape(taps, n, *xc.shape[1:-1], cout)
        landed = {}
        for t, tap in enumerate(tap_list):
            head = _landing(tap[0], in_size[0], strides[0], dilation[0], offset[0], size[0], rs.start, rs.stop)
            if head is None or not all(rest[t]):
                continue
            phase = (head[0], *[r[0] for r in rest[t]])
            src = (slice(head[1].start - rs.start, head[1].stop - rs.start), *[r[1] for r in rest[t]])
            landed.setdefault(phase, []).append((t, src, (head[2], *[r[2] for r in rest[t]])))
        for phase, items in landed.items():
            band_lo = min(dest[0].start for _, _, dest in items)
            band_hi = max(dest[0].stop for _, _, dest in items)
            shape = [band_hi - band_lo, *[counts[a][p] for a, p in enumerate(phase) if a]]
            band = np.zeros((cout, n, *shape) if first else (n, *shape, cout), dtype=dtype)
            for t, src, dest in items:
                dest = (slice(dest[0].start - band_lo, dest[0].stop - band_lo), *dest[1:])
                if first:
                    band[(slice(None), slice(None), *dest)] += cols[(t, slice(None), slice(None), *src)]
                else:
                    band[(slice(None), *dest)] += cols[(t, slice(None), *src)]
            rows = slice(phase[0] + band_lo * strides[0], phase[0] + band_hi * strides[0], strides[0])
            target = y[(bs, rows, *[slice(p, None, s) for p, s in zip(phase[1:], strides[1:])])]
            target += np.moveaxis(band, 0, -1) if first else band
    return y


def _scatter_grouped(x, kernel, strides, dilation, offset, size, groups, workspace, dtype):
    """Grouped form: per-group GEMMs, then one overlap-add of every tap."""
    kernel_size = kernel.shape[:-2]
    cout_g, cin = kernel.shape[-2:]
    taps = prod(kernel_size)
    fo = cin // groups
    batch = x.shape[0]
    y = np.zeros((batch, *size, groups * cout_g), dtype=dtype)
    if x.size == 0 or y.size == 0:
        return y
    w = kernel.astype(dtype, copy=False).reshape(taps, cout_g, groups, fo).transpose(2, 3, 0, 1)
    w = w.reshape(groups, fo, taps * cout_g)
    x = x.astype(dtype, copy=False)
    itemsize = np.dtype(dtype).itemsize
    per_row = itemsize * prod(x.shape[2:-1]) * taps * groups * cout_g * 2
    for bs, rs in chunks(batch, x.shape[1], per_row, workspace):
        xc = x[bs, rs]
        rows = xc.size // cin
        cols = np.matmul(xc.reshape(rows, groups, fo).transpose(1, 0, 2), w)
        cols = cols.reshape(groups, rows, taps, cout_g).transpose(1, 2, 0, 3)
        cols = cols.reshape(*xc.shape[:-1], *kernel_size, groups * cout_g)
        chunk_offset = [offset[0] - rs.start * strides[0], *offset[1:]]
        overlap_add(cols, strides, dilation, size, chunk_offset, out=y[bs])
    return y


def _phase_plan(n, k, s, offset, size, p):
    """For output phase p of one axis: (tap indices in correlation order,
    input start, input stop, pad before, pad after, output count) or None."""
    count = len(range(p, size, s))
    taps = [j for j in range(k) if (j - p - offset) % s == 0][::-1]
    if count == 0 or not taps:
        return (taps, count, None)
    c_min = (p + offset - taps[0]) // s
    last = count - 1 + c_min + len(taps) - 1
    start, stop = max(0, c_min), min(n, last + 1)
    if start >= stop:
        return (taps, count, None)
    return (taps, count, (start, stop, max(0, -c_min), max(0, last - (n - 1))))


def subpixel(x, kernel, strides, offset, size, groups, conv, dtype, workspace):
    """y: (batch, *size, out_channels) as one stride-1 conv per output phase,
    in batch chunks. ``conv(x, kernel, strides, pads, dilation, groups)`` runs
    a forward conv."""
    kernel_size = kernel.shape[:-2]
    rank = len(kernel_size)
    cout = groups * kernel.shape[-2]
    y = np.empty((x.shape[0], *size, cout), dtype=dtype)
    if y.size == 0:
        return y
    forward_kernel = as_forward_kernel(kernel.astype(dtype, copy=False), groups)
    plans = [
        [_phase_plan(n, k, s, o, z, p) for p in range(s)]
        for n, k, s, o, z in zip(x.shape[1:-1], kernel_size, strides, offset, size)
    ]
    per_item = np.dtype(dtype).itemsize * prod(size) * cout
    for bs, _ in chunks(x.shape[0], 1, per_item, workspace):
        for phase in np.ndindex(*strides):
            target = y[(bs, *[slice(p, None, s) for p, s in zip(phase, strides)])]
            if target.size == 0:
                continue
            axis_plans = [plans[a][p] for a, p in enumerate(phase)]
            if any(plan[2] is None for plan in axis_plans):
                target[...] = 0
                continue
            sub = forward_kernel[np.ix_(*[plan[0] for plan in axis_plans])]
            xs = x[(bs, *[slice(plan[2][0], plan[2][1]) for plan in axis_plans])]
            pads = [(plan[2][2], plan[2][3]) for plan in axis_plans]
            target[...] = conv(xs, sub, (1,) * rank, pads, (1,) * rank, groups)
    return y
