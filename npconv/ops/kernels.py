"""The kernel seam: every convolution kernel call goes through these functions.

Each takes a :class:`~npconv.ops.spec.ConvSpec` (zero pads only; a negative
pad, a crop, is turned into a slice here) and the arrays, asks
:mod:`.registry` which algorithm runs this pass of this spec on the selected
backend (:func:`npconv.config.backend`), runs it, and adds the bias and the
activation where the algorithm did not fuse them.

- :func:`conv_forward`: y = activation(conv(x, kernel) + bias);
- :func:`conv_input_grad`: dx of the conv, given dy (a transposed conv's forward);
- :func:`conv_kernel_grad`: dkernel (and dbias) of the conv, given x and dy;
- :func:`dense_forward`, :func:`dense_input_grad`, :func:`dense_kernel_grad`: the same
  three passes of ``x @ kernel + bias`` (a :class:`~npconv.ops.spec.DenseSpec`), through
  :func:`run`.

Pooling (a :class:`~npconv.ops.spec.PoolSpec`) has its own two:

- :func:`pool_forward`: y, each window's maximum or average;
- :func:`pool_backward`: dx, given dy and what the forward kept.

Nothing here decides a length or a pad: :mod:`npconv.geometry` does.
"""

from __future__ import annotations

import numpy as np

from .. import activations, config
from .backends.numpy.primitives import overlap_add, pad_spatial, pad_spatial_backward, windows
from .registry import choose, fallback, note
from .spec import FUSED_ACTIVATIONS, ConvSpec, DenseSpec, EltwiseSpec, PoolSpec, eltwise_spec

__all__ = [
    "FUSED_ACTIVATIONS",
    "Activated",
    "activation_backward",
    "activation_forward",
    "apply_activation",
    "bias_grad",
    "conv_forward",
    "conv_input_grad",
    "conv_kernel_grad",
    "dense_forward",
    "dense_input_grad",
    "dense_kernel_grad",
    "fusable_activation",
    "gradient_from_output",
    "overlap_add",
    "pad_spatial",
    "pad_spatial_backward",
    "pool_backward",
    "pool_forward",
    "run",
    "windows",
]


_NAMES = {id(function): name for name, function in FUSED_ACTIVATIONS.items()}


def fusable_activation(activation, training: bool = False) -> str | None:
    """The name under which a forward pass can fuse ``activation``, or None.

    Only npconv's own element-wise functions with their default arguments
    qualify; while ``training``, only those whose gradient needs just the
    output (:func:`npconv.activations.gradient_reads_output`).
    """
    name = _NAMES.get(id(activation))
    if name is None or FUSED_ACTIVATIONS[name] is not activation:
        return None
    if training and not activations.gradient_reads_output(name):
        return None
    return name


