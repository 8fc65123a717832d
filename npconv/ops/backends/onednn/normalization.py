"""Batch normalization on oneDNN: ``dnnl_batch_normalization_forward`` and ``_backward``.

It runs float32 specs of rank 2 to 5 whose features axis is oneDNN's channel
axis: the last one (channels_last) or axis 1 (channels_first), handed over as
logical (batch, channels, *spatial) dims described by the array's strides.
Other axes, other dtypes and empty arrays run on numpy.

The flags follow the spec: ``use_scale`` where gamma multiplies,
``use_shift`` where beta is added, and ``use_global_stats`` outside
training, where the given (moving) statistics are used and held constant in
the backward pass. In training the forward pass returns the batch's mean and
biased variance, as Keras's moments do, and the backward pass differentiates
through them. oneDNN computes ``1 / sqrt(variance + epsilon)`` itself, so it
is given the variance, never an inverse.
"""

from __future__ import annotations

import ctypes as C

import numpy as np

from ...registry import Algorithm
from . import library as L
from .binding import Primitive, _attr, _md, cached, threads

NAME = "onednn"
K = L.CONSTANTS
_F32 = np.dtype("float32")


def _applies(spec) -> bool:
    rank = len(spec.x_shape)
    return (
        spec.dtype == "float32" and 2 <= rank <= 5 and spec.axis in (1, rank - 1) and all(n > 0 for n in spec.x_shape)
    )


def _flags(spec) -> int:
    flags = 0 if spec.training else K["dnnl_use_global_stats"]
    flags |= K["dnnl_use_scale"] if spec.scale else 0
    return flags | (K["dnnl_use_shift"] if spec.center else 0)


def _data_md(lib, spec):
    """x (C-contiguous) as logical (batch, channels, *spatial) dims with its strides."""
    shape = spec.x_shape
    strides = [int(np.prod(shape[i + 1 :])) for i in range(len(shape))]
    order = (0, spec.axis, *[i for i in range(1, len(shape)) if i != spec.axis])
    return _md(lib, [shape[i] for i in order], [strides[i] for i in order])


def _vector_md(lib, spec):
    return _md(lib, (spec.features,), (1,))


def _forward_pd(library, spec, prop):
    lib = library.lib
    src, dst = _data_md(lib, spec), _data_md(lib, spec)
    pd, attr = L.V(), _attr(lib)
    try:
        L.check(
            lib.dnnl_batch_normalization_forward_primitive_desc_create(
                C.byref(pd), library.engine, prop, src, dst, spec.epsilon, _flags(spec), attr
            ),
            "batch normalization forward primitive descriptor",
        )
    except L.OneDNNError:
        lib.dnnl_memory_desc_destroy(src)
        lib.dnnl_memory_desc_destroy(dst)
        raise
    finally:
        lib.dnnl_primitive_attr_destroy(attr)
    return pd, src, dst


def _optional(lib, spec, ids, mds, names):
    """Append the gamma / beta arguments the spec uses: names = (for gamma, for beta)."""
    for wanted, name in zip((spec.scale, spec.center), names):
        if wanted and name is not None:
            ids.append(K[name])
            mds.append(_vector_md(lib, spec))


def _create_forward(spec):
    library, _ = L.load()
    lib = library.lib
    prop = K["dnnl_forward_training"] if spec.training else K["dnnl_forward_inference"]
    pd, src, dst = _forward_pd(library, spec, prop)
    ids = [K["DNNL_ARG_SRC"], K["DNNL_ARG_DST"], K["DNNL_ARG_MEAN"], K["DNNL_ARG_VARIANCE"]]
    mds = [src, dst, _vector_md(lib, spec), _vector_md(lib, spec)]
    _optional(lib, spec, ids, mds, ("DNNL_ARG_SCALE", "DNNL_ARG_SHIFT"))
    return Primitive(library, pd, ids, mds, threads(spec))


