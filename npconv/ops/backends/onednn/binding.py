"""The ctypes binding every oneDNN op family shares: memory descriptors,
primitives with per-thread memories, the bounded primitive cache, thread
counts, primitive attributes (scratchpad, eltwise post-ops) and array layouts.

Primitives are created once per key (pass, spec, array layout) and kept in a
bounded, thread-safe LRU cache (:data:`CACHE_SIZE`); a spec the library
refuses is remembered as refused. Each thread has its own stream, memory
objects and scratchpad, so one primitive can run in several threads at once.
"""

from __future__ import annotations

import ctypes as C
import threading
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from . import library as L

NAME = "onednn"
CACHE_SIZE = 256  # primitives kept; the least recently used is released beyond this
# Up to this many multiply-adds a primitive runs (and is created) on one thread: an
# OpenMP parallel region costs microseconds when the cores are free, and a whole
# time slice (milliseconds) when another process holds one of them.
ONE_THREAD_MACS = 1 << 21

K = L.CONSTANTS
# Each activation as a chain of eltwise post-ops (algorithm, alpha, beta), chosen so that
# NaN and +-Inf come out as the definitions give them: oneDNN's own relu and clips turn
# NaN into a number, so relu is elu with alpha 0 (x if x > 0, else 0 * (exp(x) - 1)), and
# sigmoid is 0.5 * tanh(x / 2) + 0.5 (its logistic kept NaN only on some ISAs).
_ELTWISE = {
    "relu": ((K["dnnl_eltwise_elu"], 0.0, 0.0),),
    "sigmoid": (
        (K["dnnl_eltwise_linear"], 0.5, 0.0),
        (K["dnnl_eltwise_tanh"], 0.0, 0.0),
        (K["dnnl_eltwise_linear"], 0.5, 0.5),
    ),
    "tanh": ((K["dnnl_eltwise_tanh"], 0.0, 0.0),),
    "elu": ((K["dnnl_eltwise_elu"], 1.0, 0.0),),
    "gelu": ((K["dnnl_eltwise_gelu_erf"], 0.0, 0.0),),
    "silu": ((K["dnnl_eltwise_swish"], 1.0, 0.0),),
}
_F32 = np.dtype("float32")


def available():
    """(True, library path) or (False, why not)."""
    library, detail = L.load()
    return library is not None, detail


