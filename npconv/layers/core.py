"""Core layers: Dense, Flatten, Reshape, Activation, Identity, Dropout.

Dense computes through the kernel seam (:mod:`npconv.ops.kernels`), as the
convolutions do. Each follows the training contract of :class:`~npconv.layers.base.Layer`:
``call(x, training)`` keeps what ``backward(dy)`` needs, and ``backward``
returns dx and adds weight gradients with ``Variable.add_grad``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import activations, constraints, initializers, regularizers
from ..arguments import invalid, standardize_data_format, standardize_int
from ..ops import kernels
from ..ops.spec import DenseSpec
from .base import Layer, check_bool, require_none, resolve, serialize_or_none  # noqa: F401  (re-exported)


# --------------------------------------------------------------------------
# Dense
# --------------------------------------------------------------------------
class Dense(Layer):
    """Densely connected layer: ``y = activation(x @ kernel + bias)`` on the last axis.

    Every leading axis is kept: an input of shape (batch, ..., input_dim) is
    folded into rows, multiplied by the kernel in one matrix product, and
    unfolded into (batch, ..., units). The product, the bias and, where the
    backend can, the activation run through the kernel seam
    (:func:`npconv.ops.kernels.dense_forward`), on oneDNN's matmul for large
    float32 products and on NumPy otherwise. While training, an activation
    is fused only if its gradient needs just the output (relu, sigmoid, tanh).

    Args:
        units: a positive int, the size of the output's last axis.
        activation: an activation name or function; None (the default) is linear.
        use_bias: whether to add a learnt bias (True by default).
        kernel_initializer: initializer of the kernel, (input_dim, units).
        bias_initializer: initializer of the bias, (units,).
        kernel_regularizer: optional regularizer of the kernel.
        bias_regularizer: optional regularizer of the bias.
        activity_regularizer: optional regularizer of the output.
        kernel_constraint: optional constraint applied to the kernel after each update.
        bias_constraint: optional constraint applied to the bias after each update.
        lora_rank, lora_alpha, quantization_config: accepted only as None (npconv
            neither adapts nor quantizes weights; Keras writes
            ``quantization_config: null`` into every Dense config).
        **kwargs: base layer arguments (name, dtype, trainable).

    Input: (batch, ..., input_dim). Output: (batch, ..., units).

    Example:

    >>> layer = Dense(2, kernel_initializer="ones", bias_initializer="ones")
    >>> layer(np.array([[1.0, 2.0, 3.0]], dtype="float32"))
    array([[7., 7.]], dtype=float32)
    >>> layer(np.ones((4, 5, 3), dtype="float32")).shape
    (4, 5, 2)
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ):
        require_none("lora_rank", lora_rank, "npconv has no LoRA")
        require_none("lora_alpha", lora_alpha, "npconv has no LoRA")
        require_none("quantization_config", quantization_config, "npconv does not quantize")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = standardize_int(units, "units")
        self.activation = resolve(activations, activation, "activation")
        self.use_bias = check_bool(use_bias, "use_bias")
        self.kernel_initializer = resolve(initializers, kernel_initializer, "kernel_initializer")
        self.bias_initializer = resolve(initializers, bias_initializer, "bias_initializer")
        self.kernel_regularizer = resolve(regularizers, kernel_regularizer, "kernel_regularizer")
        self.bias_regularizer = resolve(regularizers, bias_regularizer, "bias_regularizer")
        self.kernel_constraint = resolve(constraints, kernel_constraint, "kernel_constraint")
        self.bias_constraint = resolve(constraints, bias_constraint, "bias_constraint")
        self.kernel = self.bias = None
        self._cache = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) < 2:
            raise invalid("input_shape", "a shape of rank >= 2 (batch, ..., input_dim) for Dense", shape)
        if shape[-1] is None:
            raise ValueError(
                f"The last dimension of the input to layer '{self.name}' must be known "
                f"to build its kernel. Received: input_shape={shape}."
            )
        input_dim = int(shape[-1])
        self.kernel = self.add_weight(
            (input_dim, self.units), self.kernel_initializer, "kernel", self.kernel_regularizer, self.kernel_constraint
        )
        if self.use_bias:
            self.bias = self.add_weight(
                (self.units,), self.bias_initializer, "bias", self.bias_regularizer, self.bias_constraint
            )
        self.input_spec_shape = (input_dim,)
        self.built = True

    def _check_input(self, shape):
        """Any rank >= 2, with the input_dim the kernel was built for."""
        if len(shape) < 2 or shape[-1] not in (None, self.kernel.shape[0]):
            raise ValueError(
                f"Input to layer '{self.name}' is incompatible: expected shape "
                f"(None, ..., {self.kernel.shape[0]}), received inputs with shape "
                f"{tuple(shape)}. This layer was built for that last dimension; "
                f"create a new layer for a different input size."
            )

    def call(self, x, training=False):
        kernel = self.kernel.value
        bias = self.bias.value if self.use_bias else None
        fused = kernels.fusable_activation(self.activation, training)
        x2d = x.reshape(math.prod(x.shape[:-1]), kernel.shape[0])
        spec = DenseSpec(
            x2d.shape[0], kernel.shape[0], self.units, np.result_type(x, kernel).name, self.use_bias, fused
        )
        z = kernels.dense_forward(spec, x2d, kernel, bias).reshape(*x.shape[:-1], self.units)
        if fused is not None:
            y, activated = z, None
        else:
            y, activated = kernels.apply_activation(self.activation, z, keep=True)
        self._cache = (spec, x2d, x.shape, activated, y, fused)
        return y

    def backward(self, dy, input_grad=True):
        """dx for the last call (None when ``input_grad`` is False); the kernel
        and bias gradients go to their Variables."""
        spec, x2d, x_shape, activated, y, fused = self._cache
        dz = np.asarray(dy, dtype=spec.dtype)
        if fused is not None:
            dz = kernels.gradient_from_output(fused, y, dz)
        elif activated is not None:
            dz = activated.gradient(dz)
        dz2d = dz.reshape(-1, self.units)
        dkernel, dbias = kernels.dense_kernel_grad(spec, x2d, dz2d)
        self.kernel.add_grad(dkernel)
        if self.use_bias:
            self.bias.add_grad(dbias)
        if not input_grad:
            return None
        return kernels.dense_input_grad(spec, dz2d, self.kernel.value).reshape(x_shape)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=serialize_or_none(regularizers, self.kernel_regularizer),
            bias_regularizer=serialize_or_none(regularizers, self.bias_regularizer),
            kernel_constraint=serialize_or_none(constraints, self.kernel_constraint),
            bias_constraint=serialize_or_none(constraints, self.bias_constraint),
            quantization_config=None,
        )
        if self.activity_regularizer is not None:  # as Keras's base Layer: only when set
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config


