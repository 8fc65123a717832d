"""Activations on numpy: the functions and derivatives of :mod:`npconv.activations`.

One algorithm per pass, ``eltwise``, for every :class:`~npconv.ops.spec.EltwiseSpec`
(any activation, any dtype). The formulas live in :data:`npconv.activations.ACTIVATIONS`
only; this module looks them up by the spec's name.
"""

from __future__ import annotations

from .... import activations
from ...registry import Algorithm


def forward(spec, x):
    """y = activation(x), in x's float dtype."""
    function, _ = activations.ACTIVATIONS[spec.activation]
    return function(x, **spec.keywords)


def backward(spec, saved, dy):
    """dx from dy and ``saved``: y where ``spec.from_output``, else x."""
    x, y = (None, saved) if spec.from_output else (saved, None)
    return activations.derivative(spec.activation, x, y, dy, **spec.keywords)


def _any(spec):
    return True


ALGORITHMS = (
    Algorithm(
        "eltwise",
        "numpy",
        "eltwise_forward",
        _any,
        forward,
        summary="every activation and dtype: the function of npconv.activations",
    ),
    Algorithm(
        "eltwise",
        "numpy",
        "eltwise_backward",
        _any,
        backward,
        summary="every activation and dtype: its derivative in npconv.activations, from x or y as the activation needs",
    ),
)