# ----------------------------------------------------------------------- memory descriptors
def _elements(strides, itemsize):
    return [s // itemsize for s in strides]


def _activation_md(lib, shape, strides, itemsize=4):
    """(batch, *spatial, channels) array -> logical (N, C, *spatial) md, by strides."""
    el = _elements(strides, itemsize)
    dims = (shape[0], shape[-1], *shape[1:-1])
    order = (el[0], el[-1], *el[1:-1])
    return _md(lib, dims, order)


def _md(lib, dims, strides):
    md = L.V()
    L.check(
        lib.dnnl_memory_desc_create_with_strides(
            C.byref(md), len(dims), L.Dims(*dims), K["dnnl_f32"], L.Dims(*strides)
        ),
        "memory descriptor creation",
    )
    return md


class _Memories:
    """One thread's memory objects (and scratchpad) for one primitive."""

    def __init__(self, primitive):
        self.lib = primitive.lib
        self.handles = []
        for md in primitive.mds:
            mem = L.V()
            L.check(self.lib.dnnl_memory_create(C.byref(mem), md, primitive.engine, None), "memory creation")
            self.handles.append(mem)
        self.scratch = np.empty(max(primitive.scratch_bytes, 1), dtype=np.uint8)
        ids = list(primitive.arg_ids)
        if primitive.scratch_md:
            mem = L.V()
            L.check(
                self.lib.dnnl_memory_create(
                    C.byref(mem), primitive.scratch_md, primitive.engine, self.scratch.ctypes.data
                ),
                "scratchpad memory creation",
            )
            self.handles.append(mem)
            ids.append(K["DNNL_ARG_SCRATCHPAD"])
        self.args = (L.ExecArg * len(ids))(*[L.ExecArg(i, m) for i, m in zip(ids, self.handles)])
        self.count = len(ids)
        self.set = [self.lib.dnnl_memory_set_data_handle] * len(primitive.mds)
        self.last = [None] * len(primitive.mds)  # the arrays the handles point at (kept alive here)

    def __del__(self):
        for mem in getattr(self, "handles", ()):
            try:
                self.lib.dnnl_memory_destroy(mem)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass


class Primitive:
    """A created oneDNN primitive, its argument descriptors, and per-thread memories."""

    borrowed = ()  # indices of ``mds`` owned by ``pd`` (not destroyed here)
    activation = None  # an activation to apply after the primitive (not fused into it)
    packing = None  # a _Packing when the primitive wants its weights in its own layout
    unpacking = None  # a reorder from the primitive's own weights layout to Keras's (kernel gradient)

    def __init__(self, library, pd, arg_ids, mds, threads):
        self.lib, self.engine = library.lib, library.engine
        self.library = library
        self.pd, self.arg_ids, self.mds = pd, tuple(arg_ids), mds
        self.handle = L.V()
        L.check(self.lib.dnnl_primitive_create(C.byref(self.handle), pd), "primitive creation")
        self.scratch_md = self.lib.dnnl_primitive_desc_query_md(pd, K["dnnl_query_scratchpad_md"], 0)
        self.scratch_bytes = self.lib.dnnl_memory_desc_get_size(self.scratch_md) if self.scratch_md else 0
        if not self.scratch_bytes:
            self.scratch_md = None
        name = C.c_char_p()
        self.lib.dnnl_primitive_desc_query(pd, K["dnnl_query_impl_info_str"], 0, C.byref(name))
        self.implementation = (name.value or b"").decode()
        self.threads = threads
        self._local = threading.local()

    def __call__(self, *arrays):
        """Run on arrays given in the order of ``arg_ids``."""
        memories = getattr(self._local, "memories", None)
        if memories is None:
            memories = self._local.memories = _Memories(self)
        lib, last = self.lib, memories.last
        for i, array in enumerate(arrays):
            if array is not last[i]:  # the same kernel and bias arrays come back call after call
                memories.set[i](memories.handles[i], array.ctypes.data)
                last[i] = array
        library = self.library
        stream = library.stream
        if self.threads == library.threads:
            L.check(lib.dnnl_primitive_execute(self.handle, stream, memories.count, memories.args), "execution")
            L.check(lib.dnnl_stream_wait(stream), "stream wait")
            return
        # Fewer threads for this call only: the OpenMP setting is per thread and
        # shared with any other library using the same runtime, so it is put back.
        library.use_threads(self.threads)
        try:
            L.check(lib.dnnl_primitive_execute(self.handle, stream, memories.count, memories.args), "execution")
            L.check(lib.dnnl_stream_wait(stream), "stream wait")
        finally:
            library.use_threads(library.threads)

    def __del__(self):
        try:
            self.lib.dnnl_primitive_destroy(self.handle)
            self.lib.dnnl_primitive_desc_destroy(self.pd)
            for i, md in enumerate(self.mds):
                if i not in self.borrowed:
                    self.lib.dnnl_memory_desc_destroy(md)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


# ----------------------------------------------------------------------- the primitive cache
_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()


class Refusal(NamedTuple):
    """A cache entry for a key oneDNN will not run, and why."""

    reason: str


def is_reference(primitive) -> bool:
    """Whether oneDNN chose one of its reference implementations (``ref:...``):
    plain loops, 10x to 35x slower here than numpy's kernels on the same spec
    (depthwise convs stored channels_first, for one)."""
    return primitive.implementation.startswith("ref")


def cached(key, create):
    """The primitive for ``key`` = (pass, spec, *layouts), created by ``create()``
    on a miss, or None when oneDNN refused it or offers only a reference
    implementation (:func:`is_reference`); a refusal is remembered too."""
    with _lock:
        primitive = _cache.get(key)
        if primitive is not None:
            _cache.move_to_end(key)
            return None if isinstance(primitive, Refusal) else primitive
    library, _ = L.load()
    library.use_threads(threads(key[1]))  # created for the thread count it will run on
    try:
        primitive = create()
        if is_reference(primitive):
            primitive = Refusal(f"reference implementation only ({primitive.implementation})")
    except L.OneDNNError as error:
        primitive = Refusal(str(error))
    finally:
        library.use_threads(library.threads)
    with _lock:
        _cache[key] = primitive
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return None if isinstance(primitive, Refusal) else primitive


def clear_cache():
    """Release every cached primitive."""
    with _lock:
        _cache.clear()


def threads(spec) -> int:
    """OpenMP threads for this spec's primitives: one for tiny problems, else all."""
    library, _ = L.load()
    return 1 if spec.macs <= ONE_THREAD_MACS else library.threads


def _attr(lib, activation=None):
    attr = L.V()
    L.check(lib.dnnl_primitive_attr_create(C.byref(attr)), "attr creation")
    L.check(lib.dnnl_primitive_attr_set_scratchpad_mode(attr, K["dnnl_scratchpad_mode_user"]), "scratchpad mode")
    if activation is not None:
        post_ops = L.V()
        L.check(lib.dnnl_post_ops_create(C.byref(post_ops)), "post-ops creation")
        for alg, alpha, beta in _ELTWISE[activation]:
            L.check(lib.dnnl_post_ops_append_eltwise(post_ops, alg, alpha, beta), "eltwise post-op")
        L.check(lib.dnnl_primitive_attr_set_post_ops(attr, post_ops), "set post-ops")
        lib.dnnl_post_ops_destroy(post_ops)
    return attr


# ----------------------------------------------------------------------- arrays
def _usable(array):
    """array as float32 whose strides oneDNN can take (non-negative, whole elements)."""
    if array.dtype != _F32:
        array = array.astype(_F32)
    if not array.flags.c_contiguous and any(s < 0 or s % 4 for s in array.strides):
        array = np.ascontiguousarray(array)
    return array


def _empty_like_layout(shape, channels_first):
    """An empty (batch, *spatial, channels) array, stored channels_first if asked."""
    if channels_first:
        return np.moveaxis(np.empty((shape[0], shape[-1], *shape[1:-1]), dtype=_F32), 1, -1)
    return np.empty(shape, dtype=_F32)


def _channels_first(array):
    return array.ndim > 2 and array.strides[-1] != array.itemsize


# The runs return None when oneDNN refused the spec; the seam then asks numpy.
