"""Dense on oneDNN: its matmul primitive (``dnnl_matmul``), one per pass.

- forward: ``y = x @ kernel``, with the bias and the activation fused as
  post-ops (the same NaN/Inf-correct eltwise chains as the convolutions);
- input gradient: ``dx = dy @ kernel.T``;
- kernel gradient: ``dkernel = x.T @ dy``; dbias is ``dy`` summed over the
  rows on numpy (one pass over dy, exactly as the numpy backend does it).

A transpose is never copied: each operand is described to oneDNN by its
strides, row-major or column-major, as it lies in memory. Arrays that are
neither (a strided slice) are copied once into row-major order.

It runs float32 specs with no empty dimension; anything else (float64, for
one) runs on numpy. Tiny products run on numpy by default too
(:data:`NUMPY_MACS`), but this backend still runs them when it is forced
(``set_algorithm('onednn')``).
"""

from __future__ import annotations

import ctypes as C

import numpy as np

from ...registry import Algorithm
from . import library as L
from .binding import _ELTWISE, _F32, NAME, Primitive, Refusal, _attr, _cache, _md, _usable, cached, threads

K = L.CONSTANTS
# Products up to this many multiply-adds run on numpy by default. Measured here (a shared
# 2-core AVX2 CPU, where oneDNN's matmul is its own jit GEMM, "gemm:jit:f32"): up to 2^21,
# where a primitive would run on one thread, numpy's one sgemm call was as fast or faster
# in each pass; the digits model's Dense(10) on a batch of 32 (32 * 1024 * 10, about
# 2^18.3) took about 170 us per training step (forward and backward) on numpy and 260 us
# on oneDNN. Far above it, a whole training step of the layer was about 2x faster on
# oneDNN (Dense(1024, relu) on (256, 1024): 52 ms against 103 ms, best of 15), though
# single passes in isolation were often on par.
NUMPY_MACS = 1 << 21


def _applies(spec) -> bool:
    return (
        spec.dtype == "float32"
        and spec.rows > 0
        and spec.in_features > 0
        and spec.units > 0
        and (spec.activation is None or spec.activation in _ELTWISE)
    )


def _matrix(array):
    """(array as float32, its layout "C" (row-major) or "F" (column-major)), copied only
    when it is neither."""
    array = _usable(array)
    if array.flags.c_contiguous:
        return array, "C"
    if array.flags.f_contiguous:
        return array, "F"
    return np.ascontiguousarray(array), "C"


def _matrix_md(lib, shape, layout):
    rows, cols = shape
    return _md(lib, (rows, cols), (cols, 1) if layout == "C" else (1, rows))


def _create(spec, shapes, layouts, bias, activation):
    """A matmul primitive: src (M, K) times weights (K, N) into a row-major dst (M, N),
    with a (1, N) bias and ``activation`` fused when asked."""
    library, _ = L.load()
    lib = library.lib
    mds = [_matrix_md(lib, shape, layout) for shape, layout in zip(shapes, (*layouts, "C"))]
    if bias:
        mds.append(_md(lib, (1, shapes[2][1]), (shapes[2][1], 1)))
    pd, attr = L.V(), _attr(lib, activation)
    try:
        L.check(
            lib.dnnl_matmul_primitive_desc_create(
                C.byref(pd), library.engine, mds[0], mds[1], mds[3] if bias else None, mds[2], attr
            ),
            "matmul primitive descriptor",
        )
    except L.OneDNNError:
        for md in mds:
            lib.dnnl_memory_desc_destroy(md)
        raise
    finally:
        lib.dnnl_primitive_attr_destroy(attr)
    ids = [K["DNNL_ARG_SRC"], K["DNNL_ARG_WEIGHTS"], K["DNNL_ARG_DST"]]
    if bias:
        ids.append(K["DNNL_ARG_BIAS"])
    primitive = Primitive(library, pd, ids, mds, threads(spec))
    return primitive


def _matmul(pass_, spec, a, b, out_shape, bias=None, activation=None):
    """a @ b (+ bias, activation) on oneDNN, or None when oneDNN refused it."""
    (a, a_layout), (b, b_layout) = _matrix(a), _matrix(b)
    key = (pass_, spec, a_layout, b_layout, bias is not None)
    primitive = _cache.get(key)  # the common case, without the lock (a dict read is atomic)
    if primitive is None or isinstance(primitive, Refusal):
        shapes = (a.shape, b.shape, out_shape)
        primitive = cached(key, lambda: _create(spec, shapes, (a_layout, b_layout), bias is not None, activation))
        if primitive is None:
            return None
    y = np.empty(out_shape, dtype=_F32)
    if bias is None:
        primitive(a, b, y)
    else:
        primitive(a, b, y, _usable(bias))
    return y


# The runs return None when oneDNN refused the spec; the seam then asks numpy.
def forward(spec, x, kernel, bias=None):
    """y (rows, units) = activation(x @ kernel + bias) in one primitive."""
    return _matmul("dense_forward", spec, x, kernel, spec.y_shape, bias, spec.activation)


def input_grad(spec, dy, kernel):
    """dx (rows, in_features) = dy @ kernel.T (the transpose read by strides)."""
    return _matmul("dense_input_grad", spec, dy, kernel.T, spec.x_shape)


def kernel_grad(spec, x, dy):
    """(dkernel = x.T @ dy, dbias or None); x.T read by strides."""
    dkernel = _matmul("dense_kernel_grad", spec, x.T, dy, spec.kernel_shape)
    if dkernel is None:
        return None
    return dkernel, (np.asarray(dy, dtype=_F32).sum(axis=0) if spec.bias else None)


ALGORITHMS = (
    Algorithm(
        "onednn",
        NAME,
        "dense_forward",
        _applies,
        forward,
        fuses=True,
        summary="float32, above 2^21 multiply-adds (below, numpy is faster): oneDNN's matmul with the bias and activation fused",
    ),
    Algorithm(
        "onednn",
        NAME,
        "dense_input_grad",
        _applies,
        input_grad,
        summary="float32, above 2^21 multiply-adds: oneDNN's matmul of dy with the kernel's transpose (read by strides)",
    ),
    Algorithm(
        "onednn",
        NAME,
        "dense_kernel_grad",
        _applies,
        kernel_grad,
        summary="float32, above 2^21 multiply-adds: oneDNN's matmul of x's transpose (read by strides) with dy; dbias on numpy",
    ),
)


def default(pass_, spec):
    """The oneDNN algorithm for this dense pass, or None where numpy should run the spec."""
    if spec.macs <= NUMPY_MACS:
        return None
    for algorithm in ALGORITHMS:
        if algorithm.pass_ == pass_ and algorithm.applies(spec):
            return algorithm
    return None
