"""The convolution layer family. Thin: validate, build weights, call one op,
add the bias, apply the activation.

One base class holds what every family shares; each family (forward,
transposed, depthwise, separable) is written once for all ranks, and the rank
classes (Conv1D, Conv2D, ...) only set ``rank``.
"""

from __future__ import annotations

import numpy as np

from .. import activations, constraints, geometry, initializers, regularizers
from ..arguments import (
    invalid,
    serialize_padding,
    standardize_data_format,
    standardize_int,
    standardize_padding,
    standardize_padding_mode,
    standardize_tuple,
)
from ..ops import kernels, standardize_output_padding
from ..ops.convolution import (
    conv_nd,
    conv_nd_backward,
    conv_output_size,
    conv_transpose_nd,
    conv_transpose_nd_backward,
    conv_transpose_output_size,
    depthwise_conv_nd,
    depthwise_conv_nd_backward,
    from_channels_last,
    separable_conv_nd,
    separable_conv_nd_backward,
    to_channels_last,
)
from .base import Layer, check_bool, resolve, serialize_or_none

__all__ = [  # the public layers, re-exported by npconv.layers and npconv.layers.convolutional
    *("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"),
    *("DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"),
]


class _BaseConv(Layer):
    """Shared by every conv layer. Subclasses set ``rank`` and write ``_op``,
    ``_weight_shapes``, ``_output_channels`` and ``_output_size``."""

    rank = None
    _fuses = True  # _op takes the bias and the activation to fuse
    allow_causal = False

    def _init_conv(
        self,
        kernel_size,
        strides,
        padding,
        data_format,
        dilation_rate,
        activation,
        use_bias,
        role_args,
        bias_initializer,
        bias_regularizer,
        bias_constraint,
        kwargs,
    ):
        super().__init__(**kwargs)
        rank = self.rank
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = standardize_padding(padding, rank, allow_causal=self.allow_causal)
        self.data_format = standardize_data_format(data_format)
        self.activation = activations.get(activation)
        self.use_bias = check_bool(use_bias, "use_bias")
        # weight attribute -> (argument prefix, initializer, regularizer, constraint)
        self._role_args = {}
        role_args = {**role_args, "bias": ("bias", bias_initializer, bias_regularizer, bias_constraint)}
        for attribute, (prefix, init, reg, cons) in role_args.items():
            resolved = (
                resolve(initializers, init, f"{prefix}_initializer"),
                resolve(regularizers, reg, f"{prefix}_regularizer"),
                resolve(constraints, cons, f"{prefix}_constraint"),
            )
            self._role_args[attribute] = (prefix, *resolved)
            for suffix, value in zip(("initializer", "regularizer", "constraint"), resolved):
                setattr(self, f"{prefix}_{suffix}", value)

    # ------------------------------------------------------------------ build
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _split_shape(self, input_shape, name="input_shape"):
        """(spatial, channels) of a full input shape (batch included)."""
        shape = tuple(input_shape)
        if len(shape) != self.rank + 2:
            raise invalid(
                name,
                f"a shape of rank {self.rank + 2} (batch, *spatial, channels) for {type(self).__name__}",
                shape,
            )
        if self.data_format == "channels_last":
            return shape[1:-1], shape[-1]
        return shape[2:], shape[1]

    def build(self, input_shape):
        spatial, channels = self._split_shape(input_shape)
        if channels is None:
            raise ValueError(
                f"The channel dimension of the input to layer '{self.name}' must be known "
                f"to build its weights. Received: input_shape={tuple(input_shape)} with "
                f"data_format={self.data_format!r}."
            )
        self.compute_output_shape(input_shape)  # refuses an empty output before any weight is allocated
        shapes = self._weight_shapes(int(channels))
        for role, shape in shapes.items():
            if role == "bias" and not self.use_bias:
                continue
            _, init, reg, cons = self._role_args[role]
            setattr(self, role, self.add_weight(shape, init, role, reg, cons))
        if not self.use_bias:
            self.bias = None
        none = (None,) * self.rank
        self.input_spec_shape = (*none, channels) if self.data_format == "channels_last" else (channels, *none)
        self.built = True

    # ------------------------------------------------------------------- call
    def call(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        keep = {} if training else None  # what the backward pass may reuse
        bias = self.bias.value if self.use_bias else None
        fused = kernels.fusable_activation(self.activation, training) if self._fuses else None
        if self._fuses:
            z = self._op(x, keep, bias, fused)
        else:
            z = self._op(x, keep)
            if bias is not None:
                z += bias
        # The activation sees the output in data_format's layout, as in Keras
        # (softmax on a channels_first output runs over its last axis).
        z = from_channels_last(z, self.data_format)
        if fused is not None:
            y, activated = z, None
        else:
            y, activated = kernels.apply_activation(self.activation, z, keep=True)
        self._last = (x, activated, y, keep, fused)
        return y

    def backward(self, dy, input_grad=True):
        """dx for the last call (None when ``input_grad`` is False); kernel and
        bias gradients go to their Variables."""
        x, activated, y, keep, fused = self._last
        dz = np.asarray(dy, dtype=y.dtype)
        if fused is not None:
            dz = kernels.gradient_from_output(fused, y, dz)
        elif activated is not None:
            dz = activated.gradient(dz)
        dz = to_channels_last(dz, self.data_format)
        dx, dbias = self._op_backward(x, dz, input_grad, keep)
        if self.use_bias:
            self.bias.add_grad(kernels.bias_grad(dz) if dbias is None else dbias)
        return None if dx is None else from_channels_last(dx, self.data_format)

    def compute_output_shape(self, input_shape):
        spatial, _ = self._split_shape(input_shape)
        size = self._output_size(spatial)
        channels = self._output_channels()
        batch = tuple(input_shape)[0]
        if self.data_format == "channels_last":
            return (batch, *size, channels)
        return (batch, channels, *size)

    # ----------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(self._own_config())
        config.update(
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=serialize_padding(self.padding),
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            activation=activations.serialize(self.activation),
            use_bias=self.use_bias,
        )
        for prefix, init, reg, cons in self._role_args.values():
            config[f"{prefix}_initializer"] = initializers.serialize(init)
            config[f"{prefix}_regularizer"] = serialize_or_none(regularizers, reg)
            config[f"{prefix}_constraint"] = serialize_or_none(constraints, cons)
        config["activity_regularizer"] = serialize_or_none(regularizers, self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        padding = config.get("padding")
        if isinstance(padding, list):
            config["padding"] = tuple(tuple(p) for p in padding)
        return cls(**config)


def _check_filters(filters):
    return standardize_int(filters, "filters")


# --------------------------------------------------------------------------
# forward convolution
# --------------------------------------------------------------------------
class BaseConv(_BaseConv):
    """Conv1D/2D/3D. kernel: (*kernel_size, in_channels / groups, filters)."""

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        padding_mode="zeros",
        **kwargs,
    ):
        self.filters = _check_filters(filters)
        self.groups = standardize_int(groups, "groups")
        if self.filters % self.groups:
            raise invalid(
                "groups",
                f"a divisor of filters={self.filters}",
                self.groups,
                "Both filters and the input channels must be divisible by groups.",
            )
        self.padding_mode = standardize_padding_mode(padding_mode)
        kwargs["activity_regularizer"] = activity_regularizer
        self._init_conv(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            {"kernel": ("kernel", kernel_initializer, kernel_regularizer, kernel_constraint)},
            bias_initializer, bias_regularizer, bias_constraint, kwargs,
        )  # fmt: skip

    def _weight_shapes(self, channels):
        if channels % self.groups:
            raise invalid(
                "groups",
                f"a divisor of the input channels ({channels})",
                self.groups,
                "Both filters and the input channels must be divisible by groups.",
            )
        return {"kernel": (*self.kernel_size, channels // self.groups, self.filters), "bias": (self.filters,)}

    def _output_channels(self):
        return self.filters

    def _output_size(self, spatial):
        return conv_output_size(spatial, self.kernel_size, self.strides, self.padding, self.dilation_rate)

    def _op(self, x, keep=None, bias=None, activation=None):
        return conv_nd(
            x,
            self.kernel.value,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.groups,
            self.padding_mode,
            keep,
            bias,
            activation,
        )

    def _op_backward(self, x, dz, input_grad, kept=None):
        dx, dkernel, dbias = conv_nd_backward(
            x,
            self.kernel.value,
            dz,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.groups,
            self.padding_mode,
            input_grad,
            kept,
            self.use_bias,
        )
        self.kernel.add_grad(dkernel)
        return dx, dbias

    def _own_config(self):
        return {"filters": self.filters, "groups": self.groups, "padding_mode": self.padding_mode}


class Conv1D(BaseConv):
    rank = 1
    allow_causal = True


class Conv2D(BaseConv):
    rank = 2


class Conv3D(BaseConv):
    rank = 3


# --------------------------------------------------------------------------
# transposed convolution
# --------------------------------------------------------------------------
class BaseConvTranspose(_BaseConv):
    """Conv1D/2D/3DTranspose. kernel: (*kernel_size, filters, in_channels).

    Beyond Keras: ``output_shape`` names the target spatial size and picks the
    output_padding that reaches it (keras#9883); it excludes output_padding.
    """

    _fuses = False

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        output_shape=None,
        **kwargs,
    ):
        self.filters = _check_filters(filters)
        kwargs["activity_regularizer"] = activity_regularizer
        self._init_conv(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            {"kernel": ("kernel", kernel_initializer, kernel_regularizer, kernel_constraint)},
            bias_initializer, bias_regularizer, bias_constraint, kwargs,
        )  # fmt: skip
        self.output_padding = standardize_output_padding(output_padding, self.rank, self.strides, self.dilation_rate)
        self.output_shape = standardize_tuple(output_shape, self.rank, "output_shape", allow_none=True)
        if self.output_shape is not None and self.output_padding is not None:
            raise invalid(
                "output_shape",
                "None when output_padding is given (output_shape chooses output_padding for you)",
                self.output_shape,
                f"Pass only one of output_shape and output_padding={list(self.output_padding)}.",
            )

    def resolve_output_padding(self, spatial):
        """output_padding for an input of this spatial size: the argument, or
        the one that meets ``output_shape``."""
        if self.output_shape is None:
            return self.output_padding
        if any(n is None for n in spatial):
            return None
        chosen = []
        for n, k, s, target, d, i in zip(
            spatial, self.kernel_size, self.strides, self.output_shape, self.dilation_rate, range(self.rank)
        ):
            padding = self.padding if isinstance(self.padding, str) else self.padding[i]
            chosen.append(geometry.output_padding_for_target(n, k, s, padding, d, target))
        if all(op is None for op in chosen):
            return None
        return tuple(
            op if op is not None else _none_as_int(n, k, s, self.padding, d, i)
            for op, n, k, s, d, i in zip(
                chosen, spatial, self.kernel_size, self.strides, self.dilation_rate, range(self.rank)
            )
        )

    def _weight_shapes(self, channels):
        return {"kernel": (*self.kernel_size, self.filters, channels), "bias": (self.filters,)}

    def _output_channels(self):
        return self.filters

    def _output_size(self, spatial):
        output_padding = self.resolve_output_padding(spatial)
        size = conv_transpose_output_size(
            spatial, self.kernel_size, self.strides, self.padding, output_padding, self.dilation_rate
        )
        if self.output_shape is not None:
            return tuple(self.output_shape)
        return size

    def _op(self, x, keep=None):
        output_padding = self.resolve_output_padding(x.shape[1:-1])
        return conv_transpose_nd(x, self.kernel.value, self.strides, self.padding, output_padding, self.dilation_rate)

    def _op_backward(self, x, dz, input_grad, kept=None):
        output_padding = self.resolve_output_padding(x.shape[1:-1])
        dx, dkernel = conv_transpose_nd_backward(
            x, self.kernel.value, dz, self.strides, self.padding, output_padding, self.dilation_rate, input_grad
        )
        self.kernel.add_grad(dkernel)
        return dx, None

    def _own_config(self):
        config = {"filters": self.filters, "output_padding": self.output_padding}
        if self.output_shape is not None:
            config["output_shape"] = self.output_shape
        return config


def _none_as_int(n, k, s, padding, d, i):
    """The integer output_padding that reproduces output_padding=None's length,
    for a dimension mixed with others that need an integer."""
    padding = padding if isinstance(padding, str) else padding[i]
    target = geometry.conv_transpose_output_length(n, k, s, padding, None, d)
    for op in range(s):
        if geometry.conv_transpose_output_length(n, k, s, padding, op, d) == target:
            return op
    raise ValueError(
        f"Invalid value for argument `output_shape`. Dimension {i} needs "
        f"output_padding=None (length {target}) while another dimension needs an "
        f"integer output_padding, and no integer gives {target} here. Choose "
        f"output_shape values that all use the default, or all an integer."
    )


class Conv1DTranspose(BaseConvTranspose):
    rank = 1


class Conv2DTranspose(BaseConvTranspose):
    rank = 2


class Conv3DTranspose(BaseConvTranspose):
    rank = 3


# --------------------------------------------------------------------------
# depthwise and separable
# --------------------------------------------------------------------------
class BaseDepthwiseConv(_BaseConv):
    """DepthwiseConv1D/2D. depthwise_kernel: (*kernel_size, in_channels, depth_multiplier)."""

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        padding_mode="zeros",
        **kwargs,
    ):
        self.depth_multiplier = standardize_int(depth_multiplier, "depth_multiplier")
        self.padding_mode = standardize_padding_mode(padding_mode)
        kwargs["activity_regularizer"] = activity_regularizer
        self._init_conv(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            {"kernel": ("depthwise", depthwise_initializer, depthwise_regularizer, depthwise_constraint)},
            bias_initializer, bias_regularizer, bias_constraint, kwargs,
        )  # fmt: skip

    def _weight_shapes(self, channels):
        outputs = channels * self.depth_multiplier
        return {"kernel": (*self.kernel_size, channels, self.depth_multiplier), "bias": (outputs,)}

    def _output_channels(self):
        return None  # set from the input channels in compute_output_shape

    def compute_output_shape(self, input_shape):
        _, channels = self._split_shape(input_shape)
        shape = list(super().compute_output_shape(input_shape))
        shape[self._channel_axis()] = None if channels is None else channels * self.depth_multiplier
        return tuple(shape)

    def _output_size(self, spatial):
        return conv_output_size(spatial, self.kernel_size, self.strides, self.padding, self.dilation_rate)

    def _op(self, x, keep=None, bias=None, activation=None):
        return depthwise_conv_nd(
            x, self.kernel.value, self.strides, self.padding, self.dilation_rate, self.padding_mode, bias, activation
        )

    def _op_backward(self, x, dz, input_grad, kept=None):
        dx, dkernel, dbias = depthwise_conv_nd_backward(
            x,
            self.kernel.value,
            dz,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.padding_mode,
            input_grad,
            self.use_bias,
        )
        self.kernel.add_grad(dkernel)
        return dx, dbias

    def _own_config(self):
        return {"depth_multiplier": self.depth_multiplier, "padding_mode": self.padding_mode}


class DepthwiseConv1D(BaseDepthwiseConv):
    rank = 1


class DepthwiseConv2D(BaseDepthwiseConv):
    rank = 2


class BaseSeparableConv(_BaseConv):
    """SeparableConv1D/2D: depthwise (*kernel_size, in, multiplier), then
    pointwise (1, ..., in * multiplier, filters), then bias (filters,)."""

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        depth_multiplier=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
        bias_constraint=None,
        padding_mode="zeros",
        **kwargs,
    ):
        self.filters = _check_filters(filters)
        self.depth_multiplier = standardize_int(depth_multiplier, "depth_multiplier")
        self.padding_mode = standardize_padding_mode(padding_mode)
        kwargs["activity_regularizer"] = activity_regularizer
        self._init_conv(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            {
                "depthwise_kernel": ("depthwise", depthwise_initializer, depthwise_regularizer, depthwise_constraint),
                "pointwise_kernel": ("pointwise", pointwise_initializer, pointwise_regularizer, pointwise_constraint),
            },
            bias_initializer, bias_regularizer, bias_constraint, kwargs,
        )  # fmt: skip

    def _weight_shapes(self, channels):
        middle = channels * self.depth_multiplier
        return {
            "depthwise_kernel": (*self.kernel_size, channels, self.depth_multiplier),
            "pointwise_kernel": ((1,) * self.rank + (middle, self.filters)),
            "bias": (self.filters,),
        }

    def _output_channels(self):
        return self.filters

    def _output_size(self, spatial):
        return conv_output_size(spatial, self.kernel_size, self.strides, self.padding, self.dilation_rate)

    def _op(self, x, keep=None, bias=None, activation=None):
        return separable_conv_nd(
            x,
            self.depthwise_kernel.value,
            self.pointwise_kernel.value,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.padding_mode,
            bias,
            activation,
        )

    def _op_backward(self, x, dz, input_grad, kept=None):
        dx, ddepthwise, dpointwise, dbias = separable_conv_nd_backward(
            x,
            self.depthwise_kernel.value,
            self.pointwise_kernel.value,
            dz,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.padding_mode,
            input_grad,
            self.use_bias,
        )
        self.depthwise_kernel.add_grad(ddepthwise)
        self.pointwise_kernel.add_grad(dpointwise)
        return dx, dbias

    def _own_config(self):
        return {"filters": self.filters, "depth_multiplier": self.depth_multiplier, "padding_mode": self.padding_mode}


