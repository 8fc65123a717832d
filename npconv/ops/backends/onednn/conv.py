"""oneDNN's convolution primitives: one algorithm per pass, all named ``onednn``.

- forward: ``dnnl_convolution_forward`` with the bias and the activation fused
  as an eltwise post-op (relu, sigmoid, tanh, elu, gelu, silu);
- input_grad: ``dnnl_convolution_backward_data`` (also a transposed conv's forward);
- kernel_grad: ``dnnl_convolution_backward_weights``, with the bias gradient.

They run float32 specs of rank 1 to 3; anything else (float64, for one), and
any spec the library refuses, runs on numpy. Arrays are handed to oneDNN as
they lie in memory, described by their strides (channels_last or
channels_first alike, and Keras's kernel layout as it is), so nothing is
copied on the way in or out.
"""

from __future__ import annotations

import ctypes as C
import threading

import numpy as np

from ...registry import Algorithm
from ...spec import EltwiseSpec
from . import eltwise
from . import library as L
from .binding import (
    _ELTWISE,
    _F32,
    NAME,
    K,
    Primitive,
    Refusal,
    _activation_md,
    _attr,
    _cache,
    _channels_first,
    _elements,
    _empty_like_layout,
    _md,
    _usable,
    cached,
    is_reference,
    threads,
)

# From this many multiply-adds, forward primitives take their weights in the primitive's
# own layout (see _create_forward).
PACK_MIN_MACS = 1 << 20
# Forward passes up to this many multiply-adds run on numpy: executing a primitive costs a
# few microseconds more than numpy's one gather and one small matrix product (measured here:
# the article's 5x5 layer call, 15 us on oneDNN and 10 us on numpy).
NUMPY_FORWARD_MACS = 1 << 16


def _applies(spec) -> bool:
    return (
        spec.dtype == "float32"
        and 1 <= spec.rank <= 3
        and (spec.activation is None or spec.activation in _ELTWISE)
        and all(b >= 0 and a >= 0 for b, a in spec.pads)
    )


def _weights_md(lib, shape, strides, groups, itemsize=4):
    """Keras kernel (*k, in/groups, filters) -> logical (O, I, *k) or (G, O/G, I/G, *k)."""
    el = _elements(strides, itemsize)
    *kernel_size, cin, filters = shape
    if groups == 1:
        return _md(lib, (filters, cin, *kernel_size), (el[-1], el[-2], *el[:-2]))
    fo = filters // groups
    return _md(lib, (groups, fo, cin, *kernel_size), (fo * el[-1], el[-1], el[-2], *el[:-2]))


def _geometry(spec):
    """strides, dilates (oneDNN counts from 0), padding_l, padding_r of a spec."""
    strides = L.Dims(*spec.strides)
    dilates = L.Dims(*[d - 1 for d in spec.dilation])
    pad_l = L.Dims(*[b for b, _ in spec.pads])
    pad_r = L.Dims(*[a for _, a in spec.pads])
    return strides, dilates, pad_l, pad_r


def _forward_pd(library, spec, src, wei, bias, dst, prop, activation):
    lib = library.lib
    pd, attr = L.V(), _attr(lib, activation)
    try:
        L.check(
            lib.dnnl_convolution_forward_primitive_desc_create(
                C.byref(pd),
                library.engine,
                prop,
                K["dnnl_convolution_direct"],
                src,
                wei,
                bias,
                dst,
                *_geometry(spec),
                attr,
            ),
            "forward primitive descriptor",
        )
    finally:
        lib.dnnl_primitive_attr_destroy(attr)
    return pd


def _layouts(spec, x_strides, k_strides, y_strides):
    library, _ = L.load()
    lib = library.lib
    src = _activation_md(lib, spec.x_shape, x_strides)
    wei = _weights_md(lib, spec.kernel_shape, k_strides, spec.groups)
    dst = _activation_md(lib, spec.y_shape, y_strides)
    bias = _md(lib, (spec.filters,), (1,))
    return library, lib, src, wei, dst, bias


