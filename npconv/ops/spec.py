"""The spec of one convolution kernel call: what every backend and the registry key on.

A :class:`ConvSpec` describes one forward convolution, channels_last, with
zero pads only: padding modes are applied before a spec is made, and negative
pads (crops, from transposed geometry) are turned into slices. The same spec
names all three passes of that convolution: ``"forward"`` (y from x),
``"input_grad"`` (dx from dy) and ``"kernel_grad"`` (dkernel, and dbias when
``bias``, from x and dy). A transposed convolution is the ``input_grad`` pass
of the forward convolution that maps its output back to its input.

Other op families append their own spec below, each naming its passes
``"<family>_<pass>"``: :class:`EltwiseSpec` (activations),
:class:`DenseSpec` (``x @ kernel + bias`` of a Dense layer, on 2-D arrays)
and :class:`PoolSpec` (max and average pooling).
"""

from __future__ import annotations

from math import prod
from typing import NamedTuple

from .. import activations

__all__ = [
    "DENSE_PASSES",
    "ELTWISE_PASSES",
    "FUSED_ACTIVATIONS",
    "ConvSpec",
    "DenseSpec",
    "EltwiseSpec",
    "PASSES",
    "eltwise_spec",
    "POOL_KINDS",
    "PoolSpec",
    "make_pool_spec",
    "make_spec",
]

PASSES = ("forward", "input_grad", "kernel_grad")

# Element-wise activations a forward pass may fuse, by name (a spec's ``activation``).
# Those whose gradient reads only the output (activations.gradient_reads_output) may be fused
# while training too.
FUSED_ACTIVATIONS = {
    "relu": activations.relu,
    "sigmoid": activations.sigmoid,
    "tanh": activations.tanh,
    "elu": activations.elu,
    "gelu": activations.gelu,
    "silu": activations.silu,
}


