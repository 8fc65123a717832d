"""Pooling on oneDNN: ``dnnl_pooling_forward`` and ``dnnl_pooling_backward``.

float32 specs of rank 1 to 3, channels_last or channels_first (arrays are
described to oneDNN by their strides, so nothing is copied on the way in or
out). Max pooling uses ``dnnl_pooling_max``; average pooling uses
``dnnl_pooling_avg_exclude_padding``, which divides each window's sum by its
real pixels, as Keras's padding='same' does.

A training forward pass (``spec.training``) runs ``dnnl_forward_training``, and
for max pooling keeps oneDNN's workspace (the position of each window's
maximum) for the backward pass; otherwise it runs ``dnnl_forward_inference``,
and a later backward pass of max pooling first recomputes the workspace.

Where oneDNN's rules differ from npconv's, the result is corrected here so the
numbers equal the numpy backend's (see :func:`pool_forward`, :func:`pool_backward`).
"""

from __future__ import annotations

import ctypes as C

import numpy as np

from ...registry import Algorithm
from . import library as L
from .binding import (
    NAME,
    K,
    Primitive,
    _activation_md,
    _attr,
    _channels_first,
    _empty_like_layout,
    _usable,
    cached,
    threads,
)

_ALGORITHM = {"max": "dnnl_pooling_max", "avg": "dnnl_pooling_avg_exclude_padding"}


def applies(spec) -> bool:
    """float32, rank 1-3, a non-empty input, and every pad below the pool size."""
    return (
        spec.dtype == "float32"
        and 1 <= spec.rank <= 3
        and all(n > 0 for n in spec.x_shape)
        and all(0 <= b < k and 0 <= a < k for (b, a), k in zip(spec.pads, spec.pool_size))
    )


# ----------------------------------------------------------------------- primitives
def _geometry(spec):
    """strides, kernel, dilation (0: none), padding_l, padding_r of a spec."""
    return (
        L.Dims(*spec.strides),
        L.Dims(*spec.pool_size),
        L.Dims(*[0] * spec.rank),
        L.Dims(*[b for b, _ in spec.pads]),
        L.Dims(*[a for _, a in spec.pads]),
    )


def _forward_pd(library, spec, src, dst, prop):
    lib = library.lib
    pd, attr = L.V(), _attr(lib)
    try:
        L.check(
            lib.dnnl_pooling_forward_primitive_desc_create(
                C.byref(pd), library.engine, prop, K[_ALGORITHM[spec.kind]], src, dst, *_geometry(spec), attr
            ),
            "pooling forward primitive descriptor",
        )
    finally:
        lib.dnnl_primitive_attr_destroy(attr)
    return pd


def _mds(spec, channels_first, x_strides=None):
    """src and dst descriptors: x as it lies (``x_strides``) or in the plain layout, y in the plain layout."""
    library, _ = L.load()
    lib = library.lib
    if x_strides is None:
        x_strides = _plain_strides(spec.x_shape, channels_first)
    src = _activation_md(lib, spec.x_shape, x_strides)
    dst = _activation_md(lib, spec.y_shape, _plain_strides(spec.y_shape, channels_first))
    return library, lib, src, dst


def _plain_strides(shape, channels_first):
    """The byte strides of a (batch, *spatial, channels) float32 array stored
    C-contiguous in this layout (as :func:`_empty_like_layout` makes it)."""
    dims = (shape[0], shape[-1], *shape[1:-1]) if channels_first else tuple(shape)
    strides, step = [], 4
    for n in reversed(dims):
        strides.append(step)
        step *= n
    strides.reverse()
    return (strides[0], *strides[2:], strides[1]) if channels_first else tuple(strides)


def _destroy(lib, *mds):
    for md in mds:
        lib.dnnl_memory_desc_destroy(md)


def _create_forward(spec, x_strides, channels_first, training):
    """The forward primitive; with ``training`` and max pooling it also writes the workspace."""
    library, lib, src, dst = _mds(spec, channels_first, x_strides)
    prop = K["dnnl_forward_training"] if training else K["dnnl_forward_inference"]
    try:
        pd = _forward_pd(library, spec, src, dst, prop)
    except L.OneDNNError:  # refused: the descriptors go, the cache remembers the refusal
        _destroy(lib, src, dst)
        raise
    return _with_workspace(library, pd, spec, [K["DNNL_ARG_SRC"], K["DNNL_ARG_DST"]], [src, dst])


def _create_backward(spec, channels_first):
    """The backward primitive (dx and dy plain in this layout), hinted by a training forward."""
    library, lib, src, dst = _mds(spec, channels_first)
    pd, attr, hint = L.V(), _attr(lib), None
    try:
        hint = _forward_pd(library, spec, src, dst, K["dnnl_forward_training"])
        L.check(
            lib.dnnl_pooling_backward_primitive_desc_create(
                C.byref(pd), library.engine, K[_ALGORITHM[spec.kind]], src, dst, *_geometry(spec), hint, attr
            ),
            "pooling backward primitive descriptor",
        )
    except L.OneDNNError:
        _destroy(lib, src, dst)
        raise
    finally:
        lib.dnnl_primitive_attr_destroy(attr)
        if hint is not None:
            lib.dnnl_primitive_desc_destroy(hint)
    return _with_workspace(library, pd, spec, [K["DNNL_ARG_DIFF_DST"], K["DNNL_ARG_DIFF_SRC"]], [dst, src])


