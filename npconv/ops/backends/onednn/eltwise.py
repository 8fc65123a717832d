"""Activations on oneDNN: ``dnnl_eltwise`` and ``dnnl_softmax`` primitives, run over
the array as it lies in memory (one flat run of float32 elements; softmax by rows).

An activation runs here only where oneDNN gives numpy's values, NaN and +-Inf
included, and where it was measured faster than numpy (docs/performance.md);
tests/test_ops_eltwise.py checks both passes on non-finite and extreme inputs.

- forward: elu, leaky_relu (a non-zero slope), sigmoid, gelu (both forms), silu,
  mish and hard_silu as one eltwise primitive; softmax and log_softmax over the
  last axis. numpy keeps relu, tanh and the clips (one fast numpy pass already;
  oneDNN's clips also turn NaN into a bound), exponential (oneDNN's turns NaN
  into Inf), softplus and log_sigmoid (oneDNN's soft_relu is 2e-6 off near -20,
  below 0 where softplus is positive), and any option without an exact form.
- backward: gelu (exact form), silu, elu (alpha 1), leaky_relu and hard_silu,
  all from x. numpy keeps the rest: mish (oneDNN's gradient is NaN from x = 88 up),
  sigmoid and tanh (numpy's ``dy * y * (1 - y)`` is as fast as the primitive).

Some match numpy on finite inputs only, so those runs first sum their inputs (a
cheap pass) and hand a call whose sums are not finite to numpy's formula: oneDNN's
softmax makes only the NaN entry of a row NaN (numpy the whole row); its backward
passes dy through at a NaN x where numpy gives NaN or the slope times dy, and its
gelu and silu gradients underflow to 0 near -6 and -100 where numpy's do not, which
an infinite dy turns into NaN instead of Inf. Which array the backward pass reads,
x or y, is :func:`npconv.activations.gradient_reads_output`'s choice.
"""

from __future__ import annotations

import ctypes as C
import inspect
import numbers

import numpy as np

from .... import activations
from ...registry import Algorithm, note
from ..numpy import eltwise as reference
from . import library as L
from .binding import NAME, Primitive, _attr, _md, cached, threads

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
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and bool(np.isfinite(value))


def _alg(name, alpha=0.0, beta=0.0):
    return (K[name], float(alpha), float(beta))


def _leaky(o, backward=False):
    slope = o["negative_slope"]  # with a zero slope oneDNN's relu forward turns NaN into 0
    return _alg("dnnl_eltwise_relu", slope) if _real(slope) and (slope != 0 or backward) else None


def _gelu(o, backward=False):
    if o["approximate"] is False:
        return _alg("dnnl_eltwise_gelu_erf")
    if o["approximate"] is True and not backward:  # the tanh form's gradient is 3e-5 off near -3
        return _alg("dnnl_eltwise_gelu_tanh")
    return None


# name -> options -> (algorithm, alpha, beta), or None where oneDNN has no exact form.
_FORWARD = {
    "elu": lambda o: _alg("dnnl_eltwise_elu", o["alpha"]) if _real(o["alpha"]) else None,
    "leaky_relu": _leaky,
    "sigmoid": lambda o: _alg("dnnl_eltwise_logistic"),
    "gelu": _gelu,
    "silu": lambda o: _alg("dnnl_eltwise_swish", 1.0),
    "mish": lambda o: _alg("dnnl_eltwise_mish"),
    "hard_silu": lambda o: _alg("dnnl_eltwise_hardswish", 1 / 6, 0.5),  # x * clip(x / 6 + 1/2, 0, 1)
}
_BACKWARD = {
    "gelu": lambda o: _gelu(o, backward=True),
    "silu": lambda o: _alg("dnnl_eltwise_swish", 1.0),
    # at x = 0 oneDNN's elu gradient is alpha, numpy's (and TensorFlow's) 1
    "elu": lambda o: _alg("dnnl_eltwise_elu", 1.0) if o["alpha"] == 1 and _real(o["alpha"]) else None,
    "leaky_relu": lambda o: _leaky(o, backward=True),
    "hard_silu": lambda o: _alg("dnnl_eltwise_hardswish", 1 / 6, 0.5),
}
_SOFTMAX = {"softmax": "dnnl_softmax_accurate", "log_softmax": "dnnl_softmax_log"}
_USE_DST = {K[name] for name in K if name.endswith("_use_dst_for_bwd")}


def _options(spec):
    """The spec's keyword arguments with the defaults filled in, or None for an unknown keyword."""
    defaults = _DEFAULTS[spec.activation]
    options = {**defaults, **spec.keywords}
    return options if len(options) == len(defaults) else None  # numpy names the bad keyword


def _algorithm(table, spec):
    """(algorithm, alpha, beta) of this spec in ``table``, or None."""
    make = table.get(spec.activation)
    options = None if make is None else _options(spec)
    return None if options is None else make(options)


def _rows(spec):
    """(rows, length) when a softmax spec normalises over its last axis only, else None."""
    options = _options(spec) if spec.activation in _SOFTMAX else None
    if options is None or not spec.shape:
        return None
    axis = options["axis"]
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    ndim = len(spec.shape)
    if len(axes) != 1 or not isinstance(axes[0], numbers.Integral) or isinstance(axes[0], bool):
        return None
    if axes[0] not in (-1, ndim - 1):
        return None
    return spec.size // spec.shape[-1], spec.shape[-1]


def _big_float32(spec):
    return spec.dtype == "float32" and spec.size > NUMPY_ELEMENTS


def _applies_forward(spec):
    return _big_float32(spec) and _algorithm(_FORWARD, spec) is not None


def _applies_softmax(spec):
    return _big_float32(spec) and _rows(spec) is not None