class SeparableConv1D(BaseSeparableConv):
    rank = 1


class SeparableConv2D(BaseSeparableConv):
    rank = 2


# --------------------------------------------------------------------------
# docstrings: written once per family, filled in for each rank
# --------------------------------------------------------------------------
_SPATIAL = {1: "steps", 2: "rows, cols", 3: "dim1, dim2, dim3"}

_ARG_FILTERS = """\
    filters: the number of output channels (kernels)."""
_ARG_GEOMETRY = """\
    kernel_size: an int or {ints}, the window size.
    strides: an int or {ints}, the step between windows (default 1).
    padding: {padding} an int, {ints}, or {rank} (before, after) pairs.
        Case-insensitive."""
_PADDING = """``"valid"`` (none), ``"same"`` (output length = ceil(input length /
        stride); an odd total pad puts the extra pixel after){causal}, ``"full"``
        (every window that overlaps the input),"""
_PADDING_TRANSPOSED = """``"valid"``, ``"same"`` (output length = input length x
        stride) or ``"full"``: the padding of the forward conv this layer
        transposes;"""
_CAUSAL = {
    1: """, ``"causal"``
        (all padding before, so output t reads inputs up to t)"""
}
_INTS = {1: "a tuple of 1 int", 2: "a tuple of 2 ints", 3: "a tuple of 3 ints"}
_ARG_LAYOUT = """\
    data_format: ``"channels_last"`` (default) for inputs
        ``(batch, {spatial}, channels)``, or ``"channels_first"`` for
        ``(batch, channels, {spatial})``.
    dilation_rate: an int or {ints}, the gap between kernel taps
        (default 1)."""