# --------------------------------------------------------------------------
# Flatten and Reshape
# --------------------------------------------------------------------------
class Flatten(Layer):
    """Flattens every axis but the batch: (batch, ...) -> (batch, prod(...)).

    A rank-1 input (batch,) becomes (batch, 1). With
    data_format='channels_first', the channel axis is moved last before
    flattening, as Keras 3 does, so the order matches a channels_last model.

    Args:
        data_format: 'channels_last' or 'channels_first'; None reads the
            global default (channels_last).
        **kwargs: base layer arguments (name, dtype, trainable).

    Example:

    >>> Flatten()(np.zeros((2, 3, 4), dtype="float32")).shape
    (2, 12)
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self._input_shape = None

    def call(self, x, training=False):
        self._input_shape = x.shape
        if self.data_format == "channels_first" and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)

    def backward(self, dy, input_grad=True):
        shape = self._input_shape
        if self.data_format == "channels_first" and len(shape) > 2:
            moved = (shape[0], *shape[2:], shape[1])
            return np.ascontiguousarray(np.moveaxis(np.reshape(dy, moved), -1, 1))
        return np.reshape(dy, shape)

    def compute_output_shape(self, input_shape):
        dims = tuple(input_shape)[1:]
        if not dims:
            return (input_shape[0], 1)
        if any(d is None for d in dims):
            return (input_shape[0], None)
        return (input_shape[0], math.prod(dims))

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


def _standardize_target_shape(target_shape):
    expected = "a tuple of non-negative ints, with at most one -1 for a dimension to infer"
    try:
        shape = tuple(target_shape)
    except TypeError:
        raise invalid("target_shape", expected, target_shape, error=TypeError) from None
    if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in shape):
        raise invalid("target_shape", expected, target_shape, error=TypeError)
    shape = tuple(int(d) for d in shape)
    if any(d < -1 for d in shape) or shape.count(-1) > 1:
        raise invalid("target_shape", expected, shape)
    return shape


class Reshape(Layer):
    """Reshapes every axis but the batch: (batch, ...) -> (batch, *target_shape).

    Args:
        target_shape: a tuple of non-negative ints, the shape without the
            batch axis; at most one entry may be -1, inferred from the size.
        **kwargs: base layer arguments (name, dtype, trainable).

    Example:

    >>> Reshape((3, -1))(np.arange(12, dtype="float32").reshape(2, 6)).shape
    (2, 3, 2)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = _standardize_target_shape(target_shape)
        self._input_shape = None

    def _resolve(self, dims):
        """target_shape with -1 resolved for non-batch dims ``dims`` (None when unknown)."""
        target = self.target_shape
        if any(d is None for d in dims):
            return tuple(None if d == -1 else d for d in target)
        size = math.prod(dims)
        known = math.prod(d for d in target if d != -1)
        if -1 not in target:
            if known != size:
                raise self._size_error(dims)
            return target
        if known == 0 or size % known:
            raise self._size_error(dims)
        return tuple(size // known if d == -1 else d for d in target)

    def _size_error(self, dims):
        return invalid(
            "target_shape",
            f"a shape with {math.prod(dims)} elements, to match an input of shape (None, {', '.join(map(str, dims))})",
            self.target_shape,
            "The total size must be unchanged.",
        )

    def call(self, x, training=False):
        self._input_shape = x.shape
        return x.reshape(x.shape[0], *self._resolve(x.shape[1:]))

    def backward(self, dy, input_grad=True):
        return np.reshape(dy, self._input_shape)

    def compute_output_shape(self, input_shape):
        return (tuple(input_shape)[0], *self._resolve(tuple(input_shape)[1:]))

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = self.target_shape
        return config


# --------------------------------------------------------------------------
# Activation and Dropout
# --------------------------------------------------------------------------
class Activation(Layer):
    """Applies an activation function (element-wise; softmax on the last axis).

    Built-in activations run through the kernel seam
    (:func:`npconv.ops.kernels.apply_activation`); any other callable is
    called as is, and its gradient taken as :func:`npconv.activations.gradient`
    defines it.

    Args:
        activation: an activation name (e.g. 'relu') or function.
        **kwargs: base layer arguments (name, dtype, trainable).

    Example:

    >>> Activation("relu")(np.array([[-1.0, 2.0]], dtype="float32"))
    array([[0., 2.]], dtype=float32)
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = resolve(activations, activation, "activation")
        self._cache = None

    def call(self, x, training=False):
        y, self._cache = kernels.apply_activation(self.activation, x, keep=True)
        return y

    def backward(self, dy, input_grad=True):
        if self._cache is None:  # the identity
            return np.asarray(dy)
        return self._cache.gradient(np.asarray(dy))

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


class Identity(Layer):
    """Returns its input unchanged (a placeholder, e.g. where a block has no
    stochastic depth).

    Args:
        **kwargs: base layer arguments (name, dtype, trainable).

    Example:

    >>> Identity()(np.array([[1.0, -2.0]], dtype="float32"))
    array([[ 1., -2.]], dtype=float32)
    """

    def call(self, x, training=False):
        return x

    def backward(self, dy, input_grad=True):
        return np.asarray(dy)


def _standardize_rate(rate):
    expected = "a float between 0 and 1"
    if not isinstance(rate, numbers.Real) or isinstance(rate, bool):
        raise invalid("rate", expected, rate, error=TypeError)
    if not 0 <= rate <= 1:
        raise invalid("rate", expected, rate)
    return rate


def _standardize_noise_shape(noise_shape):
    if noise_shape is None:
        return None
    expected = "None or a tuple of positive ints or None (None takes the input's size)"
    if isinstance(noise_shape, str):
        raise invalid("noise_shape", expected, noise_shape, error=TypeError)
    try:
        shape = tuple(noise_shape)
    except TypeError:
        raise invalid("noise_shape", expected, noise_shape, error=TypeError) from None
    for d in shape:
        if d is None:
            continue
        if not isinstance(d, numbers.Integral) or isinstance(d, bool):
            raise invalid("noise_shape", expected, noise_shape, error=TypeError)
        if d <= 0:
            raise invalid("noise_shape", expected, noise_shape)
    return tuple(None if d is None else int(d) for d in shape)


class Dropout(Layer):
    """Zeroes inputs with probability ``rate`` in training and scales the rest
    by 1 / (1 - rate) (inverted dropout); the identity otherwise.

    Args:
        rate: a float in [0, 1], the probability of dropping each input.
        noise_shape: None (one decision per input entry), or a tuple as long as
            the input's rank: one keep/drop decision per entry of that shape,
            broadcast over the input; None entries take the input's size.
        seed: None or a non-negative int that makes the masks reproducible;
            without one, the seed is drawn from NumPy's global generator when
            the layer is created.
        **kwargs: base layer arguments (name, dtype, trainable).

    Example:

    >>> layer = Dropout(0.5, seed=0)
    >>> layer(np.ones((1, 8), dtype="float32"), training=True)  # kept entries doubled
    array([[2., 0., 0., 0., 2., 2., 2., 2.]], dtype=float32)
    >>> layer(np.ones((1, 3), dtype="float32"))  # inference: the identity
    array([[1., 1., 1.]], dtype=float32)
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _standardize_rate(rate)
        self.noise_shape = _standardize_noise_shape(noise_shape)
        if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0):
            raise invalid("seed", "None or a non-negative int", seed, error=TypeError)
        self.seed = None if seed is None else int(seed)
        draw = self.seed if self.seed is not None else int(np.random.randint(0, 2**31 - 1))
        self._rng = np.random.default_rng(draw)
        self._scale = None  # mask / (1 - rate), broadcastable to the input; None = identity

    def _mask_shape(self, shape):
        if self.noise_shape is None:
            return shape
        noise = self.noise_shape
        resolved = tuple(n if d is None else d for d, n in zip(noise, shape))
        if len(noise) != len(shape) or any(d not in (1, n) for d, n in zip(resolved, shape)):
            raise invalid(
                "noise_shape",
                f"a shape of rank {len(shape)} whose entries are 1, None or the input's size, "
                f"to broadcast against inputs of shape {tuple(shape)}",
                noise,
            )
        return resolved

    def call(self, x, training=False):
        self._scale = None
        if not training or self.rate == 0:
            return x
        if self.rate == 1:
            self._scale = np.zeros((1,) * x.ndim, dtype=x.dtype)
            return np.zeros_like(x)
        keep = self._rng.random(self._mask_shape(x.shape)) >= self.rate
        self._scale = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.rate))
        return x * self._scale

    def backward(self, dy, input_grad=True):
        dy = np.asarray(dy)
        return dy if self._scale is None else dy * self._scale

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed, noise_shape=self.noise_shape)
        return config


