"""Array primitives every convolution algorithm shares: padding (whole or a
block of rows), strided windows, their adjoint (overlap-add), and the plan
that splits work into batch, then row chunks under a workspace cap.

Arrays are channels_last: x: (batch, *spatial, channels). Pads are
``(pad_before, pad_after)`` per spatial dimension, decided by
:mod:`npconv.geometry`; nothing here decides a length.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
from numpy.lib.stride_tricks import as_strided

Pads = Sequence[tuple[int, int]]

_NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _source_rows(length: int, before: int, start: int, stop: int, mode: str) -> np.ndarray:
    """Source index along one axis for padded positions start..stop-1 (numpy's pad rules)."""
    p = np.arange(start - before, stop - before)
    if mode == "replicate":
        return np.clip(p, 0, length - 1)
    if mode == "circular":
        return p % length
    if length == 1:  # reflect
        return np.zeros_like(p)
    period = 2 * (length - 1)
    q = p % period
    return np.where(q < length, q, period - q)


def pad_spatial(x: np.ndarray, pads: Pads, padding_mode: str = "zeros") -> np.ndarray:
    """Pad the spatial axes of x: (batch, *spatial, channels). Pads are >= 0."""
    if not any(before or after for before, after in pads):
        return x
    if padding_mode != "zeros":
        return np.pad(x, [(0, 0), *pads, (0, 0)], mode=_NUMPY_PAD_MODES[padding_mode])
    return padded_block(x, pads, "zeros", 0, x.shape[1] + pads[0][0] + pads[0][1])


def padded_block(
    x: np.ndarray,
    pads: Pads,
    padding_mode: str,
    start: int,
    stop: int,
    extra: Sequence[int] | None = None,
) -> np.ndarray:
    """Rows ``start:stop`` (first spatial axis) of ``pad_spatial(x, pads, mode)``,
    built without padding the rest.

    ``extra`` adds zeros after the padded end of each spatial axis (rows past the
    padded length read as zeros too). Returns x itself (a view) when nothing
    needs padding. x: (batch, *spatial, channels).
    """
    rank = x.ndim - 2
    extra = extra or (0,) * rank
    rows = x.shape[1]
    padded = [n + b + a + e for n, (b, a), e in zip(x.shape[1:-1], pads, extra)]
    if start == 0 and stop == padded[0] and not any(b or a or e for (b, a), e in zip(pads, extra)):
        return x
    shape = (x.shape[0], stop - start, *padded[1:], x.shape[-1])
    if padding_mode == "zeros":
        out = np.zeros(shape, dtype=x.dtype)
        lo, hi = max(start, pads[0][0]), min(stop, pads[0][0] + rows)
        if lo < hi:
            dest = [slice(lo - start, hi - start)]
            dest += [slice(b, b + n) for n, (b, _) in zip(x.shape[2:-1], pads[1:])]
            out[(slice(None), *dest)] = x[:, lo - pads[0][0] : hi - pads[0][0]]
        return out
    true_stop = min(stop, rows + pads[0][0] + pads[0][1])
    block = np.take(x, _source_rows(rows, pads[0][0], start, max(true_stop, start), padding_mode), axis=1)
    if rank > 1:
        block = np.pad(block, [(0, 0), (0, 0), *pads[1:], (0, 0)], mode=_NUMPY_PAD_MODES[padding_mode])
    if block.shape == shape:
        return block
    out = np.zeros(shape, dtype=x.dtype)
    out[tuple(slice(0, n) for n in block.shape)] = block
    return out


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


def windows(x: np.ndarray, kernel_size, strides, dilation, output_size) -> np.ndarray:
    """A read-only view (batch, *output_size, *kernel_size, channels) of the
    strided, dilated windows of an already padded x: (batch, *spatial, channels)."""
    batch_stride, *spatial_strides, channel_stride = x.strides
    shape = (x.shape[0], *output_size, *kernel_size, x.shape[-1])
    step = [st * s for st, s in zip(spatial_strides, strides)]
    tap = [st * d for st, d in zip(spatial_strides, dilation)]
    return as_strided(x, shape, (batch_stride, *step, *tap, channel_stride), writeable=False)


def output_size(padded_size, kernel_size, strides, dilation) -> tuple:
    return tuple((n - ((k - 1) * d + 1)) // s + 1 for n, k, s, d in zip(padded_size, kernel_size, strides, dilation))


def overlap_add(cols: np.ndarray, strides, dilation, size, offset, out: np.ndarray | None = None) -> np.ndarray:
    """Scatter-add per-tap contributions: the adjoint of :func:`windows`.

    cols: (batch, *input_size, *kernel_size, channels). Input i, tap j lands at
    index i*s + j*d - offset of a zero array (batch, *size, channels); indices
    outside [0, size) are dropped. Returns that array, or adds into ``out``.
    """
    rank = len(size)
    batch, in_size = cols.shape[0], cols.shape[1 : 1 + rank]
    kernel_size, channels = cols.shape[1 + rank : 1 + 2 * rank], cols.shape[-1]
    if out is None:
        out = np.zeros((batch, *size, channels), dtype=cols.dtype)
    for tap in product(*[range(k) for k in kernel_size]):
        src, dest = [], []
        for t, d, o, n, s, z in zip(tap, dilation, offset, in_size, strides, size):
            first = t * d - o  # where input 0 lands
            lo, hi = max(0, -(first // s)), min(n, (z - 1 - first) // s + 1)
            if hi <= lo:
                break
            src.append(slice(lo, hi))
            dest.append(slice(first + lo * s, first + (hi - 1) * s + 1, s))
        else:
            out[(slice(None), *dest)] += cols[(slice(None), *src, *tap)]
    return out


def chunks(batch: int, rows: int, bytes_per_row: int, workspace: int, granularity: int = 1):
    """(batch slice, row slice) pairs covering batch x rows, each needing at most
    ``workspace`` bytes when one (item, row) needs ``bytes_per_row``: whole items
    while they fit, else one item at a time in blocks of rows (a multiple of
    ``granularity``, at least one block)."""
    per_item = max(bytes_per_row, 1) * rows
    if per_item <= workspace:
        step = max(1, workspace // per_item)
        return [(slice(b, min(b + step, batch)), slice(0, rows)) for b in range(0, batch, step)]
    block = max(granularity, workspace // max(bytes_per_row, 1) // granularity * granularity)
    return [(slice(b, b + 1), slice(r, min(r + block, rows))) for b in range(batch) for r in range(0, rows, block)]


def padded_box(x: np.ndarray, pads: Pads, padding_mode: str, starts, stops) -> np.ndarray:
    """The box ``starts:stops`` (padded coordinates, every spatial axis) of
    ``pad_spatial(x, pads, padding_mode)``, built without padding the rest."""
    spatial = x.shape[1:-1]
    shape = (x.shape[0], *[b - a for a, b in zip(starts, stops)], x.shape[-1])
    if padding_mode != "zeros":
        out = x
        for axis, (n, (before, _), a, b) in enumerate(zip(spatial, pads, starts, stops), start=1):
            out = np.take(out, _source_rows(n, before, a, b, padding_mode), axis=axis)
        return out
    out = np.zeros(shape, dtype=x.dtype)
    src, dest = [], []
    for n, (before, _), a, b in zip(spatial, pads, starts, stops):
        lo, hi = max(a, before), min(b, before + n)
        if lo >= hi:
            return out
        src.append(slice(lo - before, hi - before))
        dest.append(slice(lo - a, hi - a))
    out[(slice(None), *dest)] = x[(slice(None), *src)]
    return out


def interior_split(out_size, in_size, kernel_size, strides, dilation, pads):
    """Boxes of output indices (tuples of slices) covering the output, each
    with a flag: True for the one box whose windows lie inside the unpadded
    input (read in place), False for the border boxes that reach into the pads."""
    boxes, prefix = [], []
    for axis, (o, n, k, s, d, (before, _)) in enumerate(zip(out_size, in_size, kernel_size, strides, dilation, pads)):
        k_eff = (k - 1) * d + 1
        lo = min(o, -(-before // s))
        hi = max(lo, min(o, (n + before - k_eff) // s + 1))
        rest = tuple(slice(0, m) for m in out_size[axis + 1 :])
        if lo > 0:
            boxes.append(((*prefix, slice(0, lo), *rest), False))
        if hi < o:
            boxes.append(((*prefix, slice(hi, o), *rest), False))
        prefix.append(slice(lo, hi))
        if hi == lo:
            return boxes
    boxes.append((tuple(prefix), True))
    return boxes


def box_windows(x, box, inside, kernel_size, strides, dilation, pads, padding_mode):
    """The windows view (batch, *box size, *kernel_size, channels) for the
    output ``box``: on x itself for the interior box, on a small padded copy
    otherwise."""
    starts = [sl.start * s for sl, s in zip(box, strides)]
    stops = [(sl.stop - 1) * s + (k - 1) * d + 1 for sl, s, k, d in zip(box, strides, kernel_size, dilation)]
    if inside:
        src = x[(slice(None), *[slice(a - b, c - b) for a, c, (b, _) in zip(starts, stops, pads)])]
    else:
        src = padded_box(x, pads, padding_mode, starts, stops)
    return windows(src, kernel_size, strides, dilation, [sl.stop - sl.start for sl in box])