_ARG_GROUPS = """\
    groups: split the input channels into this many groups, each convolved
        with its own ``filters / groups`` kernels; both ``filters`` and the
        input channels must divide by it (default 1)."""
_ARG_DEPTH = """\
    depth_multiplier: output channels per input channel of the depthwise
        step (default 1)."""
_ARG_OUTPUT = """\
    activation: applied to the output: a name (``"relu"``), a callable, or
        None for none.
    use_bias: add a learned bias per output channel (default True)."""
_ARG_WEIGHTS = """\
    {role}_initializer: how the {what} starts (default ``"glorot_uniform"``).
    {role}_regularizer: a penalty on the {what}, added to the loss, or None.
    {role}_constraint: a projection applied to the {what} after each update, or None."""
_ARG_BIAS = """\
    bias_initializer: how the bias starts (default ``"zeros"``).
    bias_regularizer: a penalty on the bias, or None.
    activity_regularizer: a penalty on the layer's output, or None.
    bias_constraint: a projection applied to the bias after each update, or None."""
_ARG_PADDING_MODE = """\
    padding_mode: what the pad cells hold: ``"zeros"`` (Keras), or, beyond
        Keras, ``"reflect"``, ``"replicate"`` or ``"circular"`` (PyTorch's modes)."""
_ARG_OUTPUT_PADDING = """\
    output_padding: an int or {ints}, extra rows added after the
        output along each axis, each less than the stride (or the dilation);
        None infers the length as Keras does."""
