"""Which algorithm runs a convolution: picked from the shape, cached per shape,
and overridable for debugging.

Algorithms, by the kernel that runs them:

forward convolution (``conv_forward``; a stride-1 input gradient is one too)
    ``small``      tiny problems, and one input channel: one cached gather and one
                   matmul, no padding copy
    ``gemm``       1x1 kernels without pads: one matrix product on the (strided) input
    ``window``     1-D, dilation 1, groups 1: GEMMs read the input's windows in place,
                   one per stride phase whose windows do not overlap (no im2col copy)
    ``winograd``   3x3, stride 1, 2-D, groups 1, any dilation: Winograd F(4x4, 3x3)
                   as batched matmuls (``winograd2``: F(2x2, 3x3), on request only:
                   measured here it never beat im2col or F(4x4))
    ``depthwise``  groups == input channels: the per-tap products of the windows and
                   the kernel, summed in one einsum per block (no grouped matmul)
    ``im2col``     any conv: strided windows copied in bounded chunks, one GEMM each
transposed convolution (``conv_transpose_forward``; a strided input gradient is one too)
    ``scatter``    one GEMM of the input with every tap, then the taps added into
                   the output, phase by phase
    ``subpixel``   stride-phase decomposition: one stride-1 conv per output phase
kernel gradient (``conv_kernel_grad``)
    ``small``, ``winograd``, ``depthwise``, ``gemm``, ``window``, ``im2col``, as above

Force one with ``set_algorithm('im2col')`` (a call, or a ``with`` block that
restores the previous choice), or with the environment variable
``NPCONV_ALGORITHM=im2col`` read at import. A forced algorithm runs wherever it
applies; other calls keep their usual choice. ``record()`` lists what ran.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from math import prod

ALGORITHMS = {
    "conv": ("small", "gemm", "window", "winograd", "winograd2", "depthwise", "im2col"),
    "conv_transpose": ("scatter", "subpixel"),
    "kernel_grad": ("small", "gemm", "window", "winograd", "winograd2", "depthwise", "im2col"),
}
NAMES = tuple(dict.fromkeys(name for names in ALGORITHMS.values() for name in names))

# Thresholds of the default choice (measured on a 2-core AVX-512 machine; see docs/performance.md).
SMALL_MACS = 1 << 17  # up to this many multiply-adds, call overhead dominates: "small"
GATHER_COLUMNS = 1 << 20  # one input channel: "small"'s gather beats im2col's element-wise
#                           window copy (3x on a 32x8x8x1 batch) up to this many column entries
WINOGRAD_MIN_CHANNELS = 32  # in and out channels; the transforms cost about (m+2)^2 / channels
WINOGRAD_MIN_SIZE = 16  # output height and width per dilation phase; below, tile padding and
#                         per-tile overhead cost more than the products saved (an 8x8 image: 2.5x slower)

_forced: str | None = None
_cache: dict = {}
_CACHE_LIMIT = 4096
_recording: list | None = None


def _invalid(value):
    return ValueError(
        f"Invalid value for argument `algorithm`. Expected None or one of {list(NAMES)}. Received: algorithm={value!r}"
    )


class set_algorithm:
    """Force an algorithm wherever it applies (``None`` restores automatic choice).

    Works as a call, ``set_algorithm('im2col')``, or as a context manager,
    ``with set_algorithm('winograd'): ...``, which restores the previous setting
    on exit. Names: see :data:`NAMES`.
    """

    def __init__(self, algorithm: str | None):
        global _forced
        if algorithm is not None and algorithm not in NAMES:
            raise _invalid(algorithm)
        self.previous = _forced
        _forced = algorithm

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _forced
        _forced = self.previous
        return False


def get_algorithm() -> str | None:
    """The forced algorithm, or None when each call picks its own."""
    return _forced


def clear_cache() -> None:
    """Forget every cached choice."""
    _cache.clear()


@contextmanager
def record():
    """Collect ``(kernel, algorithm)`` for every dispatched call inside the block."""
    global _recording
    previous, seen = _recording, []
    _recording = seen
    try:
        yield seen
    finally:
        _recording = previous
        if previous is not None:
            previous.extend(seen)


def note(kernel: str, algorithm: str) -> None:
    if _recording is not None:
        _recording.append((kernel, algorithm))


def choose(op: str, key: tuple, describe) -> str:
    """The algorithm for ``op`` on this shape: the forced one if it applies,
    else the cached or freshly computed default. ``describe()`` returns the
    shape dict the rules read; it runs only on a cache miss or when forced."""
    if _forced is not None and _forced in ALGORITHMS[op] and applicable(_forced, op, describe()):
        return _forced
    algorithm = _cache.get(key)
    if algorithm is None:
        algorithm = _default(op, describe())
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[key] = algorithm
    return algorithm


# --------------------------------------------------------------------------
# shapes: a dict with x_shape, kernel_size, cin (per group), filters, strides,
# dilation, groups, padding_mode, output_size
# --------------------------------------------------------------------------
def _is_depthwise(s):
    channels = s["x_shape"][-1]
    return s["groups"] == channels and s["cin"] == 1 and channels > 1


def _winograd_ok(s):
    return (
        len(s["kernel_size"]) == 2
        and tuple(s["kernel_size"]) == (3, 3)
        and all(v == 1 for v in s["strides"])
        and s["groups"] == 1
    )


def applicable(algorithm: str, op: str, s: dict) -> bool:
    if op == "conv_transpose":
        if algorithm == "subpixel":
            return all(d == 1 for d in s["dilation"])
        return True
    if algorithm == "small":
        return s["padding_mode"] == "zeros" and s["groups"] == 1
    if algorithm == "gemm":
        return all(k == 1 for k in s["kernel_size"]) and not any(b or a for b, a in s["pads"])
    if algorithm == "window":
        return len(s["kernel_size"]) == 1 and s["dilation"] == (1,) and s["groups"] == 1
    if algorithm in ("winograd", "winograd2"):
        return _winograd_ok(s)
    if algorithm == "depthwise":
        return _is_depthwise(s)
    return algorithm == "im2col"


def _default(op: str, s: dict) -> str:
    if op == "conv_transpose":
        return "scatter"
    macs = s["x_shape"][0] * prod(s["output_size"]) * s["filters"] * prod(s["kernel_size"]) * s["cin"]
    if macs <= SMALL_MACS and applicable("small", op, s):
        return "small"
    columns = s["x_shape"][0] * prod(s["output_size"]) * prod(s["kernel_size"])
    if s["x_shape"][-1] == 1 and columns <= GATHER_COLUMNS and applicable("small", op, s):
        return "small"
    if _is_depthwise(s):
        return "depthwise"
    if applicable("gemm", op, s):
        return "gemm"
    if applicable("window", op, s):
        return "window"
    if _winograd_ok(s) and min(s["cin"], s["filters"]) >= WINOGRAD_MIN_CHANNELS:
        per_phase = [-(-o // d) for o, d in zip(s["output_size"], s["dilation"])]
        if min(per_phase) >= WINOGRAD_MIN_SIZE:
            return "winograd"
    return "im2col"


def _read_environment():
    value = os.environ.get("NPCONV_ALGORITHM", "").strip()
    if not value or value.lower() in ("auto", "none"):
        return None
    if value not in NAMES:
        warnings.warn(f"Ignoring NPCONV_ALGORITHM={value!r}: expected one of {list(NAMES)}.", stacklevel=2)
        return None
    return value


_forced = _read_environment()
