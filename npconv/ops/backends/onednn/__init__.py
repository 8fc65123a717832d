"""The onednn backend: oneDNN's primitives, called through ctypes (:mod:`.library`).

One module per op family, each with its ``ALGORITHMS``:

- :mod:`.conv`: convolution forward (bias and activation fused), backward data
  (also every transposed conv) and backward weights;
- :mod:`.eltwise`: activations, forward and backward, and softmax;
- :mod:`.normalization`: batch and layer normalization, forward and backward;
- :mod:`.dense`: ``x @ kernel + bias`` (Dense) forward (bias and activation
  fused), input gradient and kernel gradient, on oneDNN's matmul;
- :mod:`.pooling`: max and average pooling, forward and backward.

What they share (memory descriptors, primitives, the bounded primitive cache,
thread counts, post-ops) is in :mod:`.binding`. A spec a family does not take,
or one the library refuses, runs on numpy.
"""

from __future__ import annotations

from ...registry import first_applying
from ...spec import DENSE_PASSES, PASSES
from . import conv, dense, eltwise, normalization, pooling
from .binding import NAME, ONE_THREAD_MACS, available, clear_cache

__all__ = ["ALGORITHMS", "NAME", "ONE_THREAD_MACS", "available", "clear_cache", "default"]

ALGORITHMS = (
    *conv.ALGORITHMS,
    *eltwise.ALGORITHMS,
    *normalization.ALGORITHMS,
    *dense.ALGORITHMS,
    *pooling.ALGORITHMS,
)


def default(pass_, spec):
    """The oneDNN algorithm for this pass, or None where this backend does not take the spec."""
    if pass_ in PASSES:
        return conv.default(pass_, spec)
    if pass_ in DENSE_PASSES:
        return dense.default(pass_, spec)
    return first_applying(ALGORITHMS, pass_, spec)
