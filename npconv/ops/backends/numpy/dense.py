"""Dense on numpy: the exact reference for every :class:`~npconv.ops.spec.DenseSpec`.

forward ``y = activation(x @ kernel + bias)``, input gradient ``dx = dy @ kernel.T``,
kernel gradient ``dkernel = x.T @ dy`` and ``dbias = dy`` summed over the rows.
Each product is one BLAS call on the arrays as they lie in memory (a
transpose is a view), in the spec's dtype, float64 and float16 included.
"""

from __future__ import annotations

from ...registry import Algorithm
from ...spec import FUSED_ACTIVATIONS

NAME = "numpy"


def _always(spec) -> bool:
    return True


def forward(spec, x, kernel, bias=None):
    """y (rows, units) = activation(x (rows, in_features) @ kernel (in_features, units) + bias)."""
    y = x @ kernel
    if bias is not None:
        y += bias
    if spec.activation is not None:
        y = FUSED_ACTIVATIONS[spec.activation](y)
    return y


def input_grad(spec, dy, kernel):
    """dx (rows, in_features) = dy (rows, units) @ kernel.T."""
    return dy @ kernel.T


def kernel_grad(spec, x, dy):
    """(dkernel (in_features, units) = x.T @ dy, dbias (units,) or None)."""
    dbias = dy.sum(axis=0) if spec.bias else None
    return x.T @ dy, dbias


ALGORITHMS = (
    Algorithm(
        "matmul",
        NAME,
        "dense_forward",
        _always,
        forward,
        fuses=True,
        summary="any dtype: one matrix product (BLAS), then the bias and the activation",
    ),
    Algorithm(
        "matmul",
        NAME,
        "dense_input_grad",
        _always,
        input_grad,
        summary="any dtype: dy times the kernel's transpose (a view)",
    ),
    Algorithm(
        "matmul",
        NAME,
        "dense_kernel_grad",
        _always,
        kernel_grad,
        summary="any dtype: x's transpose (a view) times dy; dbias as dy summed over the rows",
    ),
)