def _create_backward(spec):
    library, _ = L.load()
    lib = library.lib
    hint, hint_src, hint_dst = _forward_pd(library, spec, K["dnnl_forward_training"])
    lib.dnnl_memory_desc_destroy(hint_src)
    lib.dnnl_memory_desc_destroy(hint_dst)
    prop = K["dnnl_backward"] if spec.scale or spec.center else K["dnnl_backward_data"]
    src, diff_src, diff_dst = (_data_md(lib, spec) for _ in range(3))
    pd, attr = L.V(), _attr(lib)
    try:
        L.check(
            lib.dnnl_batch_normalization_backward_primitive_desc_create(
                C.byref(pd), library.engine, prop, diff_src, diff_dst, src, spec.epsilon, _flags(spec), hint, attr
            ),
            "batch normalization backward primitive descriptor",
        )
    except L.OneDNNError:
        for md in (src, diff_src, diff_dst):
            lib.dnnl_memory_desc_destroy(md)
        raise
    finally:
        lib.dnnl_primitive_attr_destroy(attr)
        lib.dnnl_primitive_desc_destroy(hint)
    ids = [K["DNNL_ARG_SRC"], K["DNNL_ARG_MEAN"], K["DNNL_ARG_VARIANCE"], K["DNNL_ARG_DIFF_DST"]]
    mds = [src, _vector_md(lib, spec), _vector_md(lib, spec), diff_dst]
    _optional(lib, spec, ids, mds, ("DNNL_ARG_SCALE", None))
    ids.append(K["DNNL_ARG_DIFF_SRC"])
    mds.append(diff_src)
    _optional(lib, spec, ids, mds, ("DNNL_ARG_DIFF_SCALE", "DNNL_ARG_DIFF_SHIFT"))
    return Primitive(library, pd, ids, mds, threads(spec))


def _contiguous(array):
    """array as C-contiguous float32 (the layout the primitives were made for)."""
    return np.ascontiguousarray(array, dtype=_F32)


def _vectors(spec, gamma, beta):
    vectors = [_contiguous(gamma)] if spec.scale else []
    return vectors + ([_contiguous(beta)] if spec.center else [])


# The runs return None when oneDNN refused the spec; the seam then asks numpy.
def forward(spec, x, gamma, beta, mean, variance):
    """(y, mean, variance) on oneDNN; see the numpy backend for the definition."""
    primitive = cached(("batchnorm_forward", spec), lambda: _create_forward(spec))
    if primitive is None:
        return None
    x = _contiguous(x)
    y = np.empty(spec.x_shape, dtype=_F32)
    if spec.training:
        mean, variance = np.empty(spec.features, dtype=_F32), np.empty(spec.features, dtype=_F32)
    else:
        mean, variance = _contiguous(mean), _contiguous(variance)
    primitive(x, y, mean, variance, *_vectors(spec, gamma, beta))
    return y, mean, variance


def backward(spec, x, dy, gamma, mean, variance):
    """(dx, dgamma or None, dbeta or None) on oneDNN, given the forward pass's statistics."""
    primitive = cached(("batchnorm_backward", spec), lambda: _create_backward(spec))
    if primitive is None:
        return None
    x, dy = _contiguous(x), _contiguous(dy)
    dx = np.empty(spec.x_shape, dtype=_F32)
    dgamma = np.empty(spec.features, dtype=_F32) if spec.scale else None
    dbeta = np.empty(spec.features, dtype=_F32) if spec.center else None
    arrays = [x, _contiguous(mean), _contiguous(variance), dy]
    arrays += [_contiguous(gamma)] if spec.scale else []
    arrays += [dx] + [a for a in (dgamma, dbeta) if a is not None]
    primitive(*arrays)
    return dx, dgamma, dbeta


ALGORITHMS = (
    Algorithm(
        "onednn",
        NAME,
        "batchnorm_forward",
        _applies,
        forward,
        summary="float32, rank 2-5, features on the last axis or axis 1: oneDNN's batch normalization forward (the batch's statistics in training, the moving ones otherwise)",
    ),
    Algorithm(
        "onednn",
        NAME,
        "batchnorm_backward",
        _applies,
        backward,
        summary="float32, rank 2-5, features on the last axis or axis 1: oneDNN's batch normalization backward, with dgamma and dbeta",
    ),
)
