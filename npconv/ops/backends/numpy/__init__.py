"""The numpy backend: the exact reference, and the fallback for every spec.

Its algorithms, by pass (the registry's names):

forward (also a transposed conv's input gradient)
    ``small``      tiny problems, and one input channel: one cached gather and one matmul
    ``gemm``       1x1 kernels without pads: one matrix product on the (strided) input
    ``depthwise``  groups == input channels: per-tap products summed in one einsum per block
    ``im2col``     any conv: strided windows copied in bounded chunks, one GEMM each
input_grad (also a transposed conv's forward)
    ``flip``       stride 1: a forward conv of dy with the flipped kernel
    ``depthwise``  the depthwise form, per tap
    ``scatter``    one GEMM of dy with every tap, then the taps added into dx
    ``subpixel``   one stride-1 conv per stride phase of dx (dilation 1)
kernel_grad
    ``small``, ``gemm``, ``depthwise``, ``im2col``: the windows of x contracted with dy

Every algorithm holds at most about ``WORKSPACE_BYTES`` of temporaries at
once, splitting its work into batch, then row chunks. Every output reads only
the inputs its window covers, so a NaN or Inf reaches exactly the outputs
whose windows contain it.
"""

from __future__ import annotations

from math import prod

import numpy as np

from ...registry import Algorithm, first_applying
from ...spec import PASSES, ConvSpec
from . import dense, depthwise, eltwise, im2col, normalization, pooling, transpose

NAME = "numpy"

# Bytes of temporaries (im2col columns, padded blocks) one call may hold at once.
WORKSPACE_BYTES = 64 * 2**20

# Thresholds of the default choice (measured on a 2-core AVX-512 machine; see docs/performance.md).
SMALL_MACS = 1 << 17  # up to this many multiply-adds, call overhead dominates: "small"
GATHER_COLUMNS = 1 << 20  # one input channel: "small"'s gather beats im2col's copy up to this many entries


def available():
    """Always (True, "NumPy"): this backend runs everywhere."""
    return True, "NumPy"


def _dtype(spec):
    return np.dtype(spec.dtype)


def _k_eff(spec):
    return [(k - 1) * d + 1 for k, d in zip(spec.kernel_size, spec.dilation)]


# ----------------------------------------------------------------------- forward
def _small(spec, x, kernel, bias=None, keep=None):
    return im2col.forward_small(x, kernel, spec.strides, spec.pads, spec.dilation, _dtype(spec), spec, keep)


def _gemm(spec, x, kernel, bias=None, keep=None):
    return im2col.forward_gemm(x, kernel, spec.strides, spec.pads, spec.groups, "zeros", WORKSPACE_BYTES, _dtype(spec))


def _depthwise(spec, x, kernel, bias=None, keep=None):
    return depthwise.forward(x, kernel, spec.strides, spec.pads, spec.dilation, "zeros", WORKSPACE_BYTES, _dtype(spec))


def _im2col(spec, x, kernel, bias=None, keep=None):
    return im2col.forward(
        x, kernel, spec.strides, spec.pads, spec.dilation, spec.groups, "zeros", WORKSPACE_BYTES, _dtype(spec), keep
    )


def _small_applies(spec):
    return spec.groups == 1


def _gemm_applies(spec):
    return all(k == 1 for k in spec.kernel_size) and not any(b or a for b, a in spec.pads)


def _depthwise_applies(spec):
    return spec.depthwise


def forward(x, kernel, strides, pads, dilation, groups=1):
    """The numpy forward conv of arrays (the inner conv of ``flip`` and ``subpixel``)."""
    dtype = np.result_type(x.dtype, kernel.dtype)
    spec = ConvSpec(x.shape, kernel.shape, tuple(strides), tuple(map(tuple, pads)), tuple(dilation), groups, dtype.name)
    return default("forward", spec).run(spec, x, kernel)


# ----------------------------------------------------------------------- input gradient
def _flip_applies(spec):
    return all(s == 1 for s in spec.strides) and all(
        0 <= b <= ke - 1 and 0 <= a <= ke - 1 for (b, a), ke in zip(spec.pads, _k_eff(spec))
    )


def _flip(spec, dy, kernel):
    flipped = transpose.as_forward_kernel(kernel[(slice(None, None, -1),) * spec.rank], spec.groups)
    inner = [(ke - 1 - b, ke - 1 - a) for (b, a), ke in zip(spec.pads, _k_eff(spec))]
    return forward(dy, flipped, (1,) * spec.rank, inner, spec.dilation, spec.groups)


def _depthwise_input_grad(spec, dy, kernel):
    return depthwise.input_grad(
        dy,
        kernel,
        spec.in_channels,
        spec.strides,
        spec.pads,
        spec.dilation,
        spec.x_shape[1:-1],
        "zeros",
        WORKSPACE_BYTES,
        _dtype(spec),
    )


def _scatter(spec, dy, kernel):
    offset = [b for b, _ in spec.pads]
    return transpose.scatter(
        dy, kernel, spec.strides, spec.dilation, offset, spec.x_shape[1:-1], spec.groups, WORKSPACE_BYTES, _dtype(spec)
    )


def _subpixel(spec, dy, kernel):
    offset = [b for b, _ in spec.pads]
    return transpose.subpixel(
        dy, kernel, spec.strides, offset, spec.x_shape[1:-1], spec.groups, forward, _dtype(spec), WORKSPACE_BYTES
    )


