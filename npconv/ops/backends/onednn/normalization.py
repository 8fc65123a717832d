"""Batch and layer normalization on oneDNN (``dnnl_batch_normalization_*``,
``dnnl_layer_normalization_*``), forward and backward.

Batch normalization runs float32 specs of rank 2 to 5 whose features axis is
oneDNN's channel axis: the last one (channels_last) or axis 1
(channels_first), handed over as logical (batch, channels, *spatial) dims
described by the array's strides. Layer normalization runs float32 specs
whose normalized axes are the trailing ones (any number of them), handed over
as (samples, features) rows; ``rms_scaling`` has no oneDNN counterpart. Other
axes, other dtypes and empty arrays run on numpy.

The flags follow the spec: ``use_scale`` where gamma multiplies,
``use_shift`` where beta is added, and, for batch normalization outside
training, ``use_global_stats``: the given (moving) statistics normalize and
are held constant in the backward pass. Otherwise the forward pass returns
the mean and biased variance it computed (the batch's, or each sample's), as
Keras's moments give them, and the backward pass differentiates through them.
oneDNN computes ``1 / sqrt(variance + epsilon)`` itself, so it is given the
variance, never an inverse.
"""

from __future__ import annotations

import ctypes as C
from math import prod

import numpy as np

from ...registry import Algorithm
from ...spec import LayerNormSpec, NormSpec
from . import library as L
from .binding import Primitive, _attr, _md, cached, threads

NAME = "onednn"
K = L.CONSTANTS
_F32 = np.dtype("float32")


def _batch_applies(spec) -> bool:
    rank = len(spec.x_shape)
    return (
        spec.dtype == "float32" and 2 <= rank <= 5 and spec.axis in (1, rank - 1) and all(n > 0 for n in spec.x_shape)
    )


def _layer_applies(spec) -> bool:
    trailing = spec.axes == tuple(range(spec.axes[0], len(spec.x_shape)))
    return spec.dtype == "float32" and not spec.rms_scaling and trailing and all(n > 0 for n in spec.x_shape)


# ----------------------------------------------------------------------- descriptors
def _features(spec) -> int:
    """The length of gamma, beta (and, for batch normalization, the statistics)."""
    return prod(spec.weights_shape) if isinstance(spec, LayerNormSpec) else spec.x_shape[spec.axis]