def _applies_backward(spec):
    return _big_float32(spec) and _algorithm(_BACKWARD, spec) is not None


# ----------------------------------------------------------------------- primitives
def _eltwise_pd(library, algorithm, md, prop):
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


def _plain_mds(library, shape, count):
    """``count`` descriptors of a C-contiguous float32 array of ``shape``."""
    strides = [int(np.prod(shape[i + 1 :])) for i in range(len(shape))]
    return [_md(library.lib, shape, strides) for _ in range(count)]


def _create_forward(spec):
    library, _ = L.load()
    src, dst = _plain_mds(library, spec.shape, 2)
    pd = _eltwise_pd(library, _algorithm(_FORWARD, spec), src, K["dnnl_forward_inference"])
    return Primitive(library, pd, [K["DNNL_ARG_SRC"], K["DNNL_ARG_DST"]], [src, dst], threads(spec))


def _create_backward(spec):
    library, _ = L.load()
    lib = library.lib
    algorithm = _algorithm(_BACKWARD, spec)
    data, ddst, dsrc = _plain_mds(library, spec.shape, 3)
    hint = _eltwise_pd(library, algorithm, data, K["dnnl_forward_training"])
    pd, attr = L.V(), _attr(lib)
    alg, alpha, beta = algorithm
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


def _create_softmax(spec):
    """spec.shape is (rows, length); the softmax runs along axis 1."""
    library, _ = L.load()
    src, dst = _plain_mds(library, spec.shape, 2)
    pd, attr = L.V(), _attr(library.lib)
    try:
        L.check(
            library.lib.dnnl_softmax_forward_primitive_desc_create(
                C.byref(pd),
                library.engine,
                K["dnnl_forward_inference"],
                K[_SOFTMAX[spec.activation]],
                src,
                dst,
                1,
                attr,
            ),
            "softmax forward primitive descriptor",
        )
    finally:
        library.lib.dnnl_primitive_attr_destroy(attr)
    return Primitive(library, pd, [K["DNNL_ARG_SRC"], K["DNNL_ARG_DST"]], [src, dst], threads(spec))


# ----------------------------------------------------------------------- arrays
def _memory_order(array):
    """The array's axes from the largest stride to the smallest: the order in which it
    lies in memory (a channels_first conv output is a channels_last view, for one)."""
    return tuple(sorted(range(array.ndim), key=lambda axis: -array.strides[axis]))


def _in_order(array, order):
    """The array transposed to ``order`` (None: as it is), as contiguous float32
    (a copy only where needed)."""
    array = np.asarray(array)
    if order is not None:
        array = array.transpose(order)
    return np.ascontiguousarray(array, dtype=_F32)


def _back_from(array, order):
    """Undo :func:`_in_order`'s transpose: a view in the caller's axis order."""
    return array if order is None else array.transpose(np.argsort(order))


def _finite(*arrays):
    """Whether every element is finite: one sum per array (an overflowing sum says
    no, which only sends that call to numpy)."""
    with np.errstate(all="ignore"):
        return all(np.isfinite(np.sum(array)) for array in arrays)


# The runs return None when oneDNN refused the spec; the seam then asks numpy.
def forward(spec, x):
    """y = activation(x) on oneDNN's eltwise primitive; x: any shape, float32."""
    flat = spec._replace(shape=(spec.size,))  # primitives are shared across shapes
    primitive = cached(("eltwise_forward", flat), lambda: _create_forward(flat))
    if primitive is None:
        return None
    x = np.asarray(x)
    order = None if x.flags.c_contiguous else _memory_order(x)  # y lies in memory as x does
    x = _in_order(x, order)
    y = np.empty(x.shape, dtype=_F32)
    primitive(x, y)
    return _back_from(y, order)


def activate(spec, y):
    """activation(y) after a convolution primitive that could not fuse it: this
    module's primitive where it takes the spec, else numpy's formula (either is
    noted for :func:`npconv.ops.record`)."""
    if _applies_forward(spec):
        out = forward(spec, y)
        if out is not None:
            note("eltwise_forward", NAME)
            return out
    note("eltwise_forward", reference.ALGORITHMS[0].name)
    return reference.forward(spec, y)


def softmax(spec, x):
    """softmax or log_softmax over the last axis on oneDNN."""
    if not _finite(x):
        return reference.forward(spec, x)
    rows = spec._replace(shape=_rows(spec), options=())
    primitive = cached(("softmax_forward", rows), lambda: _create_softmax(rows))
    if primitive is None:
        return None
    y = np.empty(spec.shape, dtype=_F32)
    primitive(_in_order(x, None), y)
    return y


def backward(spec, saved, dy):
    """dx on oneDNN from dy and ``saved`` (y where ``spec.from_output``, else x)."""
    dy = np.asarray(dy)
    if dy.dtype != _F32:  # dx comes in dy's dtype: numpy keeps it
        return reference.backward(spec, saved, dy)
    if not _finite(saved, dy):
        return reference.backward(spec, saved, dy)
    flat = spec._replace(shape=(spec.size,))
    primitive = cached(("eltwise_backward", flat), lambda: _create_backward(flat))
    if primitive is None:
        return None
    order = None if dy.flags.c_contiguous else _memory_order(dy)
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
        "eltwise_forward",
        _applies_softmax,
        softmax,
        summary="float32, above 2^10 elements, over the last axis: oneDNN's softmax forward for softmax and log_softmax (numpy where the input is not all finite)",
    ),
    Algorithm(
        "onednn",
        NAME,
        "eltwise_backward",
        _applies_backward,
        backward,
        summary="float32, above 2^10 elements: oneDNN's eltwise backward for gelu, silu, elu, leaky_relu, hard_silu (numpy where x or dy is not all finite)",
    ),
)