# ----------------------------------------------------------------------- kernel gradient
def _from_kept(run):
    """Reuse the forward pass's im2col columns (a training step) when it kept them."""

    def kernel_grad(spec, x, dy, kept=None):
        cols = kept.get("cols") if kept else None
        if cols is not None and cols.dtype == _dtype(spec):
            return im2col.kernel_grad_from_columns(cols, dy, spec.kernel_shape), None
        return run(spec, x, dy), None

    return kernel_grad


def _small_kernel_grad(spec, x, dy):
    return im2col.kernel_grad_small(x, dy, spec.kernel_shape, spec.strides, spec.pads, spec.dilation, _dtype(spec))


def _gemm_kernel_grad(spec, x, dy):
    return im2col.kernel_grad_gemm(x, dy, spec.kernel_shape, spec.strides, spec.groups, _dtype(spec))


def _depthwise_kernel_grad(spec, x, dy):
    return depthwise.kernel_grad(
        x, dy, spec.kernel_shape, spec.strides, spec.pads, spec.dilation, "zeros", WORKSPACE_BYTES, _dtype(spec)
    )


def _im2col_kernel_grad(spec, x, dy):
    return im2col.kernel_grad(
        x,
        dy,
        spec.kernel_shape,
        spec.strides,
        spec.pads,
        spec.dilation,
        spec.groups,
        "zeros",
        WORKSPACE_BYTES,
        _dtype(spec),
    )


def _always(spec):
    return True


def _unit_dilation(spec):
    return all(d == 1 for d in spec.dilation)


_A = Algorithm
ALGORITHMS = (
    _A(
        "small",
        NAME,
        "forward",
        _small_applies,
        _small,
        summary="up to 2^17 multiply-adds, or one input channel (groups 1): one gather with indices cached per shape, one matrix product",
    ),
    _A(
        "gemm",
        NAME,
        "forward",
        _gemm_applies,
        _gemm,
        summary="1x1 kernels without pads: one matrix product on the (strided) input",
    ),
    _A(
        "depthwise",
        NAME,
        "forward",
        _depthwise_applies,
        _depthwise,
        summary="groups == input channels: the windows times the kernel, summed tap by tap in one einsum per block",
    ),
    _A(
        "im2col",
        NAME,
        "forward",
        _always,
        _im2col,
        summary="any conv: windows copied into columns in blocks of about 4 MiB, one GEMM per block; a training step keeps one block of columns for the kernel gradient",
    ),
    _A(
        "flip",
        NAME,
        "input_grad",
        _flip_applies,
        _flip,
        summary="stride 1, pads below the kernel: a forward conv of dy with the flipped kernel (which picks its own forward algorithm)",
    ),
    _A(
        "depthwise",
        NAME,
        "input_grad",
        _depthwise_applies,
        _depthwise_input_grad,
        summary="groups == input channels, except stride 1 with multiplier 1 (flip): the taps of dy scattered per channel",
    ),
    _A(
        "scatter",
        NAME,
        "input_grad",
        _always,
        _scatter,
        summary="everything else: one GEMM of dy with every tap, each tap's products added into the phase of dx it lands in",
    ),
    _A(
        "subpixel",
        NAME,
        "input_grad",
        _unit_dilation,
        _subpixel,
        summary="dilation 1, on request: one stride-1 forward conv per phase of dx",
    ),
    _A(
        "small",
        NAME,
        "kernel_grad",
        _small_applies,
        _from_kept(_small_kernel_grad),
        summary="as forward small: the gathered columns, transposed, times dy",
    ),
    _A(
        "gemm",
        NAME,
        "kernel_grad",
        _gemm_applies,
        _from_kept(_gemm_kernel_grad),
        summary="1x1 without pads: x (strided) transposed times dy",
    ),
    _A(
        "depthwise",
        NAME,
        "kernel_grad",
        _depthwise_applies,
        _from_kept(_depthwise_kernel_grad),
        summary="groups == input channels: per tap, the windows of x times dy, summed in one einsum per block",
    ),
    _A(
        "im2col",
        NAME,
        "kernel_grad",
        _always,
        _from_kept(_im2col_kernel_grad),
        summary="any conv: the windows' columns transposed times dy, block by block (or the columns the forward kept)",
    ),
    *eltwise.ALGORITHMS,
    *normalization.ALGORITHMS,
    *dense.ALGORITHMS,
    *pooling.ALGORITHMS,
)
_BY_NAME = {(a.pass_, a.name): a for a in ALGORITHMS}


def default(pass_: str, spec) -> Algorithm:
    """The numpy algorithm for this pass and spec (numpy runs every spec)."""
    if pass_ not in PASSES:  # another op family (pooling, dense, ...): its first algorithm that applies
        return first_applying(ALGORITHMS, pass_, spec)
    if pass_ == "input_grad":
        unit = all(s == 1 for s in spec.strides)
        if spec.depthwise and not (unit and spec.filters == spec.in_channels):
            return _BY_NAME[pass_, "depthwise"]
        return _BY_NAME[pass_, "flip" if _flip_applies(spec) else "scatter"]
    if spec.groups == 1:
        if spec.macs <= SMALL_MACS:
            return _BY_NAME[pass_, "small"]
        columns = spec.x_shape[0] * prod(spec.output_size) * prod(spec.kernel_size)
        if spec.in_channels == 1 and columns <= GATHER_COLUMNS:
            return _BY_NAME[pass_, "small"]
    if spec.depthwise:
        return _BY_NAME[pass_, "depthwise"]
    if _gemm_applies(spec):
        return _BY_NAME[pass_, "gemm"]
    return _BY_NAME[pass_, "im2col"]
