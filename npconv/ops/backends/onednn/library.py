"""ctypes binding to the oneDNN v3 C API in ``libdnnl.so.3``: finding and loading
the library, the constants and signatures npconv uses, one CPU engine, one
stream per thread.

Where the library is looked for, in order:

1. ``NPCONV_ONEDNN_LIBRARY``, when set: that path only (an explicit choice);
2. the environment's ``lib/`` (where the ``onednn-cpu-gomp`` wheel puts it);
3. the user base's ``lib/`` (``pip install --user``).

Nothing is loaded until :func:`load` is first called.
"""

from __future__ import annotations

import ctypes as C
import os
import site
import sys
import threading

LIBRARY_NAME = "libdnnl.so.3"

# dnnl_common_types.h / dnnl_types.h (v3.2); tests/test_backend_onednn.py checks them against the headers.
CONSTANTS = {
    "dnnl_success": 0,
    "dnnl_unimplemented": 3,
    "dnnl_f32": 3,
    "dnnl_format_tag_any": 1,
    "dnnl_query_weights_md": 131,
    "dnnl_query_diff_weights_md": 132,
    "dnnl_cpu": 1,
    "dnnl_stream_default_flags": 1,
    "dnnl_forward_training": 64,
    "dnnl_forward_inference": 96,
    "dnnl_backward_data": 160,
    "dnnl_backward_weights": 192,
    "dnnl_convolution_direct": 1,
    "dnnl_eltwise_relu": 32,
    "dnnl_eltwise_tanh": 33,
    "dnnl_eltwise_elu": 34,
    "dnnl_eltwise_logistic": 41,
    "dnnl_eltwise_swish": 44,
    "dnnl_eltwise_gelu_erf": 49,
    "dnnl_eltwise_linear": 38,
    "dnnl_query_impl_info_str": 8,
    "dnnl_query_scratchpad_md": 136,
    "dnnl_scratchpad_mode_user": 1,
    "DNNL_ARG_SRC": 1,
    "DNNL_ARG_DST": 17,
    "DNNL_ARG_WEIGHTS": 33,
    "DNNL_ARG_BIAS": 41,
    "DNNL_ARG_SCRATCHPAD": 80,
    "DNNL_ARG_DIFF_SRC": 129,
    "DNNL_ARG_DIFF_DST": 145,
    "DNNL_ARG_DIFF_WEIGHTS": 161,
    "DNNL_ARG_DIFF_BIAS": 169,
    "DNNL_MAX_NDIMS": 12,
    # element-wise activations and softmax
    "dnnl_eltwise_square": 35,
    "dnnl_eltwise_abs": 36,
    "dnnl_eltwise_soft_relu": 39,
    "dnnl_eltwise_hardsigmoid": 40,
    "dnnl_eltwise_exp": 42,
    "dnnl_eltwise_gelu_tanh": 43,
    "dnnl_eltwise_log": 45,
    "dnnl_eltwise_clip_v2": 47,
    "dnnl_eltwise_mish": 51,
    "dnnl_eltwise_hardswish": 52,
    "dnnl_eltwise_relu_use_dst_for_bwd": 256,
    "dnnl_eltwise_tanh_use_dst_for_bwd": 257,
    "dnnl_eltwise_logistic_use_dst_for_bwd": 260,
    "dnnl_eltwise_exp_use_dst_for_bwd": 261,
    "dnnl_softmax_accurate": 196608,
    "dnnl_softmax_log": 196609,
    # batch normalization
    "dnnl_backward": 128,
    "dnnl_use_global_stats": 1,
    "dnnl_use_scale": 2,
    "dnnl_use_shift": 4,
    "DNNL_ARG_MEAN": 49,
    "DNNL_ARG_VARIANCE": 50,
    "DNNL_ARG_SCALE": 51,
    "DNNL_ARG_SHIFT": 52,
    "DNNL_ARG_DIFF_SCALE": 255,
    "DNNL_ARG_DIFF_SHIFT": 256,
    # pooling
    "dnnl_pooling_max": 0x1FF,
    "dnnl_pooling_avg_exclude_padding": 0x3FF,
    "dnnl_query_workspace_md": 135,
    "DNNL_ARG_WORKSPACE": 64,
}

CPU_ISA_NAMES = {
    0: "default",
    1: "sse41",
    3: "avx",
    7: "avx2",
    15: "avx2_vnni",
    31: "avx2_vnni_2",
    39: "avx512_core",
    103: "avx512_core_vnni",
    231: "avx512_core_bf16",
    495: "avx512_core_fp16",
    4079: "avx512_core_amx",
    8175: "avx512_core_amx_fp16",
}

Dims = C.c_int64 * CONSTANTS["DNNL_MAX_NDIMS"]
V = C.c_void_p
_P = C.POINTER(V)
_status = C.c_int