def gradient_from_output(name: str, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dz for a fused activation ``name`` whose gradient reads only its output y."""
    return activation_backward(EltwiseSpec(name, (), y.shape, dtype_name(y.dtype)), y, dy)


def bias_grad(dy: np.ndarray) -> np.ndarray:
    """dbias of ``y = conv(x) + bias``: dy (batch, *spatial, filters) summed over
    everything but the channels, as one BLAS product with a ones vector."""
    rows = dy.reshape(-1, dy.shape[-1])
    return np.ones(rows.shape[0], dtype=rows.dtype) @ rows


def _crop_of(spec: ConvSpec):
    """(spec with non-negative pads, slices of x or None, whether x or y is empty)."""
    if all(b >= 0 and a >= 0 for b, a in spec.pads):
        cropped, slices = spec, None
    else:
        slices, pads, shape = [slice(None)], [], [spec.x_shape[0]]
        for n, (b, a) in zip(spec.x_shape[1:-1], spec.pads):
            start, stop = max(-b, 0), n - max(-a, 0)
            slices.append(slice(start, max(stop, start)))
            shape.append(max(stop - start, 0))
            pads.append((max(b, 0), max(a, 0)))
        shape.append(spec.x_shape[-1])
        cropped, slices = spec._replace(x_shape=tuple(shape), pads=tuple(pads)), tuple(slices)
    return cropped, slices, 0 in cropped.x_shape or 0 in cropped.y_shape


_crops: dict = {}


def _crop(spec: ConvSpec):
    """:func:`_crop_of`, cached per spec."""
    plan = _crops.get(spec)
    if plan is None:
        if len(_crops) > 4096:
            _crops.clear()
        plan = _crops[spec] = _crop_of(spec)
    return plan


_DTYPE_NAMES: dict = {}


def dtype_name(dtype) -> str:
    """``dtype.name``, remembered per dtype (numpy computes the name in Python,
    microseconds that a small layer call notices)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = dtype.name
    return name


def _epilogue(y, bias, activation):
    if bias is not None:
        y += bias
    if activation is not None:
        y = activation_forward(EltwiseSpec(activation, (), y.shape, dtype_name(y.dtype)), y)
    return y


def run(pass_: str, spec, *arrays):
    """Run ``pass_`` of ``spec`` on the selected backend's algorithm, or on numpy where
    that backend refuses the spec; the seam of every op family other than convolution."""
    algorithm = choose(pass_, spec, config.backend())
    result = algorithm.run(spec, *arrays)
    if result is None:  # the backend refused this spec when it came to it
        algorithm = fallback(pass_, spec)
        result = algorithm.run(spec, *arrays)
    note(pass_, algorithm.name)
    return result


def conv_forward(spec: ConvSpec, x, kernel, bias=None, keep: dict | None = None) -> np.ndarray:
    """y = activation(conv(x, kernel) + bias).

    Args:
        spec: the conv; ``spec.activation`` names the activation (or None),
            ``spec.bias`` says whether ``bias`` is given.
        x: (batch, *spatial, in_channels).
        kernel: (*kernel_size, in_channels / groups, filters).
        bias: (filters,) or None.
        keep: a dict for what the backward pass may reuse (a training step), or None.

    Returns:
        y: (batch, *output_size, filters).
    """
    spec, crop, empty = _crop(spec)
    if crop is not None:
        x = x[crop]
    if empty:
        y = np.zeros(spec.y_shape, dtype=spec.dtype)
        return _epilogue(y, bias, spec.activation)
    algorithm = choose("forward", spec, config.backend())
    y = algorithm.run(spec, x, kernel, bias, keep)
    if y is None:  # the backend refused this spec when it came to it
        algorithm = fallback("forward", spec)
        y = algorithm.run(spec, x, kernel, bias, keep)
    note("forward", algorithm.name)
    return y if algorithm.fuses else _epilogue(y, bias, spec.activation)


def conv_input_grad(spec: ConvSpec, dy, kernel) -> np.ndarray:
    """dx of the conv ``spec``: dy (batch, *output_size, filters) -> (batch, *spatial, in_channels).

    With the roles swapped, this is the transposed conv of dy."""
    cropped, crop, empty = _crop(spec)
    if empty:
        return np.zeros(spec.x_shape, dtype=spec.dtype)
    algorithm = choose("input_grad", cropped, config.backend())
    dx = algorithm.run(cropped, dy, kernel)
    if dx is None:
        algorithm = fallback("input_grad", cropped)
        dx = algorithm.run(cropped, dy, kernel)
    note("input_grad", algorithm.name)
    if crop is None:
        return dx
    full = np.zeros(spec.x_shape, dtype=dx.dtype)
    full[crop] = dx
    return full


def conv_kernel_grad(spec: ConvSpec, x, dy, kept: dict | None = None):
    """(dkernel, dbias) of the conv ``spec``; dbias is None unless ``spec.bias``.

    x: (batch, *spatial, in_channels); dy: (batch, *output_size, filters).
    ``kept``: the ``keep`` dict of the forward call."""
    spec, crop, empty = _crop(spec)
    if crop is not None:
        x = x[crop]
    if empty:
        dbias = np.zeros(spec.filters, dtype=spec.dtype) if spec.bias else None
        return np.zeros(spec.kernel_shape, dtype=spec.dtype), dbias
    algorithm = choose("kernel_grad", spec, config.backend())
    result = algorithm.run(spec, x, dy, kept)
    if result is None:
        algorithm = fallback("kernel_grad", spec)
        result = algorithm.run(spec, x, dy, kept)
    dkernel, dbias = result
    note("kernel_grad", algorithm.name)
    if dbias is None and spec.bias:
        dbias = bias_grad(dy)
    return dkernel, dbias


# ----------------------------------------------------------------------- activations
def activation_forward(spec: EltwiseSpec, x) -> np.ndarray:
    """y = activation(x) for a built-in activation.

    Args:
        spec: the activation, its options, x's shape and dtype (:func:`.spec.eltwise_spec`).
        x: an array of ``spec.shape``.

    Returns:
        y: x's shape; x's dtype for floats (float32 for ints).
    """
    return run("eltwise_forward", spec, x)


def activation_backward(spec: EltwiseSpec, saved, dy) -> np.ndarray:
    """dx of a built-in activation, given dy.

    Args:
        spec: the forward call's spec.
        saved: its output y where ``spec.from_output``, else its input x.
        dy: the loss's gradient with respect to y, y's shape.

    Returns:
        dx: x's shape, in dy's dtype.
    """
    return run("eltwise_backward", spec, saved, dy)


class Activated:
    """What :func:`apply_activation` keeps for :meth:`gradient`: one array for a
    built-in activation (x or y, as its derivative reads), x and y for a custom one."""

    __slots__ = ("spec", "function", "x", "y")

    def __init__(self, spec, function, x, y):
        self.spec, self.function, self.x, self.y = spec, function, x, y

    def gradient(self, dy) -> np.ndarray:
        """dx given dy (y's shape)."""
        if self.spec is None:
            return activations.gradient(self.function, self.x, self.y, dy)
        saved = self.y if self.spec.from_output else self.x
        return activation_backward(self.spec, saved, np.asarray(dy))


def apply_activation(activation, x, keep: bool = False):
    """y = activation(x) for any activation a layer holds, and what its backward pass needs.

    Built-in activations (and ``functools.partial`` of them with keyword arguments)
    run through :func:`activation_forward`; any other callable is called as is.

    Args:
        activation: None, :func:`npconv.activations.linear`, a built-in, or any callable.
        x: the input array.
        keep: whether the backward pass will follow (a training step).

    Returns:
        ``(y, activated)``: ``activated`` is an :class:`Activated` when ``keep``
        and the activation is not the identity, else None (dx is then dy).
    """
    if activation is None or activation is activations.linear:
        return x, None
    spec = eltwise_spec(activation, np.shape(x), np.asarray(x).dtype)
    if spec is None:
        y = activation(x)
        return y, (Activated(None, activation, x, y) if keep else None)
    y = activation_forward(spec, x)
    if not keep:
        return y, None
    return y, Activated(spec, None, None if spec.from_output else x, y if spec.from_output else None)


# ----------------------------------------------------------------------- batch normalization
__all__ += ["batchnorm_backward", "batchnorm_forward"]


def batchnorm_forward(spec, x, gamma=None, beta=None, mean=None, variance=None):
    """y = gamma * (x - mean) / sqrt(variance + epsilon) + beta, per feature.

    Args:
        spec: a :class:`~npconv.ops.spec.NormSpec`.
        x: an array of shape ``spec.x_shape``, features on ``spec.axis``.
        gamma: (features,), or None unless ``spec.scale``.
        beta: (features,), or None unless ``spec.center``.
        mean, variance: (features,), the statistics to use outside training
            (the moving ones); ignored when ``spec.training``.

    Returns:
        (y, mean, variance): y shaped like x, and the statistics used: the
        batch's mean and biased variance when ``spec.training``, else the given ones.
    """
    return run("batchnorm_forward", spec, x, gamma, beta, mean, variance)


def batchnorm_backward(spec, x, dy, gamma=None, mean=None, variance=None):
    """(dx, dgamma, dbeta) of :func:`batchnorm_forward`.

    ``mean`` and ``variance`` are those the forward pass returned; when
    ``spec.training`` the gradient flows through them too, else they are held
    constant. dgamma is None unless ``spec.scale``, dbeta None unless ``spec.center``.
    """
    return run("batchnorm_backward", spec, x, dy, gamma, mean, variance)


# ----------------------------------------------------------------------- layer normalization
__all__ += ["layernorm_backward", "layernorm_forward"]


def layernorm_forward(spec, x, gamma=None, beta=None):
    """y = gamma * (x - mean) / sqrt(variance + epsilon) + beta, per sample over ``spec.axes``.

    Args:
        spec: a :class:`~npconv.ops.spec.LayerNormSpec`.
        x: an array of shape ``spec.x_shape``.
        gamma: shaped ``spec.weights_shape``, or None unless ``spec.scale``.
        beta: shaped ``spec.weights_shape``, or None unless ``spec.center``.

    Returns:
        (y, mean, variance): y shaped like x, and each sample's mean and biased
        variance, shaped ``spec.stats_shape``, for :func:`layernorm_backward`.
    """
    return run("layernorm_forward", spec, x, gamma, beta)


def layernorm_backward(spec, x, dy, gamma=None, mean=None, variance=None):
    """(dx, dgamma, dbeta) of :func:`layernorm_forward`, given the statistics it returned.

    dgamma is None unless ``spec.scale``, dbeta None unless ``spec.center``;
    both are shaped ``spec.weights_shape``.
    """
    return run("layernorm_backward", spec, x, dy, gamma, mean, variance)


# --------------------------------------------------------------------------
# dense: y = activation(x @ kernel + bias)
# --------------------------------------------------------------------------
def dense_forward(spec: DenseSpec, x, kernel, bias=None) -> np.ndarray:
    """y = activation(x @ kernel + bias), the bias and activation fused where the backend can.

    Args:
        spec: the product; ``spec.activation`` names the activation (or None),
            ``spec.bias`` says whether ``bias`` is given.
        x: (rows, in_features).
        kernel: (in_features, units).
        bias: (units,) or None.

    Returns:
        y: (rows, units).
    """
    return run("dense_forward", spec, x, kernel, bias)


def dense_input_grad(spec: DenseSpec, dy, kernel) -> np.ndarray:
    """dx = dy @ kernel.T: dy (rows, units) -> (rows, in_features).

    dy is the gradient of ``x @ kernel + bias``, before any activation."""
    return run("dense_input_grad", spec, dy, kernel)


def dense_kernel_grad(spec: DenseSpec, x, dy):
    """(dkernel, dbias): dkernel = x.T @ dy, (in_features, units); dbias = dy summed
    over the rows, (units,), or None unless ``spec.bias``.

    x: (rows, in_features); dy: (rows, units), the gradient before any activation."""
    return run("dense_kernel_grad", spec, x, dy)


# ----------------------------------------------------------------------- pooling
def pool_forward(spec: PoolSpec, x, keep: dict | None = None) -> np.ndarray:
    """y: each window's maximum or average (:class:`~npconv.ops.spec.PoolSpec`).

    Args:
        spec: the pooling (kind, geometry, dtype, layout).
        x: (batch, *spatial, channels), a channels_last array or view.
        keep: a dict that receives what :func:`pool_backward` needs (for max
            pooling: x, y, and what the backend kept), or None when no backward
            pass follows.

    Returns:
        y: (batch, *output_size, channels).
    """
    y = run("pool_forward", spec, x, keep)
    if keep is not None and spec.kind == "max":
        keep["x"], keep["y"] = x, y
    return y


def pool_backward(spec: PoolSpec, dy, kept: dict | None = None) -> np.ndarray:
    """dx of the pooling ``spec``: dy (batch, *output_size, channels) -> (batch, *spatial, channels).

    Max pooling gives each window's dy to its first maximum (row-major over the
    window; a NaN where the window holds one; never a pad); average pooling
    spreads dy / (real pixels in the window) over the window's real pixels.
    ``kept``: the ``keep`` dict of the forward call (required for max pooling)."""
    if spec.kind == "max" and not kept:
        raise ValueError("Max pooling's backward pass needs the `keep` dict its forward pass filled.")
    return run("pool_backward", spec, dy, kept)
