"""A slow, obviously-correct loop reference for every convolution npconv computes.

Nothing here is imported from npconv. Each function follows a definition
literally, one output pixel (or one input pixel, for the transposed conv) at a
time, vectorised only over the batch and the channels:

- forward conv: ``y[o] = sum_j xpad[o*s + j*d] . kernel[j]`` where ``xpad`` is x
  seen through an explicit index map for each padding mode (no ``np.pad``), and
  its gradients by the same loops, each product sent back where it came from;
- transposed conv: the scatter ``y[i*s + j*d - crop_before] += x[i] . kernel[j]``
  into the full output of length ``(n-1)*s + (k-1)*d + 1``, cropped by
  ``crop_before``/``crop_after`` (a negative crop extends with zeros);
- depthwise: output channel ``c*multiplier + m`` reads input channel ``c`` only;
- separable: depthwise, then an explicit sum over the middle channels.

Arrays are channels_last: ``x: (batch, *spatial, channels)``. Pads and crops are
lists of ``(before, after)`` pairs, one per spatial dimension.

The second half writes Keras 3's geometry rules (as its ops compute output
shapes and pads) out as plain formulas, so tests can turn ``padding='same'`` etc. into the explicit
amounts these loops take, without asking npconv.geometry.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

# --------------------------------------------------------------------------
# padding as index maps
# --------------------------------------------------------------------------


def source_index(p, n, mode):
    """Index into an unpadded axis of length n that padded position p reads,
    where p counts from the first real pixel (so p < 0 is in the before pad).
    Returns None for a zero."""
    if 0 <= p < n:
        return p
    if mode == "zeros":
        return None
    if mode == "replicate":
        return 0 if p < 0 else n - 1
    if mode == "circular":
        return p % n
    if mode == "reflect":
        # Mirror about the edge pixels without repeating them: ... 2 1 | 0 1 2 ... n-1 | n-2 ...
        if n == 1:
            return 0
        period = 2 * (n - 1)
        q = p % period
        return q if q < n else period - q
    raise ValueError(f"unknown padding mode {mode!r}")


def _padded_length(n, pads):
    return n + pads[0] + pads[1]


def _count_windows(padded, k, s, d):
    """How many o >= 0 have their last tap o*s + (k-1)*d inside the padded axis."""
    count = 0
    while count * s + (k - 1) * d < padded:
        count += 1
    return count


def per_dim(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


# --------------------------------------------------------------------------
# forward convolution
# --------------------------------------------------------------------------


def conv(x, kernel, strides=1, pads=None, dilation=1, groups=1, padding_mode="zeros"):
    """Grouped N-d cross-correlation.

    x: (batch, *spatial, in_channels); kernel: (*k, in_channels/groups, filters).
    Filter f belongs to group f // (filters/groups) and reads input channels
    group*cin .. group*cin + cin - 1.
    """
    x = np.asarray(x)
    kernel = np.asarray(kernel)
    rank = kernel.ndim - 2
    strides, dilation = per_dim(strides, rank), per_dim(dilation, rank)
    pads = [(0, 0)] * rank if pads is None else [tuple(p) for p in pads]
    spatial = x.shape[1:-1]
    ksize = kernel.shape[:-2]
    cin, filters = kernel.shape[-2], kernel.shape[-1]
    fout = filters // groups
    out_size = [
        _count_windows(_padded_length(n, p), k, s, d) for n, p, k, s, d in zip(spatial, pads, ksize, strides, dilation)
    ]
    dtype = np.result_type(x.dtype, kernel.dtype)
    y = np.zeros((x.shape[0], *out_size, filters), dtype=dtype)
    for o in itertools.product(*[range(m) for m in out_size]):
        for j in itertools.product(*[range(k) for k in ksize]):
            src = []
            for axis in range(rank):
                p = o[axis] * strides[axis] + j[axis] * dilation[axis] - pads[axis][0]
                src.append(source_index(p, spatial[axis], padding_mode))
            if any(i is None for i in src):
                continue
            pixel = x[(slice(None), *src)]  # (batch, in_channels)
            for g in range(groups):
                part = pixel[:, g * cin : (g + 1) * cin]
                y[(slice(None), *o, slice(g * fout, (g + 1) * fout))] += part @ kernel[j][:, g * fout : (g + 1) * fout]
    return y


def conv_grads(x, kernel, dy, strides=1, pads=None, dilation=1, groups=1, padding_mode="zeros"):
    """(dx, dkernel): the gradients of ``sum(conv(x, kernel, ...) * dy)``, by the loops of :func:`conv`.

    Where the forward added ``x[src] . kernel[j]`` into ``y[o]``, the backward adds
    ``dy[o] . kernel[j]^T`` into ``dx[src]`` and ``x[src]^T . dy[o]`` into ``dkernel[j]``
    (per group). A pad that reads a real pixel (reflect, replicate, circular) sends
    its gradient to that pixel; a zero pad sends none.
    """
    x, kernel, dy = np.asarray(x), np.asarray(kernel), np.asarray(dy)
    rank = kernel.ndim - 2
    strides, dilation = per_dim(strides, rank), per_dim(dilation, rank)
    pads = [(0, 0)] * rank if pads is None else [tuple(p) for p in pads]
    spatial, ksize = x.shape[1:-1], kernel.shape[:-2]
    cin, fout = kernel.shape[-2], kernel.shape[-1] // groups
    dtype = np.result_type(x.dtype, kernel.dtype, dy.dtype)
    dx, dkernel = np.zeros(x.shape, dtype), np.zeros(kernel.shape, dtype)
    for o in itertools.product(*[range(m) for m in dy.shape[1:-1]]):
        for j in itertools.product(*[range(k) for k in ksize]):
            src = []
            for axis in range(rank):
                p = o[axis] * strides[axis] + j[axis] * dilation[axis] - pads[axis][0]
                src.append(source_index(p, spatial[axis], padding_mode))
            if any(i is None for i in src):
                continue
            for g in range(groups):
                channels, filters = slice(g * cin, (g + 1) * cin), slice(g * fout, (g + 1) * fout)
                grad = dy[(slice(None), *o, filters)]  # (batch, fout)
                dx[(slice(None), *src, channels)] += grad @ kernel[j][:, filters].T
                dkernel[(*j, slice(None), filters)] += x[(slice(None), *src, channels)].T @ grad
    return dx, dkernel


# --------------------------------------------------------------------------
# transposed convolution
# --------------------------------------------------------------------------


def conv_transpose(x, kernel, strides=1, crops=None, dilation=1):
    """The scatter definition of a transposed conv.

    x: (batch, *spatial, in_channels); kernel: (*k, filters, in_channels)
    (Keras's layout). Every input pixel i and tap j add x[i] . kernel[j]^T at
    i*s + j*d - crop_before. The output has length
    (n-1)*s + (k-1)*d + 1 - crop_before - crop_after; a negative crop adds zeros.
    """
    x = np.asarray(x)
    kernel = np.asarray(kernel)
    rank = kernel.ndim - 2
    strides, dilation = per_dim(strides, rank), per_dim(dilation, rank)
    crops = [(0, 0)] * rank if crops is None else [tuple(c) for c in crops]
    spatial = x.shape[1:-1]
    ksize = kernel.shape[:-2]
    filters = kernel.shape[-2]
    full = [(n - 1) * s + (k - 1) * d + 1 for n, s, k, d in zip(spatial, strides, ksize, dilation)]
    out_size = [f - c[0] - c[1] for f, c in zip(full, crops)]
    dtype = np.result_type(x.dtype, kernel.dtype)
    y = np.zeros((x.shape[0], *[max(m, 0) for m in out_size], filters), dtype=dtype)
    for i in itertools.product(*[range(n) for n in spatial]):
        pixel = x[(slice(None), *i)]  # (batch, in_channels)
        for j in itertools.product(*[range(k) for k in ksize]):
            dest = [i[a] * strides[a] + j[a] * dilation[a] - crops[a][0] for a in range(rank)]
            if all(0 <= t < m for t, m in zip(dest, out_size)):
                y[(slice(None), *dest)] += pixel @ kernel[j].T
    return y


# --------------------------------------------------------------------------
# depthwise and separable
# --------------------------------------------------------------------------


def depthwise_conv(x, kernel, strides=1, pads=None, dilation=1, padding_mode="zeros"):
    """x: (batch, *spatial, channels); kernel: (*k, channels, multiplier).
    Output channel c*multiplier + m = sum_j x[..., c] * kernel[j, c, m]."""
    x = np.asarray(x)
    kernel = np.asarray(kernel)
    rank = kernel.ndim - 2
    strides, dilation = per_dim(strides, rank), per_dim(dilation, rank)
    pads = [(0, 0)] * rank if pads is None else [tuple(p) for p in pads]
    spatial = x.shape[1:-1]
    ksize = kernel.shape[:-2]
    channels, multiplier = kernel.shape[-2:]
    out_size = [
        _count_windows(_padded_length(n, p), k, s, d) for n, p, k, s, d in zip(spatial, pads, ksize, strides, dilation)
    ]
    dtype = np.result_type(x.dtype, kernel.dtype)
    y = np.zeros((x.shape[0], *out_size, channels * multiplier), dtype=dtype)
    for o in itertools.product(*[range(m) for m in out_size]):
        for j in itertools.product(*[range(k) for k in ksize]):
            src = [
                source_index(o[a] * strides[a] + j[a] * dilation[a] - pads[a][0], spatial[a], padding_mode)
                for a in range(rank)
            ]
            if any(i is None for i in src):
                continue
            pixel = x[(slice(None), *src)]  # (batch, channels)
            for c in range(channels):
                for m in range(multiplier):
                    y[(slice(None), *o, c * multiplier + m)] += pixel[:, c] * kernel[j][c, m]
    return y


def separable_conv(x, depthwise_kernel, pointwise_kernel, strides=1, pads=None, dilation=1, padding_mode="zeros"):
    """Depthwise, then y[..., f] = sum_c mid[..., c] * pointwise[0.., c, f]."""
    mid = depthwise_conv(x, depthwise_kernel, strides, pads, dilation, padding_mode)
    pointwise = np.asarray(pointwise_kernel)
    pointwise = pointwise.reshape(pointwise.shape[-2:])
    y = np.zeros((*mid.shape[:-1], pointwise.shape[-1]), dtype=np.result_type(mid.dtype, pointwise.dtype))
    for c in range(pointwise.shape[0]):
        for f in range(pointwise.shape[1]):
            y[..., f] += mid[..., c] * pointwise[c, f]
    return y


# --------------------------------------------------------------------------
# Keras 3's geometry rules, written out from Keras's definitions (not from npconv)
# --------------------------------------------------------------------------


def k_eff(k, d):
    return (k - 1) * d + 1


def keras_conv_pads(n, k, s, d, padding):
    """(before, after) of a forward conv in Keras: valid, TF SAME, or causal."""
    if padding == "valid":
        return (0, 0)
    if padding == "causal":
        return (d * (k - 1), 0)
    if padding == "same":
        total = max((math.ceil(n / s) - 1) * s + k_eff(k, d) - n, 0)
        return (total // 2, total - total // 2)
    if padding == "full":
        return (k_eff(k, d) - 1, k_eff(k, d) - 1)
    raise ValueError(padding)


def keras_conv_length(n, k, s, d, padding):
    """Keras's forward length (may be <= 0 for valid)."""
    if padding in ("same", "causal"):
        return (n - 1) // s + 1
    if padding == "valid":
        return (n - k_eff(k, d)) // s + 1
    raise ValueError(padding)


def keras_transpose_length(n, k, s, d, padding, op):
    """Keras's transposed length (base_conv_transpose / backend_utils)."""
    ke = k_eff(k, d)
    if padding == "valid":
        return (n - 1) * s + max(ke, s) if op is None else (n - 1) * s + ke + op
    if padding == "same":
        return n * s if op is None else (n - 1) * s + ke % 2 + op
    raise ValueError(padding)


def keras_transpose_crops(n, k, s, d, padding, op):
    """Keras's transposed conv as (crop_before, crop_after) of the full scatter output.

    From the explicit pads on the stride-dilated input: the full
    output corresponds to pads (k_eff-1, k_eff-1), so crop = (k_eff-1) - pad.
    """
    ke = k_eff(k, d)
    if padding == "valid":
        before = ke - 1
        after = ke - 1 + (op if op is not None else max(ke, s) - ke)
    elif padding == "same":
        pad_len = s + ke - 2 if op is None else ke + ke % 2 - 2 + op
        before = min(math.ceil(pad_len / 2), ke - 1)
        after = pad_len - before
    else:
        raise ValueError(padding)
    return (ke - 1 - before, ke - 1 - after)