class ExecArg(C.Structure):
    """dnnl_exec_arg_t."""

    _fields_ = [("arg", C.c_int), ("memory", V)]


class Version(C.Structure):
    """dnnl_version_t."""

    _fields_ = [
        ("major", C.c_int),
        ("minor", C.c_int),
        ("patch", C.c_int),
        ("hash", C.c_char_p),
        ("cpu_runtime", C.c_uint),
        ("gpu_runtime", C.c_uint),
    ]


# name -> (restype, argtypes): every function npconv calls.
SIGNATURES = {
    "dnnl_engine_create": (_status, [_P, C.c_int, C.c_size_t]),
    "dnnl_engine_destroy": (_status, [V]),
    "dnnl_stream_create": (_status, [_P, V, C.c_uint]),
    "dnnl_stream_wait": (_status, [V]),
    "dnnl_stream_destroy": (_status, [V]),
    "dnnl_memory_desc_create_with_strides": (_status, [_P, C.c_int, Dims, C.c_int, Dims]),
    "dnnl_memory_desc_create_with_tag": (_status, [_P, C.c_int, Dims, C.c_int, C.c_int]),
    "dnnl_memory_desc_equal": (C.c_int, [V, V]),
    "dnnl_memory_desc_destroy": (_status, [V]),
    "dnnl_memory_desc_get_size": (C.c_size_t, [V]),
    "dnnl_memory_create": (_status, [_P, V, V, V]),
    "dnnl_memory_set_data_handle": (_status, [V, V]),
    "dnnl_memory_destroy": (_status, [V]),
    "dnnl_primitive_attr_create": (_status, [_P]),
    "dnnl_primitive_attr_destroy": (_status, [V]),
    "dnnl_primitive_attr_set_scratchpad_mode": (_status, [V, C.c_int]),
    "dnnl_primitive_attr_set_post_ops": (_status, [V, V]),
    "dnnl_post_ops_create": (_status, [_P]),
    "dnnl_post_ops_destroy": (_status, [V]),
    "dnnl_post_ops_append_eltwise": (_status, [V, C.c_int, C.c_float, C.c_float]),
    "dnnl_convolution_forward_primitive_desc_create": (
        _status,
        [_P, V, C.c_int, C.c_int, V, V, V, V, Dims, Dims, Dims, Dims, V],
    ),
    "dnnl_convolution_backward_data_primitive_desc_create": (
        _status,
        [_P, V, C.c_int, V, V, V, Dims, Dims, Dims, Dims, V, V],
    ),
    "dnnl_convolution_backward_weights_primitive_desc_create": (
        _status,
        [_P, V, C.c_int, V, V, V, V, Dims, Dims, Dims, Dims, V, V],
    ),
    "dnnl_reorder_primitive_desc_create": (_status, [_P, V, V, V, V, V]),
    "dnnl_primitive_desc_query": (_status, [V, C.c_int, C.c_int, V]),
    "dnnl_primitive_desc_query_md": (V, [V, C.c_int, C.c_int]),
    "dnnl_primitive_desc_destroy": (_status, [V]),
    "dnnl_primitive_create": (_status, [_P, V]),
    "dnnl_primitive_destroy": (_status, [V]),
    "dnnl_primitive_execute": (_status, [V, V, C.c_int, C.POINTER(ExecArg)]),
    "dnnl_get_effective_cpu_isa": (C.c_int, []),
    "dnnl_version": (C.POINTER(Version), []),
    "dnnl_eltwise_forward_primitive_desc_create": (_status, [_P, V, C.c_int, C.c_int, V, V, C.c_float, C.c_float, V]),
    "dnnl_eltwise_backward_primitive_desc_create": (
        _status,
        [_P, V, C.c_int, V, V, V, C.c_float, C.c_float, V, V],
    ),
    "dnnl_softmax_forward_primitive_desc_create": (_status, [_P, V, C.c_int, C.c_int, V, V, C.c_int, V]),
    "dnnl_softmax_backward_primitive_desc_create": (_status, [_P, V, C.c_int, V, V, V, C.c_int, V, V]),
    # batch normalization
    "dnnl_batch_normalization_forward_primitive_desc_create": (_status, [_P, V, C.c_int, V, V, C.c_float, C.c_uint, V]),
    "dnnl_batch_normalization_backward_primitive_desc_create": (
        _status,
        [_P, V, C.c_int, V, V, V, C.c_float, C.c_uint, V, V],
    ),
    # layer normalization
    "dnnl_layer_normalization_forward_primitive_desc_create": (
        _status,
        [_P, V, C.c_int, V, V, V, C.c_float, C.c_uint, V],
    ),
    "dnnl_layer_normalization_backward_primitive_desc_create": (
        _status,
        [_P, V, C.c_int, V, V, V, V, C.c_float, C.c_uint, V, V],
    ),
    "dnnl_matmul_primitive_desc_create": (_status, [_P, V, V, V, V, V, V]),
    # pooling
    "dnnl_pooling_forward_primitive_desc_create": (
        _status,
        [_P, V, C.c_int, C.c_int, V, V, Dims, Dims, Dims, Dims, Dims, V],
    ),
    "dnnl_pooling_backward_primitive_desc_create": (
        _status,
        [_P, V, C.c_int, V, V, Dims, Dims, Dims, Dims, Dims, V, V],
    ),
}