# --------------------------------------------------------------------------
# base of the spatial layers (pooling, padding, cropping, upsampling)
# --------------------------------------------------------------------------
class SpatialLayer(Layer):
    """Base of the layers on (batch, *spatial, channels) or (batch, channels,
    *spatial) inputs of a fixed ``rank`` (pooling, padding, cropping,
    upsampling), which compute channels_last inside.

    Subclasses set ``rank`` and ``data_format``; this class splits and joins
    shapes and moves the channel axis.

    Args:
        **kwargs: base layer arguments (name, dtype, trainable).
    """

    rank = None
    data_format = "channels_last"

    def _split_shape(self, input_shape, name="input_shape"):
        """(spatial, channels) of a full input shape (batch included)."""
        shape = tuple(input_shape)
        if len(shape) != self.rank + 2:
            layout = (
                "(batch, *spatial, channels)" if self.data_format == "channels_last" else "(batch, channels, *spatial)"
            )
            raise invalid(name, f"a shape of rank {self.rank + 2} {layout} for {type(self).__name__}", shape)
        if self.data_format == "channels_last":
            return shape[1:-1], shape[-1]
        return shape[2:], shape[1]

    def _join_shape(self, batch, spatial, channels):
        if self.data_format == "channels_last":
            return (batch, *spatial, channels)
        return (batch, channels, *spatial)

    def build(self, input_shape):
        self._split_shape(input_shape)
        self.input_spec_shape = (None,) * (self.rank + 1)
        self.built = True

    def to_channels_last(self, x):
        """``x`` with its channels on the last axis (a view where it can be)."""
        return x if self.data_format == "channels_last" else np.moveaxis(x, 1, -1)

    def from_channels_last(self, y):
        """``y`` (channels on the last axis) back in the layer's ``data_format``."""
        return y if self.data_format == "channels_last" else np.ascontiguousarray(np.moveaxis(y, -1, 1))