def _with_workspace(library, pd, spec, ids, mds):
    """The primitive of ``pd``, with its workspace (max pooling's argmax) as a third
    argument when it has one (``workspace_bytes``: its size, 0 without)."""
    workspace = library.lib.dnnl_primitive_desc_query_md(pd, K["dnnl_query_workspace_md"], 0)
    if workspace:
        ids, mds = [*ids, K["DNNL_ARG_WORKSPACE"]], [*mds, workspace]
    primitive = Primitive(library, pd, ids, mds, threads(spec))
    primitive.borrowed = (2,) if workspace else ()  # the workspace descriptor is pd's
    primitive.workspace_bytes = library.lib.dnnl_memory_desc_get_size(workspace) if workspace else 0
    return primitive


# ----------------------------------------------------------------------- runs
def _forward(spec, x, training):
    """(y, workspace or None) on oneDNN; None when oneDNN refused the spec."""
    x = _usable(x)
    channels_first = _channels_first(x)
    key = ("pool_forward", spec, x.strides, training)
    primitive = cached(key, lambda: _create_forward(spec, x.strides, channels_first, training))
    if primitive is None:
        return None
    y = _empty_like_layout(spec.y_shape, channels_first)
    if primitive.workspace_bytes:
        workspace = np.empty(primitive.workspace_bytes, dtype=np.uint8)
        primitive(x, y, workspace)
        return y, workspace
    primitive(x, y)
    return y, None


def _special(x) -> bool:
    """Whether x holds a NaN or a -inf: the values oneDNN's max pooling treats
    differently from npconv (one reduction; np.min propagates NaN)."""
    return not x.min() > -np.inf


def _codes(x):
    """x's pixels as codes, in x's layout: 2 for NaN, 0 for -inf, 1 otherwise.

    Max-pooled, a window's code says what its max is: 2, NaN; 0, -inf (every
    real pixel is -inf); 1, the max oneDNN computed. The position of each
    window's maximal code is where npconv routes that window's gradient."""
    codes = (x > -np.inf).astype(np.float32)
    codes[np.isnan(x)] = 2
    return codes


def _max_forward(spec, x, training):
    """(y, what the backward pass needs) of max pooling, with npconv's rule for NaN and -inf."""
    result = _forward(spec, x, training)
    if result is None:
        return None
    y, workspace = result
    codes_workspace = None
    if _special(x):
        codes = _forward(spec, _codes(x), training)
        if codes is None:
            return None
        pooled, codes_workspace = codes
        y[pooled == 2] = np.nan
        y[pooled == 0] = -np.inf
    return y, (workspace, codes_workspace, _channels_first(y))


def pool_forward(spec, x, keep=None):
    """y: (batch, *output_size, channels), in x's layout.

    Max pooling: oneDNN skips NaN and starts each window at the lowest finite
    float, so when x holds a NaN or a -inf (found by one np.min), the windows
    are max-pooled again as codes (:func:`_codes`) and those whose maximum is
    NaN or -inf are set so. ``keep`` receives the workspaces for the backward pass.
    """
    if spec.kind == "avg":
        result = _forward(spec, x, False)
        return None if result is None else result[0]
    result = _max_forward(spec, x, spec.training)
    if result is None:
        return None
    y, saved = result
    if keep is not None and spec.training:
        keep["onednn_max"] = saved
    return y


def pool_backward(spec, dy, kept=None):
    """dx: (batch, *spatial, channels), in the forward's layout.

    Max pooling routes each window's dy to the position in oneDNN's workspace
    (the first maximum in scan order). Where the forward found NaN or -inf,
    the windows whose maximum is NaN or -inf route theirs by the codes'
    workspace instead (the first NaN; the first real pixel), in a second run."""
    if spec.kind == "avg":
        return _backward(spec, dy, None, _channels_first(dy))
    saved = kept.get("onednn_max") if kept else None
    if saved is None:  # an inference forward, or another backend's: recompute the workspaces
        result = _max_forward(spec, _usable(kept["x"]), True)
        if result is None:
            return None
        saved = result[1]
    workspace, codes_workspace, channels_first = saved
    if codes_workspace is None:
        return _backward(spec, dy, workspace, channels_first)
    y = kept["y"]
    special = np.isnan(y) | (y == -np.inf)
    dx = _backward(spec, np.where(special, 0, dy), workspace, channels_first)
    if dx is None:
        return None
    dx += _backward(spec, np.where(special, dy, 0), codes_workspace, channels_first)
    return dx


def _backward(spec, dy, workspace, channels_first):
    dy = _usable(dy)
    if dy.strides != _plain_strides(spec.y_shape, channels_first):  # the layout the primitive was made for
        dy = _copy_plain(dy, channels_first)
    primitive = cached(("pool_backward", spec, channels_first), lambda: _create_backward(spec, channels_first))
    if primitive is None:
        return None
    dx = _empty_like_layout(spec.x_shape, channels_first)
    if workspace is None:
        primitive(dy, dx)
    else:
        primitive(dy, dx, workspace)
    return dx


def _copy_plain(array, channels_first):
    plain = _empty_like_layout(array.shape, channels_first)
    plain[...] = array
    return plain


ALGORITHMS = (
    Algorithm(
        "onednn",
        NAME,
        "pool_forward",
        applies,
        pool_forward,
        summary="float32, rank 1-3: oneDNN's pooling forward (max, or average over the real pixels); where x holds NaN or -inf (one np.min finds it), max pooling pools a code array too and sets those windows to NaN or -inf; a training max pool keeps the workspace",
    ),
    Algorithm(
        "onednn",
        NAME,
        "pool_backward",
        applies,
        pool_backward,
        summary="float32, rank 1-3: oneDNN's pooling backward (max pooling from the forward's workspace, recomputed if none was kept; NaN and -inf windows routed by the code array's)",
    ),
)