class OneDNNError(RuntimeError):
    """A oneDNN call returned a status other than success."""

    def __init__(self, what: str, status: int):
        super().__init__(f"oneDNN {what} failed with status {status}")
        self.status = status


def check(status: int, what: str) -> None:
    if status:
        raise OneDNNError(what, status)


def candidates() -> list:
    """The paths to try, in order (see the module docstring)."""
    explicit = os.environ.get("NPCONV_ONEDNN_LIBRARY", "").strip()
    if explicit:
        return [explicit]
    places = [os.path.join(sys.prefix, "lib", LIBRARY_NAME)]
    try:
        places.append(os.path.join(site.getuserbase(), "lib", LIBRARY_NAME))
    except Exception:  # noqa: BLE001 - no user base on this interpreter
        pass
    return places


class Library:
    """The loaded library: ``lib`` (the CDLL), ``path``, ``engine``, a stream per
    thread, and the OpenMP runtime's thread count (``threads``, :meth:`use_threads`)."""

    def __init__(self, lib, path, gomp=None):
        self.lib, self.path, self.gomp = lib, path, gomp
        if gomp is not None:
            gomp.omp_set_num_threads.argtypes, gomp.omp_set_num_threads.restype = [C.c_int], None
            gomp.omp_get_max_threads.argtypes, gomp.omp_get_max_threads.restype = [], C.c_int
        self.threads = gomp.omp_get_max_threads() if gomp is not None else os.cpu_count() or 1
        for name, (restype, argtypes) in SIGNATURES.items():
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes
        self.engine = V()
        check(lib.dnnl_engine_create(C.byref(self.engine), CONSTANTS["dnnl_cpu"], 0), "engine creation")
        self._local = threading.local()

    @property
    def stream(self):
        """This thread's stream (oneDNN streams are not shared between threads)."""
        holder = getattr(self._local, "stream", None)
        if holder is None:
            holder = self._local.stream = _Stream(self)
        return holder.handle

    def use_threads(self, count: int) -> None:
        """Run this thread's next primitives (and create them) on ``count`` OpenMP threads."""
        local = self._local
        if getattr(local, "threads", None) != count and self.gomp is not None:
            self.gomp.omp_set_num_threads(count)
            local.threads = count

    def version(self) -> str:
        v = self.lib.dnnl_version().contents
        return f"{v.major}.{v.minor}.{v.patch}"

    def cpu_isa(self) -> str:
        isa = self.lib.dnnl_get_effective_cpu_isa()
        return CPU_ISA_NAMES.get(isa, str(isa))


class _Stream:
    def __init__(self, library):
        self.lib, self.handle = library.lib, V()
        check(self.lib.dnnl_stream_create(C.byref(self.handle), library.engine, 1), "stream creation")

    def __del__(self):
        try:
            self.lib.dnnl_stream_destroy(self.handle)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


_loaded: list = []  # [Library] or [None, reason]
_lock = threading.Lock()


def load():
    """``(Library, path)`` or ``(None, reason)``; tried once per process."""
    if not _loaded:
        with _lock:
            if not _loaded:
                _loaded.extend(_try_load())
    return _loaded[0], _loaded[1]


def _quiet_openmp():
    """Idle OpenMP threads sleep instead of spinning, unless the user chose
    otherwise: on a machine shared with other busy processes, spinning threads
    take the cores the working ones need. GNU OpenMP reads this when it loads,
    so it only has an effect if nothing in the process has loaded it yet."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _openmp():
    """The GNU OpenMP runtime libdnnl was linked with, or None."""
    try:
        return C.CDLL("libgomp.so.1")
    except OSError:
        return None


def _try_load():
    if not sys.platform.startswith("linux"):
        return None, f"oneDNN via ctypes is set up for Linux only (this is {sys.platform})"
    reasons = []
    for path in candidates():
        if not os.path.exists(path):
            reasons.append(f"{path} does not exist")
            continue
        try:
            _quiet_openmp()
            lib = C.CDLL(path)
            library = Library(lib, path, _openmp())
        except (OSError, AttributeError, OneDNNError) as error:
            reasons.append(f"{path}: {error}")
            continue
        return library, path
    return None, "; ".join(reasons) or "no place to look for " + LIBRARY_NAME