_ARG_OUTPUT_SHAPE = """\
    output_shape: beyond Keras: the wanted output size, {rank} ints without
        batch or channels; the layer picks the ``output_padding`` that gives
        it. Use instead of ``output_padding``."""
_ARG_KWARGS = """\
    **kwargs: the base layer arguments: ``name``, ``dtype``, ``trainable``,
        ``input_shape``."""


def _weights(role, what):
    return _ARG_WEIGHTS.format(role=role, what=what)


def _document(cls, summary, body, args, example):
    rank = cls.rank
    padding = _PADDING_TRANSPOSED if issubclass(cls, BaseConvTranspose) else _PADDING
    fill = {"rank": rank, "spatial": _SPATIAL[rank], "ints": _INTS[rank], "name": cls.__name__}
    fill["padding"] = padding.format(causal=_CAUSAL.get(rank, "") if cls.allow_causal else "")
    text = "\n".join([summary, "", body, "", "Args:", *args, _ARG_KWARGS, "", "Example:", example])
    cls.__doc__ = text.format(**fill)


def _shape_example(name, arguments, input_shape, output_shape):
    return (
        f"    >>> layer = npconv.layers.{name}({arguments})\n"
        f"    >>> layer.compute_output_shape({input_shape})\n"
        f"    {output_shape}"
    )