def window_count(sizes, pads, spans, strides) -> tuple:
    """Per spatial dimension, how many windows of ``span`` fit the padded length
    at ``stride``: ``(n + before + after - span) // stride + 1``."""
    return tuple((n + b + a - span) // s + 1 for n, (b, a), span, s in zip(sizes, pads, spans, strides))


class ConvSpec(NamedTuple):
    """One convolution, as the kernels see it (immutable and hashable).

    Args:
        x_shape: (batch, *spatial, in_channels) of the input.
        kernel_shape: (*kernel_size, in_channels / groups, filters).
        strides: one positive int per spatial dimension.
        pads: one (pad_before, pad_after) pair of non-negative ints per spatial dimension.
        dilation: one positive int per spatial dimension.
        groups: the number of channel groups.
        dtype: the computation's dtype name, e.g. ``"float32"``.
        channels_first: whether the arrays are channels_first in memory (x is a
            channels_last view of a C-contiguous (batch, channels, *spatial) array).
        activation: the element-wise activation to fuse into the forward pass, or None.
        bias: whether a bias is added in the forward pass (and its gradient wanted).
    """

    x_shape: tuple
    kernel_shape: tuple
    strides: tuple
    pads: tuple
    dilation: tuple
    groups: int
    dtype: str
    channels_first: bool = False
    activation: str | None = None
    bias: bool = False

    @property
    def rank(self) -> int:
        return len(self.strides)

    @property
    def kernel_size(self) -> tuple:
        return self.kernel_shape[:-2]

    @property
    def in_channels(self) -> int:
        return self.x_shape[-1]

    @property
    def filters(self) -> int:
        return self.kernel_shape[-1]

    @property
    def output_size(self) -> tuple:
        spans = [(k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation)]
        return window_count(self.x_shape[1:-1], self.pads, spans, self.strides)

    @property
    def y_shape(self) -> tuple:
        return (self.x_shape[0], *self.output_size, self.filters)

    @property
    def macs(self) -> int:
        """Multiply-adds of the forward pass."""
        return self.x_shape[0] * prod(self.output_size) * self.filters * prod(self.kernel_size) * self.kernel_shape[-2]

    @property
    def depthwise(self) -> bool:
        """groups == in_channels > 1: every group reads one input channel."""
        return self.groups == self.in_channels > 1 and self.kernel_shape[-2] == 1


def make_spec(x_shape, kernel_shape, strides, pads, dilation, groups=1, dtype="float32", **options) -> ConvSpec:
    """A :class:`ConvSpec` from sequences (converted to tuples of ints)."""
    return ConvSpec(
        tuple(x_shape),
        tuple(kernel_shape),
        tuple(strides),
        tuple((int(b), int(a)) for b, a in pads),
        tuple(dilation),
        int(groups),
        str(dtype),
        **options,
    )


# --------------------------------------------------------------------------
# element-wise activations (and the along-axis ones: softmax, log_softmax, ...)
# --------------------------------------------------------------------------
ELTWISE_PASSES = ("eltwise_forward", "eltwise_backward")


class EltwiseSpec(NamedTuple):
    """One activation kernel call, as the kernels see it (immutable and hashable).

    The same spec names both passes: ``"eltwise_forward"`` (y from x) and
    ``"eltwise_backward"`` (dx from dy and the one array the derivative reads:
    y where :attr:`from_output`, else x).

    Args:
        activation: a name in :data:`npconv.activations.ACTIVATIONS`, e.g. ``"elu"``.
        options: the activation's keyword arguments as sorted ``(name, value)``
            pairs, e.g. ``(("alpha", 0.5),)``; ``()`` for the defaults.
        shape: the input's shape.
        dtype: the input's dtype name, e.g. ``"float32"``.
    """

    activation: str
    options: tuple
    shape: tuple
    dtype: str

    @property
    def keywords(self) -> dict:
        """The options as keyword arguments of the activation function."""
        return dict(self.options)

    @property
    def size(self) -> int:
        """Elements of the input."""
        return prod(self.shape)

    @property
    def macs(self) -> int:
        """The work count by which oneDNN picks its thread count: one per element."""
        return self.size

    @property
    def from_output(self) -> bool:
        """Whether the backward pass reads y (True) or x (False)."""
        return activations.gradient_reads_output(self.activation, **self.keywords)


def eltwise_spec(activation, shape, dtype) -> EltwiseSpec | None:
    """The :class:`EltwiseSpec` of a built-in activation applied to an array, or None.

    Args:
        activation: a function of :mod:`npconv.activations` or a
            ``functools.partial`` of one with keyword arguments; anything else
            (a custom callable) gives None.
        shape: the input's shape.
        dtype: the input's dtype.
    """
    found = activations.builtin(activation)
    if found is None:
        return None
    name, keywords = found
    options = tuple(sorted((key, _hashable(value)) for key, value in keywords.items()))
    return EltwiseSpec(name, options, tuple(shape), str(dtype))


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


# ----------------------------------------------------------------------- normalization
__all__ += ["LayerNormSpec", "NormSpec", "make_layer_norm_spec", "make_norm_spec"]


class NormSpec(NamedTuple):
    """One batch normalization call, as the kernels see it (immutable and hashable).

    ``y = gamma * (x - mean) / sqrt(variance + epsilon) + beta`` per feature,
    with the mean and variance taken over every axis but ``axis`` (the batch's,
    when ``training``) or given (the moving statistics).

    Args:
        x_shape: the shape of x (and y), batch first.
        axis: the features axis, a non-negative int below ``len(x_shape)``.
        epsilon: the number added to the variance.
        center: whether beta is added (and its gradient wanted).
        scale: whether gamma multiplies (and its gradient wanted).
        training: whether the batch's mean and biased variance normalize x
            (and are differentiated through); else the given ones, held constant.
        dtype: the computation's dtype name, e.g. ``"float32"``.
    """

    x_shape: tuple
    axis: int
    epsilon: float
    center: bool
    scale: bool
    training: bool
    dtype: str

    @property
    def features(self) -> int:
        return self.x_shape[self.axis]

    @property
    def reduce_axes(self) -> tuple:
        """The axes the statistics are taken over: all but ``axis``."""
        return tuple(i for i in range(len(self.x_shape)) if i != self.axis)

    @property
    def stats_shape(self) -> tuple:
        """The shape a per-feature vector takes to broadcast against x."""
        return tuple(n if i == self.axis else 1 for i, n in enumerate(self.x_shape))

    @property
    def macs(self) -> int:
        """The work count the thread choice reads: one multiply-add per element of x."""
        return prod(self.x_shape)


def make_norm_spec(x_shape, axis, epsilon, center=True, scale=True, training=False, dtype="float32") -> NormSpec:
    """A :class:`NormSpec` from plain values; a negative ``axis`` counts from the end."""
    x_shape = tuple(int(n) for n in x_shape)
    return NormSpec(
        x_shape, int(axis) % len(x_shape), float(epsilon), bool(center), bool(scale), bool(training), str(dtype)
    )


class LayerNormSpec(NamedTuple):
    """One layer normalization call, as the kernels see it (immutable and hashable).

    For every sample (every index of the axes not in ``axes``),
    ``y = gamma * (x - mean) / sqrt(variance + epsilon) + beta``, with the
    mean and biased variance taken over ``axes``; with ``rms_scaling``,
    ``y = gamma * x / sqrt(variance + epsilon)`` (the variance still about the mean).

    Args:
        x_shape: the shape of x (and y).
        axes: the normalized axes, sorted non-negative ints; gamma and beta
            have their lengths (:attr:`weights_shape`).
        epsilon: the number added to the variance.
        center: whether beta is added (and its gradient wanted).
        scale: whether gamma multiplies (and its gradient wanted).
        rms_scaling: Keras's deprecated variant, without centering or beta.
        dtype: the computation's dtype name, e.g. ``"float32"``.
    """

    x_shape: tuple
    axes: tuple
    epsilon: float
    center: bool
    scale: bool
    rms_scaling: bool
    dtype: str

    @property
    def weights_shape(self) -> tuple:
        """The shape of gamma and beta: the lengths of ``axes``."""
        return tuple(self.x_shape[a] for a in self.axes)

    @property
    def broadcast_shape(self) -> tuple:
        """The shape gamma and beta take to broadcast against x."""
        return tuple(n if i in self.axes else 1 for i, n in enumerate(self.x_shape))

    @property
    def stats_shape(self) -> tuple:
        """The shape of the per-sample mean and variance: x's, with ``axes`` of length 1."""
        return tuple(1 if i in self.axes else n for i, n in enumerate(self.x_shape))

    @property
    def macs(self) -> int:
        """The work count the thread choice reads: one multiply-add per element of x."""
        return prod(self.x_shape)


def make_layer_norm_spec(
    x_shape, axes, epsilon, center=True, scale=True, rms_scaling=False, dtype="float32"
) -> LayerNormSpec:
    """A :class:`LayerNormSpec` from plain values; negative ``axes`` count from the end."""
    x_shape = tuple(int(n) for n in x_shape)
    axes = tuple(sorted(int(a) % len(x_shape) for a in axes))
    return LayerNormSpec(x_shape, axes, float(epsilon), bool(center), bool(scale), bool(rms_scaling), str(dtype))


# --------------------------------------------------------------------------
# dense: y = activation(x @ kernel + bias) on the last axis
# --------------------------------------------------------------------------
DENSE_PASSES = ("dense_forward", "dense_input_grad", "dense_kernel_grad")


class DenseSpec(NamedTuple):
    """One matrix product ``x @ kernel`` of a Dense-like layer, on 2-D arrays
    (immutable and hashable). The layer folds every leading axis of its input
    into ``rows``.

    The same spec names the three passes: ``"dense_forward"`` (y from x),
    ``"dense_input_grad"`` (dx from dy) and ``"dense_kernel_grad"`` (dkernel,
    and dbias when ``bias``, from x and dy).

    Args:
        rows: the product of the input's leading dimensions (batch, ...).
        in_features: the input's last dimension, the kernel's first.
        units: the kernel's last dimension, the output's last.
        dtype: the computation's dtype name, e.g. ``"float32"``.
        bias: whether a bias is added in the forward pass (and its gradient wanted).
        activation: the element-wise activation to fuse into the forward pass
            (a name in :data:`FUSED_ACTIVATIONS`), or None.
    """

    rows: int
    in_features: int
    units: int
    dtype: str
    bias: bool = False
    activation: str | None = None

    @property
    def x_shape(self) -> tuple:
        return (self.rows, self.in_features)

    @property
    def kernel_shape(self) -> tuple:
        return (self.in_features, self.units)

    @property
    def y_shape(self) -> tuple:
        return (self.rows, self.units)

    @property
    def macs(self) -> int:
        """Multiply-adds of the forward pass (each backward pass does as many)."""
        return self.rows * self.in_features * self.units


# ----------------------------------------------------------------------- pooling
POOL_KINDS = ("max", "avg")


class PoolSpec(NamedTuple):
    """One max or average pooling, as the kernels see it (immutable and hashable).

    The same spec names both passes: ``"pool_forward"`` (y from x) and
    ``"pool_backward"`` (dx from dy). Max pooling never picks a pad; average
    pooling divides each window's sum by the number of real (non-pad) pixels
    in it, which is what Keras's padding='same' computes.

    Args:
        kind: ``"max"`` or ``"avg"``.
        x_shape: (batch, *spatial, channels) of the input.
        pool_size: one positive int per spatial dimension.
        strides: one positive int per spatial dimension.
        pads: one (pad_before, pad_after) pair per spatial dimension, each
            non-negative and below the pool size (every window holds a real pixel).
        dtype: the computation's dtype name, e.g. ``"float32"``.
        channels_first: whether the arrays are channels_first in memory (x is a
            channels_last view of a C-contiguous (batch, channels, *spatial) array).
        training: whether the backward pass follows, so a backend may keep what
            it needs for it (oneDNN's max-pool workspace).
    """

    kind: str
    x_shape: tuple
    pool_size: tuple
    strides: tuple
    pads: tuple
    dtype: str
    channels_first: bool = False
    training: bool = False

    @property
    def rank(self) -> int:
        return len(self.pool_size)

    @property
    def output_size(self) -> tuple:
        return window_count(self.x_shape[1:-1], self.pads, self.pool_size, self.strides)

    @property
    def y_shape(self) -> tuple:
        return (self.x_shape[0], *self.output_size, self.x_shape[-1])

    @property
    def macs(self) -> int:
        """Window reads of the forward pass (the work count :func:`threads` sizes on)."""
        return prod(self.y_shape) * prod(self.pool_size)


def make_pool_spec(kind, x_shape, pool_size, strides, pads, dtype="float32", **options) -> PoolSpec:
    """A :class:`PoolSpec` from sequences (converted to tuples of ints)."""
    if kind not in POOL_KINDS:
        raise ValueError(
            f"Invalid value for argument `kind`. Expected one of {list(POOL_KINDS)}. Received: kind={kind!r}"
        )
    return PoolSpec(
        str(kind),
        tuple(int(n) for n in x_shape),
        tuple(int(k) for k in pool_size),
        tuple(int(s) for s in strides),
        tuple((int(b), int(a)) for b, a in pads),
        str(dtype),
        **options,
    )
