"""Activations on oneDNN: one ``dnnl_eltwise`` primitive per pass, run over the
array as one flat run of float32 elements.

Only the activations for which one primitive gives numpy's values run here,
NaN and +-Inf included (checked on the same inputs in tests/test_ops_eltwise.py),
and only where that was measured faster than numpy (docs/performance.md):

- forward: elu, leaky_relu (slope not 0), sigmoid, gelu (both forms), silu,
  mish, hard_silu. numpy keeps relu, tanh and the other cheap ones (one fast
  pass already), softplus and log_sigmoid (oneDNN's soft_relu is off by 2e-6
  near -20, a wrong sign there), exponential and the clips (oneDNN turns a NaN
  into Inf or a bound), and every option oneDNN has no exact form for;
- backward: sigmoid and tanh from y, gelu (exact form) and silu from x. numpy
  keeps relu, leaky_relu, elu, mish and hard_silu: oneDNN passes dy through at
  a NaN input (numpy gives NaN or the slope times dy), and elu's and mish's
  gradients underflow to 0 near -88 where numpy's do not.

Which activation reads x and which y in the backward pass is
:func:`npconv.activations.gradient_reads_output`'s choice; the ``*_use_dst_for_bwd``
algorithms serve those that read y.
"""

from __future__ import annotations

import ctypes as C
import inspect
import numbers

import numpy as np

from .... import activations
from ...registry import Algorithm
from . import NAME, Primitive, _attr, _md, cached, threads
from . import library as L

K = L.CONSTANTS
# Up to this many elements numpy runs: calling a primitive costs about 10 us more than
# numpy's passes over a few thousand floats (measured here; see docs/performance.md).
NUMPY_ELEMENTS = 1 << 10
_F32 = np.dtype("float32")


def _defaults(name):
    """The activation's keyword arguments with their default values."""
    parameters = inspect.signature(activations.ACTIVATIONS[name][0]).parameters
    return {key: p.default for key, p in parameters.items() if p.default is not inspect.Parameter.empty}


_DEFAULTS = {name: _defaults(name) for name in activations.ACTIVATIONS}


def _real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)


def _leaky(o):
    slope = o["negative_slope"]  # oneDNN's relu turns NaN into 0 with a zero slope
    return (K["dnnl_eltwise_relu"], float(slope), 0.0) if _real(slope) and slope != 0 else None


def _gelu(o, backward=False):
    approximate = o["approximate"]
    if approximate is False:
        return (K["dnnl_eltwise_gelu_erf"], 0.0, 0.0)
    if approximate is True and not backward:  # the tanh form's gradient is off by 3e-5 near -3
        return (K["dnnl_eltwise_gelu_tanh"], 0.0, 0.0)
    return None


# name -> options -> (algorithm, alpha, beta), or None where oneDNN has no exact form.
_FORWARD = {
    "elu": lambda o: (K["dnnl_eltwise_elu"], float(o["alpha"]), 0.0) if _real(o["alpha"]) else None,
    "leaky_relu": _leaky,
    "sigmoid": lambda o: (K["dnnl_eltwise_logistic"], 0.0, 0.0),
    "gelu": _gelu,
    "silu": lambda o: (K["dnnl_eltwise_swish"], 1.0, 0.0),
    "mish": lambda o: (K["dnnl_eltwise_mish"], 0.0, 0.0),
    "hard_silu": lambda o: (K["dnnl_eltwise_hardswish"], 1 / 6, 0.5),  # x * clip(x / 6 + 1/2, 0, 1)
}
_BACKWARD = {
    "sigmoid": lambda o: (K["dnnl_eltwise_logistic_use_dst_for_bwd"], 0.0, 0.0),
    "tanh": lambda o: (K["dnnl_eltwise_tanh_use_dst_for_bwd"], 0.0, 0.0),
    "gelu": lambda o: _gelu(o, backward=True),
    "silu": lambda o: (K["dnnl_eltwise_swish"], 1.0, 0.0),
}
_USE_DST = {K[name] for name in K if name.endswith("_use_dst_for_bwd")}


def _algorithm(table, spec):
    """(algorithm, alpha, beta) of this spec in ``table``, or None."""
    make = table.get(spec.activation)
    if make is None:
        return None
    options = {**_DEFAULTS[spec.activation], **spec.keywords}
    if len(options) != len(_DEFAULTS[spec.activation]):  # an unknown keyword: numpy says so
        return None
    return make(options)


def _applies_forward(spec):
    return spec.dtype == "float32" and spec.size > NUMPY_ELEMENTS and _algorithm(_FORWARD, spec) is not None