def _data_md(lib, spec):
    """x (C-contiguous): layer norm (samples, features) rows; batch norm logical
    (batch, channels, *spatial) dims with x's strides."""
    if isinstance(spec, LayerNormSpec):
        features = _features(spec)
        return _md(lib, (prod(spec.x_shape) // features, features), (features, 1))
    shape = spec.x_shape
    strides = [prod(shape[i + 1 :]) for i in range(len(shape))]
    order = (0, spec.axis, *[i for i in range(1, len(shape)) if i != spec.axis])
    return _md(lib, [shape[i] for i in order], [strides[i] for i in order])


def _stats_count(spec) -> int:
    """The length of the mean and the variance: one per sample (layer norm) or per feature (batch norm)."""
    return prod(spec.x_shape) // _features(spec) if isinstance(spec, LayerNormSpec) else _features(spec)


def _stats_md(lib, spec):
    return _md(lib, (_stats_count(spec),), (1,))


def _vector_md(lib, spec):
    return _md(lib, (_features(spec),), (1,))


def _flags(spec) -> int:
    flags = K["dnnl_use_global_stats"] if isinstance(spec, NormSpec) and not spec.training else 0
    flags |= K["dnnl_use_scale"] if spec.scale else 0
    return flags | (K["dnnl_use_shift"] if spec.center else 0)


def _forward_pd(library, spec, prop):
    """(primitive descriptor, src md, dst md)."""
    lib = library.lib
    src, dst = _data_md(lib, spec), _data_md(lib, spec)
    pd, attr = L.V(), _attr(lib)
    stats = _stats_md(lib, spec) if isinstance(spec, LayerNormSpec) else None
    try:
        if stats is None:
            status = lib.dnnl_batch_normalization_forward_primitive_desc_create(
                C.byref(pd), library.engine, prop, src, dst, spec.epsilon, _flags(spec), attr
            )
        else:
            status = lib.dnnl_layer_normalization_forward_primitive_desc_create(
                C.byref(pd), library.engine, prop, src, dst, stats, spec.epsilon, _flags(spec), attr
            )
        L.check(status, "normalization forward primitive descriptor")
    except L.OneDNNError:
        lib.dnnl_memory_desc_destroy(src)
        lib.dnnl_memory_desc_destroy(dst)
        raise
    finally:
        lib.dnnl_primitive_attr_destroy(attr)
        if stats is not None:
            lib.dnnl_memory_desc_destroy(stats)
    return pd, src, dst


def _weights_args(lib, spec, ids, mds, names):
    """Append the gamma / beta arguments the spec uses: names = (for gamma, for beta)."""
    for wanted, name in zip((spec.scale, spec.center), names):
        if wanted and name is not None:
            ids.append(K[name])
            mds.append(_vector_md(lib, spec))


def _create_forward(spec):
    library, _ = L.load()
    lib = library.lib
    statistics_out = isinstance(spec, LayerNormSpec) or spec.training
    prop = K["dnnl_forward_training"] if statistics_out else K["dnnl_forward_inference"]
    pd, src, dst = _forward_pd(library, spec, prop)
    ids = [K["DNNL_ARG_SRC"], K["DNNL_ARG_DST"], K["DNNL_ARG_MEAN"], K["DNNL_ARG_VARIANCE"]]
    mds = [src, dst, _stats_md(lib, spec), _stats_md(lib, spec)]
    _weights_args(lib, spec, ids, mds, ("DNNL_ARG_SCALE", "DNNL_ARG_SHIFT"))
    return Primitive(library, pd, ids, mds, threads(spec))


def _backward_pd(library, spec, diff_src, diff_dst, src, hint):
    lib = library.lib
    prop = K["dnnl_backward"] if spec.scale or spec.center else K["dnnl_backward_data"]
    pd, attr = L.V(), _attr(lib)
    try:
        if isinstance(spec, LayerNormSpec):
            stats = _stats_md(lib, spec)
            try:
                status = lib.dnnl_layer_normalization_backward_primitive_desc_create(
                    C.byref(pd),
                    library.engine,
                    prop,
                    diff_src,
                    diff_dst,
                    src,
                    stats,
                    spec.epsilon,
                    _flags(spec),
                    hint,
                    attr,
                )
            finally:
                lib.dnnl_memory_desc_destroy(stats)
        else:
            status = lib.dnnl_batch_normalization_backward_primitive_desc_create(
                C.byref(pd), library.engine, prop, diff_src, diff_dst, src, spec.epsilon, _flags(spec), hint, attr
            )
        L.check(status, "normalization backward primitive descriptor")
    finally:
        lib.dnnl_primitive_attr_destroy(attr)
    return pd


def _needs_shift(spec) -> bool:
    """Whether the backward primitive takes beta: with use_shift, layer normalization's
    backward execution fails (status 2) without a shift among its inputs, though no
    gradient depends on beta (it is given zeros); batch normalization's fails with one."""
    return spec.center and isinstance(spec, LayerNormSpec)


def _create_backward(spec):
    library, _ = L.load()
    lib = library.lib
    hint, hint_src, hint_dst = _forward_pd(library, spec, K["dnnl_forward_training"])
    lib.dnnl_memory_desc_destroy(hint_src)
    lib.dnnl_memory_desc_destroy(hint_dst)
    src, diff_src, diff_dst = (_data_md(lib, spec) for _ in range(3))
    try:
        pd = _backward_pd(library, spec, diff_src, diff_dst, src, hint)
    except L.OneDNNError:
        for md in (src, diff_src, diff_dst):
            lib.dnnl_memory_desc_destroy(md)
        raise
    finally:
        lib.dnnl_primitive_desc_destroy(hint)
    ids = [K["DNNL_ARG_SRC"], K["DNNL_ARG_MEAN"], K["DNNL_ARG_VARIANCE"], K["DNNL_ARG_DIFF_DST"]]
    mds = [src, _stats_md(lib, spec), _stats_md(lib, spec), diff_dst]
    _weights_args(lib, spec, ids, mds, ("DNNL_ARG_SCALE", "DNNL_ARG_SHIFT" if _needs_shift(spec) else None))
    ids.append(K["DNNL_ARG_DIFF_SRC"])
    mds.append(diff_src)
    _weights_args(lib, spec, ids, mds, ("DNNL_ARG_DIFF_SCALE", "DNNL_ARG_DIFF_SHIFT"))
    return Primitive(library, pd, ids, mds, threads(spec))


# ----------------------------------------------------------------------- runs
def _contiguous(array):
    """array as C-contiguous float32 (the layout the primitives were made for)."""
    return np.ascontiguousarray(array, dtype=_F32)


def _weights(spec, gamma, beta):
    arrays = [_contiguous(gamma)] if spec.scale else []
    return arrays + ([_contiguous(beta)] if spec.center else [])


def _family(spec) -> str:
    return "layernorm" if isinstance(spec, LayerNormSpec) else "batchnorm"


def _forward(spec, x, gamma, beta, mean=None, variance=None):
    """(y, mean, variance); the statistics computed here unless given (batch norm in inference)."""
    primitive = cached((_family(spec) + "_forward", spec), lambda: _create_forward(spec))
    if primitive is None:
        return None
    x = _contiguous(x)
    y = np.empty(spec.x_shape, dtype=_F32)
    if mean is None:
        mean, variance = np.empty(_stats_count(spec), dtype=_F32), np.empty(_stats_count(spec), dtype=_F32)
    else:
        mean, variance = _contiguous(mean), _contiguous(variance)
    primitive(x, y, mean, variance, *_weights(spec, gamma, beta))
    return y, mean, variance


def _backward(spec, x, dy, gamma, mean, variance):
    """(dx, dgamma or None, dbeta or None), the last two flat."""
    primitive = cached((_family(spec) + "_backward", spec), lambda: _create_backward(spec))
    if primitive is None:
        return None
    x, dy = _contiguous(x), _contiguous(dy)
    dx = np.empty(spec.x_shape, dtype=_F32)
    dgamma = np.empty(_features(spec), dtype=_F32) if spec.scale else None
    dbeta = np.empty(_features(spec), dtype=_F32) if spec.center else None
    arrays = [x, _contiguous(mean), _contiguous(variance), dy]
    arrays += [_contiguous(gamma)] if spec.scale else []
    arrays += [np.zeros(_features(spec), dtype=_F32)] if _needs_shift(spec) else []
    arrays += [dx] + [a for a in (dgamma, dbeta) if a is not None]
    primitive(*arrays)
    return dx, dgamma, dbeta


# The runs return None when oneDNN refused the spec; the seam then asks numpy.
def batch_forward(spec, x, gamma, beta, mean, variance):
    """(y, mean, variance) of batch normalization; see the numpy backend for the definition."""
    if spec.training:
        mean = variance = None
    return _forward(spec, x, gamma, beta, mean, variance)


def batch_backward(spec, x, dy, gamma, mean, variance):
    """(dx, dgamma or None, dbeta or None) of batch normalization."""
    return _backward(spec, x, dy, gamma, mean, variance)


def layer_forward(spec, x, gamma, beta):
    """(y, mean, variance) of layer normalization, the statistics shaped ``spec.stats_shape``."""
    result = _forward(spec, x, None if gamma is None else gamma.reshape(-1), None if beta is None else beta.reshape(-1))
    if result is None:
        return None
    y, mean, variance = result
    return y, mean.reshape(spec.stats_shape), variance.reshape(spec.stats_shape)


def layer_backward(spec, x, dy, gamma, mean, variance):
    """(dx, dgamma or None, dbeta or None) of layer normalization, dgamma and dbeta shaped like gamma."""
    result = _backward(spec, x, dy, None if gamma is None else gamma.reshape(-1), mean, variance)
    if result is None:
        return None
    dx, dgamma, dbeta = result
    shape = spec.weights_shape
    return dx, None if dgamma is None else dgamma.reshape(shape), None if dbeta is None else dbeta.reshape(shape)


ALGORITHMS = (
    Algorithm(
        "onednn",
        NAME,
        "batchnorm_forward",
        _batch_applies,
        batch_forward,
        summary="float32, rank 2-5, features on the last axis or axis 1: oneDNN's batch normalization forward (the batch's statistics in training, the moving ones otherwise)",
    ),
    Algorithm(
        "onednn",
        NAME,
        "batchnorm_backward",
        _batch_applies,
        batch_backward,
        summary="float32, rank 2-5, features on the last axis or axis 1: oneDNN's batch normalization backward, with dgamma and dbeta",
    ),
    Algorithm(
        "onednn",
        NAME,
        "layernorm_forward",
        _layer_applies,
        layer_forward,
        summary="float32, the trailing axes normalized, without rms_scaling: oneDNN's layer normalization forward on (samples, features) rows",
    ),
    Algorithm(
        "onednn",
        NAME,
        "layernorm_backward",
        _layer_applies,
        layer_backward,
        summary="float32, the trailing axes normalized, without rms_scaling: oneDNN's layer normalization backward, with dgamma and dbeta",
    ),
)