def _primitive_args(lib, spec, named, bias_name, bias):
    """The argument ids and memory descriptors of a primitive: ``named`` ({oneDNN arg name: md}) in order,
    then the bias where the spec has one; an unused bias descriptor is destroyed here."""
    ids = [K[name] for name in named]
    mds = list(named.values())
    if spec.bias:
        ids.append(K[bias_name])
        mds.append(bias)
    else:
        lib.dnnl_memory_desc_destroy(bias)
    return ids, mds


def _any_weights_md(lib, spec):
    """A weights descriptor that lets the primitive choose its layout (``format_tag_any``)."""
    dims = (spec.filters, spec.kernel_shape[-2], *spec.kernel_size)
    if spec.groups > 1:
        dims = (spec.groups, spec.filters // spec.groups, spec.kernel_shape[-2], *spec.kernel_size)
    md = L.V()
    L.check(
        lib.dnnl_memory_desc_create_with_tag(
            C.byref(md), len(dims), L.Dims(*dims), K["dnnl_f32"], K["dnnl_format_tag_any"]
        ),
        "memory descriptor creation",
    )
    return md


def _reorder(library, from_md, to_md):
    """A reorder primitive between two descriptors of the same weights; it owns neither."""
    pd = L.V()
    L.check(
        library.lib.dnnl_reorder_primitive_desc_create(
            C.byref(pd), from_md, library.engine, to_md, library.engine, None
        ),
        "reorder primitive descriptor",
    )
    reorder = Primitive(library, pd, [K["DNNL_ARG_SRC"], K["DNNL_ARG_DST"]], [from_md, to_md], 1)
    reorder.borrowed = (0, 1)
    return reorder


def _forward_primitive(spec, x_strides, k_strides, y_strides, weights_layout="plain"):
    """The forward primitive with Keras's kernel layout ("plain"), or with the
    layout the primitive prefers for its weights ("preferred"; None when that
    is the plain one)."""
    library, lib, src, wei, dst, bias = _layouts(spec, x_strides, k_strides, y_strides)
    plain_wei = wei
    if weights_layout == "preferred":
        wei = _any_weights_md(lib, spec)
    try:
        pd = _forward_pd(
            library, spec, src, wei, bias if spec.bias else None, dst, K["dnnl_forward_inference"], spec.activation
        )
    finally:
        if wei is not plain_wei:
            lib.dnnl_memory_desc_destroy(wei)
    ids, mds = _primitive_args(
        lib, spec, {"DNNL_ARG_SRC": src, "DNNL_ARG_WEIGHTS": plain_wei, "DNNL_ARG_DST": dst}, "DNNL_ARG_BIAS", bias
    )
    packing = None
    if weights_layout == "preferred":
        preferred = lib.dnnl_primitive_desc_query_md(pd, K["dnnl_query_weights_md"], 0)
        if lib.dnnl_memory_desc_equal(preferred, plain_wei):
            for md in mds:
                lib.dnnl_memory_desc_destroy(md)
            lib.dnnl_primitive_desc_destroy(pd)
            return None
        packing = _Packing(library, plain_wei, preferred)
        mds[1] = preferred
    primitive = Primitive(library, pd, ids, mds, threads(spec))
    if packing is not None:
        primitive.packing, primitive.borrowed = packing, (1,)
    primitive.out_shape = spec.y_shape
    return primitive


class _Packing:
    """Weights reordered into a primitive's preferred layout, kept until they change.

    The last kernel packed is kept as a copy beside its packed form; a call
    whose kernel equals that copy (compared in full, so weights updated in
    place are noticed) reuses the packed form."""

    def __init__(self, library, plain_md, preferred_md):
        self.reorder = _reorder(library, plain_md, preferred_md)
        self.reorder.borrowed = (1,)  # plain_md is the packing's own; the conv primitive owns preferred_md
        self.size = library.lib.dnnl_memory_desc_get_size(preferred_md)
        self.source = self.packed = None
        self.lock = threading.Lock()

    def __call__(self, kernel):
        with self.lock:
            if self.source is not None and np.array_equal(self.source, kernel):
                return self.packed
            packed = np.empty(self.size // 4 + 16, dtype=_F32)
            self.reorder(kernel, packed)
            self.source, self.packed = kernel.copy(), packed
            return packed


def _create_forward(spec, x, kernel, y, bias):
    """The forward primitive for this spec and layout.

    From ``PACK_MIN_MACS`` multiply-adds the weights go in the primitive's own
    preferred layout (packed once, see :class:`_Packing`): measured here on an
    AVX2 CPU, that turns oneDNN's GEMM-based convolution (``gemm:jit``) into its
    direct one (``brgconv``), 1.5x to 2x faster on 1x1, 3x3 and 5x5 kernels.
    The rule depends on the spec only, never on a timing, so every process
    computes the same numbers."""
    plain = _forward_primitive(spec, x.strides, kernel.strides, y.strides)
    if spec.activation is not None and "gemm" in plain.implementation:
        # oneDNN's GEMM-based convolution applies post-ops element by element, slower
        # than NumPy's pass over the output (3x to 20x here): the activation runs after.
        unfused = spec._replace(activation=None)
        plain = _forward_primitive(unfused, x.strides, kernel.strides, y.strides)
        plain.activation = spec.activation
    if spec.macs < PACK_MIN_MACS:
        return plain
    try:
        packed = _forward_primitive(spec, x.strides, kernel.strides, y.strides, "preferred")
    except L.OneDNNError:
        return plain
    return plain if packed is None or is_reference(packed) else packed


def _hint(library, spec, src, wei, bias, dst):
    return _forward_pd(library, spec, src, wei, bias, dst, K["dnnl_forward_training"], None)


def _backward_pd(spec, strides, weights_layout, with_bias, create):
    """A backward primitive descriptor and its argument descriptors:
    ``(library, lib, pd, src, plain_wei, dst, bias)``, bias None unless ``with_bias``.

    ``create(library, pd, src, wei, bias, dst, hint, attr)`` calls oneDNN's creator;
    ``wei`` is Keras's kernel layout ("plain") or lets the primitive choose ("preferred")."""
    library, lib, src, wei, dst, bias = _layouts(spec, *strides)
    if not with_bias:
        lib.dnnl_memory_desc_destroy(bias)
        bias = None
    plain_wei = wei
    if weights_layout == "preferred":
        wei = _any_weights_md(lib, spec)
    pd, attr = L.V(), _attr(lib)
    try:
        hint = _hint(library, spec, src, wei, bias, dst)
        try:
            L.check(create(library, pd, src, wei, bias, dst, hint, attr), "backward primitive descriptor")
        finally:
            lib.dnnl_primitive_desc_destroy(hint)
    finally:
        lib.dnnl_primitive_attr_destroy(attr)
        if wei is not plain_wei:
            lib.dnnl_memory_desc_destroy(wei)
    return library, lib, pd, src, plain_wei, dst, bias


def _preferred_or_none(lib, pd, query, plain_wei, mds):
    """The weights descriptor ``pd`` chose, or None (pd and ``mds`` destroyed) when it is Keras's own."""
    preferred = lib.dnnl_primitive_desc_query_md(pd, K[query], 0)
    if not lib.dnnl_memory_desc_equal(preferred, plain_wei):
        return preferred
    for md in mds:
        lib.dnnl_memory_desc_destroy(md)
    lib.dnnl_primitive_desc_destroy(pd)
    return None


def _create_input_grad(spec, x_strides, k_strides, y_strides, weights_layout="plain"):
    """The backward-data primitive with Keras's kernel layout ("plain"), or with
    the layout it prefers for its weights ("preferred", packed by a
    :class:`_Packing`; None when that is the plain one)."""

    def create(library, pd, src, wei, bias, dst, hint, attr):
        direct = K["dnnl_convolution_direct"]
        return library.lib.dnnl_convolution_backward_data_primitive_desc_create(
            C.byref(pd), library.engine, direct, src, wei, dst, *_geometry(spec), hint, attr
        )

    strides = (x_strides, k_strides, y_strides)
    library, lib, pd, src, plain_wei, dst, _ = _backward_pd(spec, strides, weights_layout, False, create)
    ids = [K["DNNL_ARG_DIFF_DST"], K["DNNL_ARG_WEIGHTS"], K["DNNL_ARG_DIFF_SRC"]]
    if weights_layout == "plain":
        return Primitive(library, pd, ids, [dst, plain_wei, src], threads(spec))
    preferred = _preferred_or_none(lib, pd, "dnnl_query_weights_md", plain_wei, (dst, plain_wei, src))
    if preferred is None:
        return None
    primitive = Primitive(library, pd, ids, [dst, preferred, src], threads(spec))
    primitive.borrowed = (1,)
    primitive.packing = _Packing(library, plain_wei, preferred)
    return primitive


def _create_kernel_grad(spec, x_strides, k_strides, y_strides, weights_layout="plain"):
    """The backward-weights primitive writing Keras's kernel layout ("plain"), or
    writing the layout it prefers ("preferred", reordered to Keras's after each
    call by ``primitive.unpacking``; None when that is the plain one)."""

    def create(library, pd, src, wei, bias, dst, hint, attr):
        direct = K["dnnl_convolution_direct"]
        return library.lib.dnnl_convolution_backward_weights_primitive_desc_create(
            C.byref(pd), library.engine, direct, src, wei, bias, dst, *_geometry(spec), hint, attr
        )

    strides = (x_strides, k_strides, y_strides)
    library, lib, pd, src, plain_wei, dst, bias = _backward_pd(spec, strides, weights_layout, spec.bias, create)
    ids = [K["DNNL_ARG_SRC"], K["DNNL_ARG_DIFF_DST"], K["DNNL_ARG_DIFF_WEIGHTS"]]
    mds = [src, dst, plain_wei]
    if bias is not None:
        ids.append(K["DNNL_ARG_DIFF_BIAS"])
        mds.append(bias)
    if weights_layout == "plain":
        return Primitive(library, pd, ids, mds, threads(spec))
    preferred = _preferred_or_none(lib, pd, "dnnl_query_diff_weights_md", plain_wei, mds)
    if preferred is None:
        return None
    mds[2] = preferred
    primitive = Primitive(library, pd, ids, mds, threads(spec))
    primitive.borrowed = (2,)
    primitive.unpacking = _reorder(library, preferred, plain_wei)
    primitive.unpacking.borrowed = (0,)  # plain_wei is the reorder's own
    primitive.unpacked_size = lib.dnnl_memory_desc_get_size(preferred)
    return primitive


def _backward(create, spec, *strides):
    """The backward primitive for this spec and layout: from ``PACK_MIN_MACS``
    multiply-adds the one with the weights in its preferred layout (measured
    here on an AVX2 CPU: oneDNN's direct kernels, ``jit:avx2`` for the kernel
    gradient and ``brgconv`` for dx, instead of ``gemm:jit``, 1.4x to 3x faster
    with the reorders counted), else the plain one. A rule on the spec, never
    on a timing."""
    if spec.macs >= PACK_MIN_MACS:
        try:
            primitive = create(spec, *strides, "preferred")
        except L.OneDNNError:
            primitive = None
        if primitive is not None and not is_reference(primitive):
            return primitive
    return create(spec, *strides)


def forward(spec, x, kernel, bias=None, keep=None):
    """y = activation(conv(x, kernel) + bias) on oneDNN (x and y in the same layout)."""
    if (bias is not None) != spec.bias:  # the primitive reads exactly the arguments the spec names
        return None
    x, kernel = _usable(x), _usable(kernel)
    key = ("forward", spec, x.strides, kernel.strides)
    bias = None if bias is None else _usable(bias)
    primitive = _cache.get(key)  # the common case, without the lock (a dict read is atomic)
    if primitive is None or isinstance(primitive, Refusal):
        y = _empty_like_layout(spec.y_shape, _channels_first(x))
        primitive = cached(key, lambda: _create_forward(spec, x, kernel, y, bias))
        if primitive is None:
            return None
    y = _empty_like_layout(primitive.out_shape, _channels_first(x))
    if primitive.packing is not None:
        kernel = primitive.packing(kernel)
    if bias is None:
        primitive(x, kernel, y)
    else:
        primitive(x, kernel, y, bias)
    if primitive.activation is not None:
        y = eltwise.activate(EltwiseSpec(primitive.activation, (), y.shape, "float32"), y)
    return y


def input_grad(spec, dy, kernel):
    """dx of the conv ``spec`` on oneDNN (dx in dy's layout)."""
    dy, kernel = _usable(dy), _usable(kernel)
    dx = _empty_like_layout(spec.x_shape, _channels_first(dy))
    key = ("input_grad", spec, dy.strides, kernel.strides)
    primitive = cached(key, lambda: _backward(_create_input_grad, spec, dx.strides, kernel.strides, dy.strides))
    if primitive is None:
        return None
    if primitive.packing is not None:
        kernel = primitive.packing(kernel)
    primitive(dy, kernel, dx)
    return dx


def kernel_grad(spec, x, dy, kept=None):
    """(dkernel, dbias or None) of the conv ``spec`` on oneDNN."""
    x, dy = _usable(x), _usable(dy)
    dkernel = np.empty(spec.kernel_shape, dtype=_F32)
    key = ("kernel_grad", spec, x.strides, dy.strides)
    primitive = cached(key, lambda: _backward(_create_kernel_grad, spec, x.strides, dkernel.strides, dy.strides))
    if primitive is None:
        return None
    unpacking = primitive.unpacking
    written = dkernel if unpacking is None else np.empty(primitive.unpacked_size // 4 + 16, dtype=_F32)
    dbias = np.empty(spec.filters, dtype=_F32) if spec.bias else None
    if dbias is None:
        primitive(x, dy, written)
    else:
        primitive(x, dy, written, dbias)
    if unpacking is not None:
        unpacking(written, dkernel)
    return dkernel, dbias


ALGORITHMS = (
    Algorithm(
        "onednn",
        NAME,
        "forward",
        _applies,
        forward,
        fuses=True,
        summary="float32, rank 1-3, above 2^16 multiply-adds (below, numpy is faster): oneDNN's convolution forward with the bias and activation fused (after the primitive when it is GEMM-based); from 2^20 multiply-adds the weights go in the primitive's own layout (packed once, kept until the kernel changes)",
    ),
    Algorithm(
        "onednn",
        NAME,
        "input_grad",
        _applies,
        input_grad,
        summary="float32, rank 1-3: oneDNN's convolution backward data (also every transposed conv)",
    ),
    Algorithm(
        "onednn",
        NAME,
        "kernel_grad",
        _applies,
        kernel_grad,
        summary="float32, rank 1-3: oneDNN's convolution backward weights, with the bias gradient",
    ),
    *eltwise.ALGORITHMS,
)
_BY_PASS = {a.pass_: a for a in ALGORITHMS}


def default(pass_, spec):
    """The oneDNN convolution algorithm for this pass, or None where it does not take the spec."""
    if pass_ == "forward" and spec.macs <= NUMPY_FORWARD_MACS:
        return None
    return _BY_PASS[pass_] if _applies(spec) else None
