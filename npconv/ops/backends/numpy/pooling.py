"""Pooling on numpy: the exact reference for every spec (float64 included),
and the fallback of every other backend.

Both kinds read x through one strided view of its windows
(:func:`~.primitives.windows`) and reduce it tap by tap, one whole-array
operation per position in the window, so no window is ever copied:

- max: the pads hold -inf, so they never win. NaN ranks above every number:
  a window holding a NaN gives NaN (as Keras computes on its JAX and torch
  backends; TensorFlow skips NaN, and gives the lowest finite float, not
  -inf, for a window of -inf);
- avg: the pads hold 0, and each window's sum is divided by the number of real
  (non-pad) pixels in it.

Backward, max pooling routes each window's dy to one pixel: its first maximum
in row-major order over the window (a NaN where the window holds one), never a
pad. That is TensorFlow's rule in 1-D and 2-D; in 3-D TensorFlow gives the
whole dy to every tied maximum. Average pooling spreads dy / count evenly.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product

import numpy as np

from ...registry import Algorithm
from .primitives import windows

NAME = "numpy"


def _taps(pool_size):
    """Every position in a window, in row-major order."""
    return product(*[range(k) for k in pool_size])


def _padded(x, pads, value):
    """x with ``value`` in the pads (x itself when there are none)."""
    if not any(b or a for b, a in pads):
        return x
    return np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=value)


def _view(spec, xp):
    """(batch, *output_size, *pool_size, channels): every window of the padded input."""
    return windows(xp, spec.pool_size, spec.strides, (1,) * spec.rank, spec.output_size)


def _tap_index(spec, tap):
    """Index of the padded-input pixels that ``tap`` reads, one per output pixel."""
    return (
        slice(None),
        *[slice(t, t + (o - 1) * s + 1, s) for t, o, s in zip(tap, spec.output_size, spec.strides)],
    )


def _crop(dxp, pads):
    """The real pixels of a padded array."""
    return dxp[(slice(None), *[slice(b, dxp.shape[i + 1] - a) for i, (b, a) in enumerate(pads)])]


def _real(spec, tap):
    """Whether ``tap`` of each window reads a real pixel (not a pad): a boolean
    array shaped (1, *output_size, 1), or None where it always does."""
    mask = None
    for axis, (n, (before, _), t, o, s) in enumerate(
        zip(spec.x_shape[1:-1], spec.pads, tap, spec.output_size, spec.strides)
    ):
        index = np.arange(o) * s + t - before
        real = (index >= 0) & (index < n)
        if real.all():
            continue
        real = real.reshape([-1 if i == axis + 1 else 1 for i in range(spec.rank + 2)])
        mask = real if mask is None else mask & real
    return mask


@lru_cache(maxsize=256)
def window_counts(spec) -> np.ndarray:
    """The real (non-pad) pixels in each window, shaped (1, *output_size, 1),
    in the spec's dtype (read-only; cached per spec)."""
    counts = np.ones((1,) * (spec.rank + 2), dtype=spec.dtype)
    for axis, (n, k, s, (before, _), o) in enumerate(
        zip(spec.x_shape[1:-1], spec.pool_size, spec.strides, spec.pads, spec.output_size)
    ):
        start = np.arange(o) * s - before
        real = np.minimum(start + k, n) - np.maximum(start, 0)
        counts = counts * real.reshape([-1 if i == axis + 1 else 1 for i in range(spec.rank + 2)]).astype(spec.dtype)
    counts.setflags(write=False)
    return counts


# ----------------------------------------------------------------------- max
def max_forward(spec, x, keep=None):
    """y: (batch, *output_size, channels), each window's maximum (one np.maximum per tap)."""
    x = np.asarray(x, dtype=spec.dtype)
    xp = _padded(x, spec.pads, -np.inf)
    view = _view(spec, xp)
    lead = (slice(None),) * (spec.rank + 1)
    taps = _taps(spec.pool_size)
    y = view[lead + next(taps)].copy()
    for tap in taps:
        np.maximum(y, view[lead + tap], out=y)
    if keep is not None:
        keep["padded"] = xp
    return y


def max_backward(spec, dy, kept):
    """dx: (batch, *spatial, channels), each window's dy at its first maximum.

    ``kept``: the forward's ``keep`` dict, with ``x`` and ``y`` (and the padded x
    when the numpy forward ran)."""
    dy = np.asarray(dy, dtype=spec.dtype)
    y = kept["y"]
    xp = kept.get("padded")
    if xp is None:
        xp = _padded(np.asarray(kept["x"], dtype=spec.dtype), spec.pads, 0)  # the pads are masked out below
    view = _view(spec, xp)
    lead = (slice(None),) * (spec.rank + 1)
    nan = np.isnan(y)
    nan = nan if nan.any() else None
    dxp = np.zeros(xp.shape, dtype=spec.dtype)
    taken = np.zeros(y.shape, dtype=bool)
    disjoint = all(k <= s for k, s in zip(spec.pool_size, spec.strides))  # each pixel in one window at most
    for tap in _taps(spec.pool_size):
        value = view[lead + tap]
        hit = value == y
        if nan is not None:
            hit |= np.isnan(value) & nan
        real = _real(spec, tap)
        if real is not None:
            hit &= real
        hit &= ~taken
        taken |= hit
        region = dxp[_tap_index(spec, tap)]
        if disjoint:
            np.copyto(region, dy, where=hit)
        else:
            np.add(region, dy, out=region, where=hit)
    return _crop(dxp, spec.pads)


# ----------------------------------------------------------------------- average
def avg_forward(spec, x, keep=None):
    """y: (batch, *output_size, channels), each window's sum over its real pixels / their count."""
    x = np.asarray(x, dtype=spec.dtype)
    view = _view(spec, _padded(x, spec.pads, 0))
    lead = (slice(None),) * (spec.rank + 1)
    total = np.zeros(spec.y_shape, dtype=spec.dtype)
    for tap in _taps(spec.pool_size):
        total += view[lead + tap]
    total /= window_counts(spec)
    return total


def avg_backward(spec, dy, kept=None):
    """dx: (batch, *spatial, channels), each window's dy / count added to its real pixels."""
    share = np.asarray(dy, dtype=spec.dtype) / window_counts(spec)
    padded = [n + b + a for n, (b, a) in zip(spec.x_shape[1:-1], spec.pads)]
    dxp = np.zeros((spec.x_shape[0], *padded, spec.x_shape[-1]), dtype=spec.dtype)
    for tap in _taps(spec.pool_size):
        dxp[_tap_index(spec, tap)] += share
    return _crop(dxp, spec.pads)


# ----------------------------------------------------------------------- registry
def pool_forward(spec, x, keep=None):
    """The forward pass of either kind."""
    return (max_forward if spec.kind == "max" else avg_forward)(spec, x, keep)


def pool_backward(spec, dy, kept=None):
    """The backward pass of either kind."""
    return (max_backward if spec.kind == "max" else avg_backward)(spec, dy, kept)


def _always(spec):
    return True


ALGORITHMS = (
    Algorithm(
        "windows",
        NAME,
        "pool_forward",
        _always,
        pool_forward,
        summary="any pooling: one strided view of the windows, one np.maximum (max, -inf pads) or one sum (average, divided by the real pixels) per tap",
    ),
    Algorithm(
        "windows",
        NAME,
        "pool_backward",
        _always,
        pool_backward,
        summary="any pooling: per tap, dy routed to the first maximum of each window (max) or dy / count added (average)",
    ),
)