def _applies_backward(spec):
    return spec.dtype == "float32" and spec.size > NUMPY_ELEMENTS and _algorithm(_BACKWARD, spec) is not None


def _flat(spec):
    """The spec of the same call on a 1-d array: primitives are shared across shapes."""
    return spec._replace(shape=(spec.size,))


def _forward_pd(library, algorithm, md, prop):
    alg, alpha, beta = algorithm
    pd, attr = L.V(), _attr(library.lib)
    try:
        L.check(
            library.lib.dnnl_eltwise_forward_primitive_desc_create(
                C.byref(pd), library.engine, prop, alg, md, md, alpha, beta, attr
            ),
            "eltwise forward primitive descriptor",
        )
    finally:
        library.lib.dnnl_primitive_attr_destroy(attr)
    return pd


def _create_forward(spec):
    library, _ = L.load()
    src, dst = _md(library.lib, spec.shape, (1,)), _md(library.lib, spec.shape, (1,))
    pd = _forward_pd(library, _algorithm(_FORWARD, spec), src, K["dnnl_forward_inference"])
    return Primitive(library, pd, [K["DNNL_ARG_SRC"], K["DNNL_ARG_DST"]], [src, dst], threads(spec))


def _create_backward(spec):
    library, _ = L.load()
    lib = library.lib
    algorithm = _algorithm(_BACKWARD, spec)
    alg, alpha, beta = algorithm
    data, ddst, dsrc = (_md(lib, spec.shape, (1,)) for _ in range(3))
    hint = _forward_pd(library, algorithm, data, K["dnnl_forward_training"])
    pd, attr = L.V(), _attr(lib)
    try:
        L.check(
            lib.dnnl_eltwise_backward_primitive_desc_create(
                C.byref(pd), library.engine, alg, dsrc, ddst, data, alpha, beta, hint, attr
            ),
            "eltwise backward primitive descriptor",
        )
    finally:
        lib.dnnl_primitive_attr_destroy(attr)
        lib.dnnl_primitive_desc_destroy(hint)
    read = K["DNNL_ARG_DST"] if alg in _USE_DST else K["DNNL_ARG_SRC"]
    ids = [read, K["DNNL_ARG_DIFF_DST"], K["DNNL_ARG_DIFF_SRC"]]
    return Primitive(library, pd, ids, [data, ddst, dsrc], threads(spec))


def _memory_order(array):
    """The array's axes from the largest stride to the smallest: the order in which it
    lies in memory (channels_first outputs are channels_last views, for one)."""
    return tuple(sorted(range(array.ndim), key=lambda axis: -array.strides[axis]))


def _in_order(array, order):
    """The array transposed to ``order``, as contiguous float32 (a copy only where needed)."""
    return np.ascontiguousarray(np.asarray(array).transpose(order), dtype=_F32)


def _back_from(array, order):
    """Undo :func:`_in_order`'s transpose: a view in the caller's axis order."""
    return array.transpose(np.argsort(order))


# The runs return None when oneDNN refused the spec; the seam then asks numpy.
def forward(spec, x):
    """y = activation(x) on oneDNN; x: any shape, float32."""
    flat = _flat(spec)
    primitive = cached(("eltwise_forward", flat), lambda: _create_forward(flat))
    if primitive is None:
        return None
    x = np.asarray(x)
    order = _memory_order(x)  # y is laid out as x is, as numpy's ufuncs do
    x = _in_order(x, order)
    y = np.empty(x.shape, dtype=_F32)
    primitive(x, y)
    return _back_from(y, order)


def backward(spec, saved, dy):
    """dx on oneDNN from dy and ``saved`` (y where ``spec.from_output``, else x)."""
    if np.asarray(dy).dtype != _F32:  # dx comes in dy's dtype: numpy keeps it
        return None
    flat = _flat(spec)
    primitive = cached(("eltwise_backward", flat), lambda: _create_backward(flat))
    if primitive is None:
        return None
    dy = np.asarray(dy)
    order = _memory_order(dy)
    dy = _in_order(dy, order)
    dx = np.empty(dy.shape, dtype=_F32)
    primitive(_in_order(saved, order), dy, dx)
    return _back_from(dx, order)


ALGORITHMS = (
    Algorithm(
        "onednn",
        NAME,
        "eltwise_forward",
        _applies_forward,
        forward,
        summary="float32, above 2^10 elements: oneDNN's eltwise forward for elu, leaky_relu, sigmoid, gelu, silu, mish, hard_silu",
    ),
    Algorithm(
        "onednn",
        NAME,
        "eltwise_backward",
        _applies_backward,
        backward,
        summary="float32, above 2^10 elements: oneDNN's eltwise backward for sigmoid and tanh (from y), gelu and silu (from x)",
    ),
)