_EXAMPLES = {
    "Conv1D": ('4, 3, strides=2, padding="same"', "(None, 9, 2)", "(None, 5, 4)"),
    "Conv2D": ('8, 3, strides=2, padding="same"', "(None, 5, 5, 3)", "(None, 3, 3, 8)"),
    "Conv3D": ("8, 3", "(None, 5, 5, 5, 2)", "(None, 3, 3, 3, 8)"),
    "Conv1DTranspose": ('4, 3, strides=2, padding="same"', "(None, 5, 2)", "(None, 10, 4)"),
    "Conv2DTranspose": ("8, 3, strides=2, output_shape=(12, 12)", "(None, 5, 5, 3)", "(None, 12, 12, 8)"),
    "Conv3DTranspose": ("8, 3, strides=2", "(None, 4, 4, 4, 2)", "(None, 9, 9, 9, 8)"),
    "DepthwiseConv1D": ("3, depth_multiplier=2", "(None, 9, 4)", "(None, 7, 8)"),
    "DepthwiseConv2D": ('3, padding="same"', "(None, 5, 5, 3)", "(None, 5, 5, 3)"),
    "SeparableConv1D": ("8, 3", "(None, 9, 4)", "(None, 7, 8)"),
    "SeparableConv2D": ("8, 3, strides=2", "(None, 9, 9, 3)", "(None, 4, 4, 8)"),
}

