"""The structured explanation of a conv layer's geometry: plain data, no arrays.

Every argument is checked by the real layer class, and every length and pad
comes from :mod:`npconv.geometry`, which also gives the reason and the
formula for each pad; this module only gathers them, per spatial axis, and
says which input positions each output position reads.

Coordinates along one spatial axis:

- forward conv: a *position* counts input pixels from the first real one, so
  ``position < 0`` is the pad before and ``position >= n`` the pad after;
- transposed conv: a position counts cells of the *zero-inserted* input (s - 1
  zeros between neighbouring inputs, length (n - 1)*s + 1); input pixel i sits
  at position i*s, and the positions between are inserted zeros.

The windows of an axis are made when asked for (:class:`Windows`), so an
explanation costs the same for an input of 5 pixels or of 10**12.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from .. import geometry
from ..arguments import invalid
from ..layers import conv as conv_layers
from ..ops.convolution import check_padding_mode
from .axis import explain_forward_dim, explain_transpose_dim
from .result import (
    Explanation,
    ModelExplanation,
    ModelStep,
)


# --------------------------------------------------------------------------
# the layer families
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerKind:
    """A conv layer class, by family.

    Args:
        name: the Keras class name, e.g. ``"Conv2DTranspose"``.
        family: ``"conv"``, ``"transpose"``, ``"depthwise"`` or ``"separable"``.
        rank: the number of spatial axes.
    """

    name: str
    family: str
    rank: int

    @property
    def transposed(self) -> bool:
        return self.family == "transpose"

    @property
    def layer_class(self) -> type:
        """The npconv layer class (which checks every argument)."""
        return getattr(conv_layers, self.name)


_FAMILIES = {
    conv_layers.BaseConv: "conv",
    conv_layers.BaseConvTranspose: "transpose",
    conv_layers.BaseDepthwiseConv: "depthwise",
    conv_layers.BaseSeparableConv: "separable",
}
_KINDS = {
    cls.__name__.lower(): LayerKind(cls.__name__, family, cls.rank)
    for cls in vars(conv_layers).values()
    if isinstance(cls, type) and getattr(cls, "rank", None) is not None
    for base, family in _FAMILIES.items()
    if issubclass(cls, base)
}
_ALIASES = {
    "convolution1d": "conv1d",
    "convolution2d": "conv2d",
    "convolution3d": "conv3d",
    "deconvolution2d": "conv2dtranspose",
    "deconvolution3d": "conv3dtranspose",
    "separableconvolution1d": "separableconv1d",
    "separableconvolution2d": "separableconv2d",
}
LAYER_NAMES = tuple(kind.name for kind in _KINDS.values())


def layer_kind(name) -> LayerKind:
    """The layer family for a name.

    Args:
        name: a layer name such as ``"conv2d"``, ``"Conv2DTranspose"`` or
            ``"depthwise_conv2d"`` (case, ``_`` and ``-`` are ignored), or a
            :class:`LayerKind`.

    Returns:
        The :class:`LayerKind`.
    """
    if isinstance(name, LayerKind):
        return name
    if not isinstance(name, str):
        raise invalid("layer", f"a layer name, one of {list(LAYER_NAMES)}", name, error=TypeError)
    key = name.lower().replace("_", "").replace("-", "").replace(" ", "")
    key = _ALIASES.get(key, key)
    if key not in _KINDS:
        raise invalid(
            "layer",
            f"one of {[n.lower() for n in LAYER_NAMES]} (any case)",
            name,
            "Check the spelling of the layer name",
        )
    return _KINDS[key]


# --------------------------------------------------------------------------
# the public entry points
# --------------------------------------------------------------------------
def _spatial_from_shape(input_shape, rank, data_format, layer_name):
    """(spatial, full shape or None) from an int, a spatial tuple, a shape
    without the batch, or a full shape."""
    expected = (
        f"an int, a tuple of {rank} spatial sizes, or a shape of rank {rank + 1} (no batch) "
        f"or {rank + 2} (batch, *spatial, channels) for {layer_name}"
    )
    if isinstance(input_shape, int) and not isinstance(input_shape, bool):
        shape = (input_shape,) * rank
    else:
        try:
            shape = tuple(input_shape)
        except TypeError:
            raise invalid("input_shape", expected, input_shape, error=TypeError) from None
    for dim in shape:
        if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0):
            raise invalid("input_shape", expected + " (positive ints or None)", input_shape)
    if len(shape) == rank:
        return shape, None
    if len(shape) == rank + 1:
        shape = (None, *shape)
    elif len(shape) != rank + 2:
        raise invalid("input_shape", expected, input_shape)
    spatial = shape[1:-1] if data_format == "channels_last" else shape[2:]
    return tuple(spatial), shape


def _full_shape(batch_shape, spatial, channels, data_format):
    if batch_shape is None:
        return None
    batch = batch_shape[0]
    if data_format == "channels_last":
        return (batch, *spatial, channels)
    return (batch, channels, *spatial)


def _layer_notes(kind, strides, dilation, padding, padding_mode, dims, output_padding):
    notes = []
    if kind.family in ("conv", "transpose") and any(s > 1 for s in strides) and any(d > 1 for d in dilation):
        notes.append(
            "Keras 3 refuses strides > 1 together with dilation_rate > 1 in this layer (a TensorFlow-"
            "backend limit); npconv, PyTorch, JAX and ONNX run it."
        )
    if not isinstance(padding, str) or padding == "full":
        notes.append(
            f"padding={padding!r} is an npconv extension: Keras layers take only 'valid', 'same' "
            f"(and 'causal' for Conv1D)."
        )
    if padding_mode != "zeros":
        notes.append(f"padding_mode='{padding_mode}' is an npconv extension (Keras pads with zeros only).")
    if kind.transposed and padding == "same" and output_padding is not None:
        for dim in dims:
            if dim.effective_kernel_size % 2 == 0 and dim.output_padding == 0:
                notes.append(
                    "padding='same' with an even effective kernel and output_padding=0 gives (n - 1)*s: "
                    "Keras's TensorFlow backend rejects it at run time; JAX, torch and npconv run it."
                )
                break
    return tuple(notes)


def explain(
    layer,
    input_shape=None,
    kernel_size=None,
    strides=1,
    padding="valid",
    dilation_rate=1,
    output_padding=None,
    output_shape=None,
    *,
    filters=None,
    groups=1,
    depth_multiplier=1,
    data_format=None,
    padding_mode="zeros",
) -> Explanation:
    """Explain a conv layer's geometry for one input shape, instantly (no arrays).

    The arguments are checked by the real layer class, so ``explain`` accepts
    and refuses exactly what the layer does; every pad and length is
    :mod:`npconv.geometry`'s. Any input length works in the same small time
    and memory: per-position windows are made only when read.

    Args:
        layer: a layer name (``"conv2d"``, ``"Conv2DTranspose"``,
            ``"depthwise_conv1d"``, ...; case, ``_`` and ``-`` are ignored), or
            an npconv conv layer (then the other arguments come from it, and
            ``input_shape`` defaults to the layer's ``input_shape=`` argument).
        input_shape: an int (every spatial axis), the spatial size ``(h, w)``,
            a shape without the batch ``(h, w, channels)``, or a full shape
            ``(batch, h, w, channels)`` (channels first with
            ``data_format="channels_first"``). None marks an unknown size;
            ``input_shape=None`` makes every spatial size unknown.
        kernel_size: an int or one int per spatial axis.
        strides: as for the layer.
        padding: ``"valid"``, ``"same"``, ``"causal"`` (Conv1D), ``"full"``,
            an int, one int per axis, or ``(before, after)`` per axis.
        dilation_rate: as for the layer.
        output_padding: transposed convs only.
        output_shape: transposed convs only: the spatial size wanted; the
            output_padding that reaches it is chosen.
        filters: the output channels, where the layer has them (optional:
            without it the weight shapes are not given).
        groups: forward convs only.
        depth_multiplier: depthwise and separable convs only.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        padding_mode: forward convs only: one of
            :data:`npconv.geometry.PADDING_MODES`.

    Returns:
        An :class:`Explanation`.

    Example:
        >>> e = explain("conv2d", (5, 5), 3, strides=2, padding="same")
        >>> e.output_size, e.pads
        ((3, 3), ((1, 1), (1, 1)))
    """
    if not isinstance(layer, (str, LayerKind)):
        return explain_layer(layer, input_shape)
    kind = layer_kind(layer)
    if kernel_size is None:
        raise invalid(
            "kernel_size", f"an integer or a tuple of {kind.rank} positive integers", None, "kernel_size is required"
        )
    given = dict(
        strides=strides, padding=padding, dilation_rate=dilation_rate, output_padding=output_padding,
        output_shape=output_shape, filters=filters, groups=groups, depth_multiplier=depth_multiplier,
        data_format=data_format, padding_mode=padding_mode,
    )  # fmt: skip
    accepted = inspect.signature(kind.layer_class.__init__).parameters
    defaults = inspect.signature(explain).parameters
    arguments = {}
    for name, value in given.items():
        default = defaults[name].default
        if name in accepted:
            arguments[name] = value
        elif not (value is default or (isinstance(value, (int, str)) and value == default)):
            raise invalid(name, f"{default!r} for {kind.name}, which has no `{name}` argument", value)
    if "filters" in accepted and filters is None:
        # A stand-in the layer accepts; the explanation reports filters as unknown.
        arguments["filters"] = groups if isinstance(groups, int) and not isinstance(groups, bool) and groups > 0 else 1
    built = kind.layer_class(kernel_size=kernel_size, name="explain", **arguments)
    if input_shape is None:
        input_shape = (None,) * kind.rank
    return _explain_layer(built, kind, input_shape, filters_known=filters is not None or "filters" not in accepted)


def explain_layer(layer, input_shape=None) -> Explanation:
    """Explain an npconv conv layer object (built or not).

    Args:
        layer: an npconv conv layer (Conv2D, Conv1DTranspose, ...).
        input_shape: as for :func:`explain`; without it, the layer's
            ``input_shape=`` argument is used.

    Returns:
        An :class:`Explanation` named after the layer.
    """
    kind_name = type(layer).__name__
    try:
        kind = layer_kind(kind_name)
    except ValueError:
        raise invalid(
            "layer",
            f"a layer name or an npconv conv layer, one of {list(LAYER_NAMES)}",
            layer if isinstance(layer, (int, float, tuple, list)) else f"a {kind_name} object",
            error=TypeError,
        ) from None
    if input_shape is None:
        input_shape = getattr(layer, "_input_shape_arg", None)
        if input_shape is None:
            raise invalid(
                "input_shape",
                f"a shape to explain layer '{layer.name}' for",
                None,
                "Pass npconv.explain(layer, (batch, *spatial, channels)) or the spatial size",
            )
    return _explain_layer(layer, kind, input_shape, filters_known=True, name=layer.name)


def _explain_layer(layer, kind, input_shape, filters_known, name=None) -> Explanation:
    """The explanation of ``layer`` for ``input_shape``: the layer computes the
    output shape (and refuses what it refuses), the geometry explains each axis."""
    rank, data_format = kind.rank, layer.data_format
    spatial, batch_shape = _spatial_from_shape(input_shape, rank, data_format, kind.name)
    channels = None if batch_shape is None else batch_shape[-1 if data_format == "channels_last" else 1]
    probe = _full_shape((None, *(None,) * rank, None), spatial, channels, data_format)
    layer_output = layer.compute_output_shape(probe)  # the layer's own checks
    output_size = tuple(layer_output[1:-1] if data_format == "channels_last" else layer_output[2:])
    padding = layer.padding
    per_axis = [padding if isinstance(padding, str) else padding[i] for i in range(rank)]
    if kind.transposed:
        target = layer.output_shape
        used = layer.resolve_output_padding(spatial) or (None,) * rank
        if target is not None and any(n is None for n in spatial):  # known axes, one by one
            used = [
                op if n is None else geometry.output_padding_for_target(n, k, s, p, d, t)
                for op, n, k, s, p, d, t in zip(
                    used, spatial, layer.kernel_size, layer.strides, per_axis, layer.dilation_rate, target
                )
            ]
        dims = tuple(
            explain_transpose_dim(i, n, k, s, p, op, d, t, rank)
            for i, (n, k, s, p, op, d, t) in enumerate(
                zip(
                    spatial,
                    layer.kernel_size,
                    layer.strides,
                    per_axis,
                    used,
                    layer.dilation_rate,
                    target or (None,) * rank,
                )
            )
        )
        padding_mode = "zeros"
    else:
        padding_mode = layer.padding_mode
        dims = tuple(
            explain_forward_dim(i, n, k, s, p, d, padding_mode, rank)
            for i, (n, k, s, p, d) in enumerate(
                zip(spatial, layer.kernel_size, layer.strides, per_axis, layer.dilation_rate)
            )
        )
        known = [(dim.input_length, (dim.pad_before, dim.pad_after)) for dim in dims if dim.input_length is not None]
        check_padding_mode([n for n, _ in known], [pads for _, pads in known], padding_mode)
    weights = ()
    if channels is not None:
        shapes = layer._weight_shapes(channels)  # the layer's layouts (and its groups check)
        if filters_known:
            weights = tuple(
                (_WEIGHT_NAMES.get((kind.family, role), role), tuple(shape)) for role, shape in shapes.items()
            )
    out_channels = layer_output[-1 if data_format == "channels_last" else 1] if filters_known else None
    return Explanation(
        layer=kind.name,
        family=kind.family,
        rank=rank,
        input_size=tuple(spatial),
        output_size=output_size,
        kernel_size=layer.kernel_size,
        strides=layer.strides,
        padding=padding,
        dilation_rate=layer.dilation_rate,
        dims=dims,
        output_padding=getattr(layer, "output_padding", None),
        target_size=getattr(layer, "output_shape", None) if kind.transposed else None,
        padding_mode=padding_mode,
        data_format=data_format,
        groups=getattr(layer, "groups", 1),
        depth_multiplier=getattr(layer, "depth_multiplier", 1),
        filters=getattr(layer, "filters", None) if filters_known else None,
        input_shape=batch_shape,
        output_shape=_full_shape(batch_shape, output_size, out_channels, data_format),
        weight_shapes=weights,
        notes=_layer_notes(
            kind,
            layer.strides,
            layer.dilation_rate,
            padding,
            padding_mode,
            dims,
            getattr(layer, "output_padding", None),
        ),
        name=name,
    )


# Keras's name for a depthwise layer's kernel, which npconv keeps as `kernel`.
_WEIGHT_NAMES = {("depthwise", "kernel"): "depthwise_kernel"}


def explain_model(model) -> ModelExplanation:
    """The shape chain of a Sequential model, with each conv layer explained.

    Args:
        model: an npconv Sequential model with a known input shape.

    Returns:
        A :class:`ModelExplanation`.
    """
    shape = model.input_shape
    if shape is None:
        raise ValueError(
            f"Model '{model.name}' has no input shape yet, so there is nothing to explain. Add "
            f"npconv.Input(shape) first, pass input_shape= to the first layer, or build it."
        )
    steps = []
    for layer in model.layers:
        output = layer.compute_output_shape(shape)
        explanation = None
        if type(layer).__name__.lower() in _KINDS:
            explanation = explain_layer(layer, shape)
        steps.append(ModelStep(layer.name, type(layer).__name__, tuple(shape), tuple(output), explanation))
        shape = output
    return ModelExplanation(model.name, tuple(model.input_shape), tuple(steps))