for _cls in (Conv1D, Conv2D, Conv3D):
    _document(
        _cls,
        "{rank}D convolution: ``filters`` kernels slid over the input, as ``keras.layers.{name}``.",
        "The kernel has shape ``(*kernel_size, in_channels / groups, filters)`` and the output\n"
        "``(batch, {spatial}, filters)`` (channels_last). The weights' layout, the padding rule and\n"
        "the numbers match Keras.",
        [_ARG_FILTERS, _ARG_GEOMETRY, _ARG_LAYOUT, _ARG_GROUPS, _ARG_OUTPUT, _weights("kernel", "kernel"),
         _ARG_BIAS, _ARG_PADDING_MODE],
        _shape_example(_cls.__name__, *_EXAMPLES[_cls.__name__]),
    )  # fmt: skip

for _cls in (Conv1DTranspose, Conv2DTranspose, Conv3DTranspose):
    _document(
        _cls,
        "{rank}D transposed convolution (the gradient of a conv), as ``keras.layers.{name}``.",
        "Upsamples: each input pixel scatters a kernel-sized patch, ``strides`` apart. The kernel\n"
        "has shape ``(*kernel_size, filters, in_channels)``, as in Keras.",
        [_ARG_FILTERS, _ARG_GEOMETRY, _ARG_OUTPUT_PADDING, _ARG_LAYOUT, _ARG_OUTPUT, _weights("kernel", "kernel"),
         _ARG_BIAS, _ARG_OUTPUT_SHAPE],
        _shape_example(_cls.__name__, *_EXAMPLES[_cls.__name__]),
    )  # fmt: skip

for _cls in (DepthwiseConv1D, DepthwiseConv2D):
    _document(
        _cls,
        "{rank}D depthwise convolution: each input channel convolved on its own, as ``keras.layers.{name}``.",
        "The kernel has shape ``(*kernel_size, in_channels, depth_multiplier)``; the output has\n"
        "``in_channels * depth_multiplier`` channels.",
        [_ARG_GEOMETRY, _ARG_DEPTH, _ARG_LAYOUT, _ARG_OUTPUT, _weights("depthwise", "depthwise kernel"), _ARG_BIAS,
         _ARG_PADDING_MODE],
        _shape_example(_cls.__name__, *_EXAMPLES[_cls.__name__]),
    )  # fmt: skip

for _cls in (SeparableConv1D, SeparableConv2D):
    _document(
        _cls,
        "{rank}D separable convolution: a depthwise conv, then a 1x1 conv, as ``keras.layers.{name}``.",
        "Weights: ``depthwise_kernel`` ``(*kernel_size, in_channels, depth_multiplier)``, then\n"
        "``pointwise_kernel`` ``(1, ..., in_channels * depth_multiplier, filters)``, then the bias.",
        [_ARG_FILTERS, _ARG_GEOMETRY, _ARG_LAYOUT, _ARG_DEPTH, _ARG_OUTPUT,
         _weights("depthwise", "depthwise kernel"), _weights("pointwise", "pointwise kernel"), _ARG_BIAS,
         _ARG_PADDING_MODE],
        _shape_example(_cls.__name__, *_EXAMPLES[_cls.__name__]),
    )  # fmt: skip
del _cls
