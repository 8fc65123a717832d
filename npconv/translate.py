"""The same convolution in PyTorch, ONNX or JAX, and kernel layout conversion.

:func:`translate` turns an :class:`npconv.explain.Explanation` into a
structured translation (:class:`TorchTranslation`, :class:`OnnxTranslation`,
:class:`JaxTranslation`) whose fields are the exact arguments to pass, and
whose ``code()`` prints them as a call. Pads come from the explanation, which
asked :mod:`npconv.geometry`; nothing here decides a pad, it only re-expresses
the pads in each framework's convention:

- PyTorch pads symmetrically and refuses padding='same' with a stride, so an
  asymmetric pad becomes ``F.pad`` on the input; a transposed conv becomes
  ``padding``/``output_padding`` plus, where needed, ``F.pad`` on the output
  (negative values crop).
- ONNX takes explicit per-side ``pads`` (and ``output_padding`` on
  ConvTranspose).
- JAX takes ``(before, after)`` pairs; a transposed conv is a conv on the
  stride-dilated input (``lhs_dilation``) with the kernel flipped.

:func:`keras_to_torch_weights` and :func:`torch_to_keras_weights` convert
kernels between the layouts (NumPy in, NumPy out; torch tensors are accepted
through ``np.asarray``). ONNX uses PyTorch's layout.

This module never imports torch, onnx or jax.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .arguments import invalid
from .geometry import PADDING_MODES

__all__ = [
    "FRAMEWORKS",
    "JaxTranslation",
    "OnnxTranslation",
    "TorchConv",
    "TorchTranslation",
    "keras_to_torch_weights",
    "torch_to_keras_weights",
    "translate",
]

FRAMEWORKS = ("torch", "onnx", "jax")
WEIGHT_KINDS = ("conv", "conv_transpose", "depthwise", "pointwise")


# --------------------------------------------------------------------------
# weight layouts
# --------------------------------------------------------------------------
def _kind(kind):
    if kind not in WEIGHT_KINDS:
        raise invalid("kind", f"one of {list(WEIGHT_KINDS)}", kind)
    return kind


def _check_rank(array, name, minimum=3):
    if array.ndim < minimum:
        raise invalid(name, f"an array of rank >= {minimum}", f"shape {array.shape}")


def _check_groups(groups):
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise invalid("groups", "a positive int", groups)


def _checked_weight(array, name, kind, groups):
    """(array as an ndarray, the standard kind name, the spatial rank), all checked."""
    array = np.asarray(array)
    kind = _kind(kind)
    _check_groups(groups)
    _check_rank(array, name)
    return array, kind, array.ndim - 2


def keras_to_torch_weights(kernel, kind="conv", groups=1):
    """A Keras kernel in PyTorch's (and ONNX's) layout.

    - 'conv' (also 'pointwise'): ``(*k, in/groups, out)`` -> ``(out, in/groups, *k)``.
    - 'conv_transpose': ``(*k, filters, in)`` -> ``(in, filters/groups, *k)``.
      Keras has no grouped transposed conv, so with ``groups > 1`` the Keras
      kernel is the dense block-diagonal one (what npconv's Conv*DTranspose
      runs); its diagonal blocks are kept, and any non-zero weight off them is
      an error.
    - 'depthwise': ``(*k, in, multiplier)`` -> ``(in*multiplier, 1, *k)``, for
      a torch conv with ``groups=in``.

    Args:
        kernel: the Keras weight array.
        kind: ``"conv"``, ``"pointwise"``, ``"conv_transpose"`` or ``"depthwise"``.
        groups: the conv's groups (see above).

    Returns:
        The weight in PyTorch's layout, as a new array.
    """
    kernel, kind, rank = _checked_weight(kernel, "kernel", kind, groups)
    spatial = tuple(range(rank))
    if kind in ("conv", "pointwise"):
        if kernel.shape[-1] % groups:
            raise invalid("groups", f"a divisor of the kernel's output channels ({kernel.shape[-1]})", groups)
        return np.ascontiguousarray(kernel.transpose(rank + 1, rank, *spatial))
    if kind == "depthwise":
        channels, multiplier = kernel.shape[-2:]
        flat = kernel.reshape(*kernel.shape[:-2], channels * multiplier)
        return np.ascontiguousarray(flat.transpose(rank, *spatial)[:, None])
    filters, channels = kernel.shape[-2:]
    if filters % groups or channels % groups:
        raise invalid(
            "groups",
            f"a divisor of both filters ({filters}) and input channels ({channels}) of the kernel",
            groups,
        )
    torch_layout = kernel.transpose(rank + 1, rank, *spatial)  # (in, filters, *k)
    if groups == 1:
        return np.ascontiguousarray(torch_layout)
    per_in, per_out = channels // groups, filters // groups
    blocks = [torch_layout[g * per_in : (g + 1) * per_in, g * per_out : (g + 1) * per_out] for g in range(groups)]
    rebuilt = _block_diagonal(blocks, per_in, per_out, groups)
    if not np.array_equal(rebuilt, torch_layout):
        raise invalid(
            "kernel",
            f"a block-diagonal kernel for groups={groups} (zero where input group != output group)",
            f"shape {kernel.shape} with weights off the diagonal blocks",
            "A grouped transposed conv cannot express them; use groups=1",
        )
    return np.ascontiguousarray(np.concatenate(blocks, axis=0))


def _block_diagonal(blocks, per_in, per_out, groups):
    """(in, filters/groups, *k) blocks -> dense (in, filters, *k)."""
    first = blocks[0]
    dense = np.zeros((per_in * groups, per_out * groups, *first.shape[2:]), dtype=first.dtype)
    for g, block in enumerate(blocks):
        dense[g * per_in : (g + 1) * per_in, g * per_out : (g + 1) * per_out] = block
    return dense


def torch_to_keras_weights(weight, kind="conv", groups=1):
    """A PyTorch (or ONNX) weight in Keras's layout; the inverse of
    :func:`keras_to_torch_weights`.

    - 'conv' (also 'pointwise'): ``(out, in/groups, *k)`` -> ``(*k, in/groups, out)``.
    - 'conv_transpose': ``(in, filters/groups, *k)`` -> ``(*k, filters, in)``,
      dense (block-diagonal when ``groups > 1``).
    - 'depthwise': ``(in*multiplier, 1, *k)`` -> ``(*k, in, multiplier)``;
      ``groups`` must be the input channel count (torch's ``groups=in``).

    Args:
        weight: the PyTorch (or ONNX) weight array.
        kind: ``"conv"``, ``"pointwise"``, ``"conv_transpose"`` or ``"depthwise"``.
        groups: the torch conv's ``groups``.

    Returns:
        The weight in Keras's layout, as a new array.
    """
    weight, kind, rank = _checked_weight(weight, "weight", kind, groups)
    to_keras = (*range(2, rank + 2), 1, 0)
    if kind in ("conv", "pointwise"):
        if weight.shape[0] % groups:
            raise invalid("groups", f"a divisor of the weight's output channels ({weight.shape[0]})", groups)
        return np.ascontiguousarray(weight.transpose(*to_keras))
    if kind == "depthwise":
        total = weight.shape[0]
        if weight.shape[1] != 1 or total % groups:
            raise invalid(
                "weight",
                f"shape (in*multiplier, 1, *k) with in = groups = {groups}",
                f"shape {weight.shape}",
                "Pass groups=in_channels, as the torch conv has",
            )
        channels, multiplier = groups, total // groups
        spatial = weight[:, 0].transpose(*range(1, rank + 1), 0)  # (*k, in*mult)
        return np.ascontiguousarray(spatial.reshape(*spatial.shape[:-1], channels, multiplier))
    channels = weight.shape[0]
    if channels % groups:
        raise invalid("groups", f"a divisor of the weight's input channels ({channels})", groups)
    per_in = channels // groups
    blocks = [weight[g * per_in : (g + 1) * per_in] for g in range(groups)]
    dense = _block_diagonal(blocks, per_in, weight.shape[1], groups) if groups > 1 else weight
    return np.ascontiguousarray(dense.transpose(*to_keras))


# --------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------
def _known_pads(e, framework):
    if any(d.pad_before is None for d in e.dims):
        raise invalid(
            "input_shape",
            f"known spatial sizes to translate {e.layer} with padding={e.padding!r} to {framework}",
            e.input_size,
            "'same' pads depend on the input length when strides > 1",
        )
    return [(d.pad_before, d.pad_after) for d in e.dims]


def _torch_pad_order(pads):
    """Per-axis (before, after) -> F.pad's flat tuple, last axis first."""
    flat = []
    for before, after in reversed(pads):
        flat += [before, after]
    return tuple(flat)


def _ints(values):
    return tuple(int(v) for v in values)


def _tuple_text(values):
    values = tuple(values)
    return "(" + ", ".join(str(v) for v in values) + ("," if len(values) == 1 else "") + ")"


def _spatial_letters(rank):
    return {1: "W", 2: "HW", 3: "DHW"}[rank]


def _transpose_torch_params(dim, pad_before, pad_after):
    """torch (padding, output_padding, out_before, out_after) reproducing
    (pad_before, pad_after) on the zero-inserted input. out_* pad (or, when
    negative, crop) the torch output. torch's conv_transpose pads the
    zero-inserted input by k_eff - 1 - padding before and that plus
    output_padding after, with 0 <= output_padding < max(stride, dilation)."""
    k_eff, s, d = dim.effective_kernel_size, dim.stride, dim.dilation
    p = max(0, k_eff - 1 - pad_before)
    torch_before = k_eff - 1 - p
    op = min(max(pad_after - torch_before, 0), max(s, d) - 1)
    torch_after = torch_before + op
    extra_after = pad_after - torch_after
    torch_length = dim.zero_inserted_length + torch_before + torch_after - k_eff + 1
    if (extra_after > 0 and torch_after < k_eff - 1) or torch_length <= 0:
        # Extending with zeros is only right past the full output, and torch
        # refuses an empty output: start from the full output instead.
        p, op, torch_before, torch_after = 0, 0, k_eff - 1, k_eff - 1
        extra_after = pad_after - torch_after
    return p, op, pad_before - torch_before, extra_after


def _torch_naive_alternatives(k_eff, s, d, pad_before, pad_after):
    """torch (padding, output_padding) pairs that give the same length but a
    different alignment: the one-pixel-shift trap."""
    total = pad_before + pad_after
    found = []
    for p in range(k_eff):
        before = k_eff - 1 - p
        op = total - 2 * before  # torch pads (before, before + output_padding)
        if before != pad_before and 0 <= op < max(s, d):
            found.append((p, op, before - pad_before))
    return found


def _merge_axes(items):
    """(axis name, message) pairs -> one line per message, naming its axes."""
    merged = {}
    for axis, message in items:
        merged.setdefault(message, []).append(axis)
    return [f"{' and '.join(axes)}: {message}" for message, axes in merged.items()]


# --------------------------------------------------------------------------
# PyTorch
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class TorchConv:
    """One ``torch.nn.functional`` conv call and its ``torch.nn`` module twin.

    Args:
        function: the ``torch.nn.functional`` name: ``"conv2d"``, ``"conv_transpose2d"``, ...
        module: the ``torch.nn`` class name: ``"Conv2d"``, ``"ConvTranspose2d"``, ...
        in_channels: the input channels, None when unknown.
        out_channels: the output channels, None when unknown.
        kernel_size: one int per spatial axis.
        stride: one int per spatial axis.
        padding: one int per axis, or the string ``"same"``.
        dilation: one int per spatial axis.
        groups: torch's ``groups``.
        output_padding: transposed convs only: one int per axis.
        weight_kind: the ``kind`` to give :func:`keras_to_torch_weights`.
        weight_name: the Keras weight it comes from (``"kernel"``, ``"depthwise_kernel"``, ...).
    """

    function: str
    module: str
    in_channels: int | None
    out_channels: int | None
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: object  # tuple of ints, or the string 'same'
    dilation: tuple[int, ...]
    groups: int = 1
    output_padding: tuple[int, ...] | None = None
    weight_kind: str = "conv"
    weight_name: str = "kernel"

    def kwargs(self) -> dict:
        """Keyword arguments of the functional call (after x and weight)."""
        kw = {"stride": self.stride, "padding": self.padding}
        if self.output_padding is not None:
            kw["output_padding"] = self.output_padding
        kw["groups"] = self.groups
        kw["dilation"] = self.dilation
        return kw


@dataclass(frozen=True)
class TorchTranslation:
    """PyTorch steps: ``input_pad`` (F.pad on the NC* input, with
    ``input_pad_mode``), the convs in order, then ``output_pad`` (zeros added
    to the output) and last ``output_crop`` (pixels removed from it). All are
    in F.pad's order: last axis first, (before, after) per axis, and None when
    there is nothing to do. Cropping is ``F.pad`` with the values negated.

    Args:
        layer: the Keras layer's class name.
        rank: the number of spatial axes.
        convs: the :class:`TorchConv` calls, in order.
        input_pad: ``F.pad`` amounts for the input, or None.
        input_pad_mode: ``F.pad``'s mode: ``"constant"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
        output_pad: zeros added to the output, in ``F.pad``'s order, or None.
        output_crop: pixels removed from the output, in ``F.pad``'s order, or None.
        channels_last: the Keras layer's data_format is channels_last (the
            code transposes to torch's NC* layout and back).
        warnings: what the target library cannot match exactly, as sentences.
        notes: what the translation did and why, as sentences.
    """

    layer: str
    rank: int
    convs: tuple[TorchConv, ...]
    input_pad: tuple[int, ...] | None = None
    input_pad_mode: str = "constant"
    output_pad: tuple[int, ...] | None = None
    output_crop: tuple[int, ...] | None = None
    channels_last: bool = True
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def code(self) -> str:
        """Runnable PyTorch code for these steps, weights converted from Keras's layout."""
        return _torch_code(self)


def _torch_forward(e, warnings, notes):
    pads = None
    if not (e.padding == "same" and all(s == 1 for s in e.strides) and e.padding_mode == "zeros"):
        pads = _known_pads(e, "torch")
    mode = PADDING_MODES[e.padding_mode].torch
    input_pad, padding = None, None
    if pads is None:
        padding = "same"
    elif mode == "constant" and all(b == a for b, a in pads):
        padding = _ints(b for b, _ in pads)
    elif mode == "constant" and e.padding == "same" and all(s == 1 for s in e.strides):
        padding = "same"
    else:
        input_pad, padding = _torch_pad_order(pads), (0,) * e.rank
        if mode != "constant":
            notes.append(
                f"padding_mode='{e.padding_mode}' becomes F.pad(mode='{mode}'); torch's Conv padding_mode "
                f"only pads symmetrically, so the pad is a separate step."
            )
        elif e.padding == "same":
            warnings.append(
                f"torch refuses padding='same' with strides {_tuple_text(e.strides)} (pytorch#3867), and its "
                f"padding is symmetric (pytorch#17150): Keras pads {_tuple_text(tuple(pads))} (the odd pixel "
                f"after), so pad with F.pad first and use padding=0."
            )
        else:
            warnings.append("torch's conv padding is symmetric (pytorch#17150): the asymmetric pad is an F.pad first.")
    ch_in = e.in_channels
    if e.family in ("depthwise", "separable"):
        middle = None if ch_in is None else ch_in * e.depth_multiplier
        depthwise = TorchConv(
            f"conv{e.rank}d", f"Conv{e.rank}d", ch_in, middle, e.kernel_size, e.strides, padding, e.dilation_rate,
            groups=ch_in or 0, weight_kind="depthwise", weight_name="depthwise_kernel",
        )  # fmt: skip
        if e.family == "depthwise":
            return (depthwise,), input_pad, mode
        ones = (1,) * e.rank
        pointwise = TorchConv(
            f"conv{e.rank}d", f"Conv{e.rank}d", middle, e.filters, ones, ones, (0,) * e.rank, ones,
            weight_kind="pointwise", weight_name="pointwise_kernel",
        )  # fmt: skip
        return (depthwise, pointwise), input_pad, mode
    conv = TorchConv(
        f"conv{e.rank}d", f"Conv{e.rank}d", ch_in, e.filters, e.kernel_size, e.strides, padding, e.dilation_rate,
        groups=e.groups,
    )  # fmt: skip
    return (conv,), input_pad, mode


def _torch_transpose(e, warnings, notes):
    pads = _known_pads(e, "torch")
    params = [_transpose_torch_params(d, b, a) for d, (b, a) in zip(e.dims, pads)]
    padding = _ints(p for p, _, _, _ in params)
    output_padding = _ints(op for _, op, _, _ in params)
    out_pads = [(before, after) for _, _, before, after in params]
    output_pad = _torch_pad_order([(max(b, 0), max(a, 0)) for b, a in out_pads])
    output_crop = _torch_pad_order([(max(-b, 0), max(-a, 0)) for b, a in out_pads])
    output_pad = output_pad if any(output_pad) else None
    output_crop = output_crop if any(output_crop) else None
    conv = TorchConv(
        f"conv_transpose{e.rank}d", f"ConvTranspose{e.rank}d", e.in_channels, e.filters, e.kernel_size, e.strides,
        padding, e.dilation_rate, output_padding=output_padding, weight_kind="conv_transpose",
    )  # fmt: skip
    per_axis = []
    for d, (b, a), (p, op, _, _) in zip(e.dims, pads, params):
        alternatives = [
            alt
            for alt in _torch_naive_alternatives(d.effective_kernel_size, d.stride, d.dilation, b, a)
            if alt[:2] != (p, op) and d.padding in ("valid", "same")
        ]
        for alt_p, alt_op, shift in sorted(alternatives, key=lambda alt: abs(alt[2]))[:1]:
            pixels = f"{abs(shift)} pixel{'s' if abs(shift) > 1 else ''}"
            index = f"torch[j] = keras[j {'+' if shift < 0 else '-'} {abs(shift)}]"
            per_axis.append(
                (
                    d.axis_name,
                    f"torch padding={alt_p}, output_padding={alt_op} gives the same length, "
                    f"{d.output_length}, but shifts the output by {pixels} ({index}; keras#22876): its pads on "
                    f"the zero-inserted input are ({b + shift}, {a - shift}), Keras's ({b}, {a}).",
                )
            )
        if d.padding == "valid" and d.output_padding is None and d.stride > d.effective_kernel_size:
            per_axis.append(
                (
                    d.axis_name,
                    f"s > k_eff, so torch's valid length (n - 1)*s + k_eff is {d.stride - d.effective_kernel_size} "
                    f"short of Keras's (n - 1)*s + max(k_eff, s); output_padding makes it up.",
                )
            )
    warnings.extend(_merge_axes(per_axis))
    if output_pad is not None or output_crop is not None:
        done = " and ".join(w for w, v in (("padded", output_pad), ("cropped", output_crop)) if v is not None)
        notes.append(
            f"torch's padding/output_padding cannot place these pads exactly, so the output is {done} afterwards."
        )
    return (conv,), None, "constant", output_pad, output_crop


def _translate_torch(e):
    warnings, notes = [], []
    output_pad = output_crop = None
    if e.transposed:
        convs, input_pad, mode, output_pad, output_crop = _torch_transpose(e, warnings, notes)
    else:
        convs, input_pad, mode = _torch_forward(e, warnings, notes)
    if any(s > 1 for s in e.strides) and any(d > 1 for d in e.dilation_rate):
        notes.append("strides > 1 with dilation_rate > 1: torch runs it (Keras's own Conv layers refuse it).")
    return TorchTranslation(
        e.layer, e.rank, convs, input_pad, mode, output_pad, output_crop, e.data_format == "channels_last", tuple(warnings),
        tuple(notes),
    )  # fmt: skip


def _negated(values):
    return tuple(-v for v in values)


def _torch_code(t: TorchTranslation) -> str:
    rank = t.rank
    lines = [
        "import torch",
        "import torch.nn.functional as F",
        "from npconv.translate import keras_to_torch_weights",
        "",
    ]
    to_first = (0, rank + 1, *range(1, rank + 1))
    to_last = (0, *range(2, rank + 2), 1)
    for conv in t.convs:
        var = "weight" if len(t.convs) == 1 else f"{conv.weight_kind}_weight"
        lines.append(
            f"{var} = torch.from_numpy(keras_to_torch_weights({conv.weight_name}, {conv.weight_kind!r}"
            + (f", groups={conv.groups}" if conv.weight_kind == "conv_transpose" and conv.groups > 1 else "")
            + "))"
        )
    if t.channels_last:
        lines.append(f"x = x.permute{to_first}  # Keras channels_last -> torch channels_first")
    if t.input_pad is not None:
        mode = "" if t.input_pad_mode == "constant" else f", mode={t.input_pad_mode!r}"
        lines.append(f"x = F.pad(x, {t.input_pad}{mode})  # (before, after) per axis, last axis first")
    x = "x"
    for i, conv in enumerate(t.convs):
        var = "weight" if len(t.convs) == 1 else f"{conv.weight_kind}_weight"
        bias = "bias" if i == len(t.convs) - 1 else "None"
        args = ", ".join(f"{k}={v!r}" for k, v in conv.kwargs().items())
        target = "y" if i == len(t.convs) - 1 else "x"
        lines.append(f"{target} = F.{conv.function}({x}, {var}, {bias}, {args})")
    if t.output_pad is not None:
        lines.append(f"y = F.pad(y, {t.output_pad})  # zeros after the full output")
    if t.output_crop is not None:
        lines.append(f"y = F.pad(y, {_negated(t.output_crop)})  # negative pads crop")
    if t.channels_last:
        lines.append(f"y = y.permute{to_last}  # back to channels_last")
    lines += ["", "# or as modules:"]
    modules = []
    if t.input_pad is not None:
        module = next(m.torch_module for m in PADDING_MODES.values() if m.torch == t.input_pad_mode)
        name = f"{module}{rank}d"
        modules.append(f"torch.nn.{name}({t.input_pad})")
    for conv in t.convs:
        args = [str(conv.in_channels or "in_channels"), str(conv.out_channels or "filters"), repr(conv.kernel_size)]
        kw = conv.kwargs()
        if conv.groups == 0:
            kw["groups"] = "in_channels"
        args += [f"{k}={v if isinstance(v, str) and k == 'groups' else repr(v)}" for k, v in kw.items()]
        modules.append(f"torch.nn.{conv.module}({', '.join(args)})")
    if t.output_pad is not None:
        modules.append(f"torch.nn.ZeroPad{rank}d({t.output_pad})")
    if t.output_crop is not None:
        modules.append(f"torch.nn.ZeroPad{rank}d({_negated(t.output_crop)}),  # negative pads crop")
    if len(modules) == 1:
        lines.append(f"layer = {modules[0]}")
    else:
        lines.append("layer = torch.nn.Sequential(")
        lines += [f"    {m}" if m.endswith("crop") else f"    {m}," for m in modules]
        lines.append(")")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class OnnxNode:
    op_type: str  # 'Conv' | 'ConvTranspose' | 'Pad'
    attributes: tuple[tuple[str, object], ...]
    weight_kind: str | None = None
    weight_name: str | None = None

    def attribute(self, name, default=None):
        return dict(self.attributes).get(name, default)


@dataclass(frozen=True)
class OnnxTranslation:
    """ONNX nodes in order, on NC* tensors. ``Pad`` nodes carry ``pads`` (all
    axes, begins then ends) and ``mode``; conv nodes carry their attributes.

    Args:
        layer: the Keras layer's class name.
        rank: the number of spatial axes.
        nodes: the ONNX nodes (``op_type`` and attributes), in order.
        channels_last: the Keras layer's data_format is channels_last.
        warnings: what the target library cannot match exactly, as sentences.
        notes: what the translation did and why, as sentences.
    """

    layer: str
    rank: int
    nodes: tuple[OnnxNode, ...]
    channels_last: bool = True
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def code(self) -> str:
        """Python code that builds these ONNX nodes, weights converted from Keras's layout."""
        return _onnx_code(self)


def _onnx_pads(pads):
    return [b for b, _ in pads] + [a for _, a in pads]


def _translate_onnx(e):
    pads = _known_pads(e, "onnx")
    rank = e.rank
    warnings, notes, nodes = [], [], []
    common = [("kernel_shape", list(e.kernel_size)), ("strides", list(e.strides)), ("dilations", list(e.dilation_rate))]
    if e.transposed:
        crops, output_padding, front = [], [], []
        for d, (b, a) in zip(e.dims, pads):
            k_eff = d.effective_kernel_size
            op = max(0, a - (k_eff - 1))
            crops.append((max(0, k_eff - 1 - b), k_eff - 1 - a + op))
            output_padding.append(op)
            front.append(max(0, b - (k_eff - 1)))  # more than the full output: zeros in front
        attrs = [*common, ("group", 1), ("pads", _onnx_pads(crops)), ("output_padding", output_padding)]
        nodes.append(OnnxNode("ConvTranspose", tuple(attrs), "conv_transpose", "kernel"))
        if any(front):
            nodes.append(OnnxNode("Pad", (("pads", [0, 0, *front, 0, 0, *[0] * rank]), ("mode", "constant"))))
        warnings.append(
            "ConvTranspose auto_pad SAME_UPPER/SAME_LOWER were swapped in some runtimes and converters "
            "(onnxruntime#9370, onnx#1609); these explicit pads and output_padding avoid auto_pad."
        )
        notes.append("ConvTranspose pads crop the full output (begin, then end), and output_padding adds at the end.")
        return OnnxTranslation(
            e.layer, rank, tuple(nodes), e.data_format == "channels_last", tuple(warnings), tuple(notes)
        )
    mode = PADDING_MODES[e.padding_mode].onnx
    conv_pads = _onnx_pads(pads)
    if mode != "constant":
        nodes.append(OnnxNode("Pad", (("pads", [0, 0, *conv_pads[:rank], 0, 0, *conv_pads[rank:]]), ("mode", mode))))
        conv_pads = [0] * (2 * rank)
    if e.padding == "same":
        odd = [d.axis_name for d, (b, a) in zip(e.dims, pads) if a != b]
        notes.append("auto_pad='SAME_UPPER' is the same as these pads (TensorFlow's SAME rule).")
        if odd:
            warnings.append(
                f"auto_pad='SAME_LOWER' would put the odd pad pixel before on {', '.join(odd)}: a one-pixel "
                f"shift against Keras. Use SAME_UPPER or these explicit pads."
            )
    if e.family in ("depthwise", "separable"):
        group = e.in_channels or 0
        nodes.append(
            OnnxNode("Conv", (*common, ("group", group), ("pads", conv_pads)), "depthwise", "depthwise_kernel")
        )
        if e.family == "separable":
            ones = [1] * rank
            attrs = (
                ("kernel_shape", ones),
                ("strides", ones),
                ("dilations", ones),
                ("group", 1),
                ("pads", [0] * (2 * rank)),
            )
            nodes.append(OnnxNode("Conv", attrs, "pointwise", "pointwise_kernel"))
    else:
        nodes.append(OnnxNode("Conv", (*common, ("group", e.groups), ("pads", conv_pads)), "conv", "kernel"))
    return OnnxTranslation(e.layer, rank, tuple(nodes), e.data_format == "channels_last", tuple(warnings), tuple(notes))


def _onnx_code(t: OnnxTranslation) -> str:
    lines = [
        "from onnx import helper, numpy_helper",
        "from npconv.translate import keras_to_torch_weights  # ONNX weights use torch's layout",
        "",
    ]
    if t.channels_last:
        lines.append(
            f"# inputs are N, C, {', '.join(_spatial_letters(t.rank))}: transpose Keras channels_last data first"
        )
    current = "x"
    for i, node in enumerate(t.nodes):
        out = "y" if i == len(t.nodes) - 1 else f"t{i}"
        if node.op_type == "Pad":
            pads = node.attribute("pads")
            lines.append(f'pads{i} = numpy_helper.from_array(np.array({pads}, dtype=np.int64), "pads{i}")')
            lines.append(
                f'helper.make_node("Pad", ["{current}", "pads{i}"], ["{out}"], mode={node.attribute("mode")!r})'
            )
        else:
            weight = f"W{i}"
            lines.append(
                f'{weight} = numpy_helper.from_array(keras_to_torch_weights({node.weight_name}, {node.weight_kind!r}), "{weight}")'
            )
            attrs = ", ".join(f"{k}={v!r}" for k, v in node.attributes if not (k == "group" and v == 0))
            if node.attribute("group") == 0:
                attrs += ", group=in_channels"
            inputs = [current, weight] + (["B"] if i == len(t.nodes) - 1 or node.op_type == "ConvTranspose" else [])
            lines.append(f'helper.make_node("{node.op_type}", {inputs}, ["{out}"], {attrs})')
        current = out
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# JAX
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class JaxConv:
    """One ``jax.lax.conv_general_dilated`` call. ``kernel`` says how the
    Keras weight is prepared: 'as is', 'flip' (transposed), 'depthwise'
    (reshape (*k, in, mult) -> (*k, 1, in*mult))."""

    window_strides: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    lhs_dilation: tuple[int, ...]
    rhs_dilation: tuple[int, ...]
    dimension_numbers: tuple[str, str, str]
    feature_group_count: int = 1
    kernel: str = "as is"
    weight_name: str = "kernel"


@dataclass(frozen=True)
class JaxTranslation:
    """JAX steps: ``input_pad`` (``jnp.pad`` of the spatial axes, with
    ``input_pad_mode``) where a padding mode needs it, then the
    ``lax.conv_general_dilated`` calls in order; ``code()`` adds Keras's bias
    to the last one's output, as the torch and ONNX translations do.

    Args:
        layer: the Keras layer's class name.
        rank: the number of spatial axes.
        convs: the ``lax.conv_general_dilated`` calls, in order.
        input_pad: ``jnp.pad`` amounts for the spatial axes, or None.
        input_pad_mode: ``jnp.pad``'s mode.
        warnings: what the target library cannot match exactly, as sentences.
        notes: what the translation did and why, as sentences.
    """

    layer: str
    rank: int
    convs: tuple[JaxConv, ...]
    input_pad: tuple[tuple[int, int], ...] | None = None
    input_pad_mode: str = "constant"
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def code(self) -> str:
        """Runnable JAX code for these steps, with Keras's bias added to the last output."""
        return _jax_code(self)


def _translate_jax(e):
    pads = tuple(tuple(p) for p in _known_pads(e, "jax"))
    rank = e.rank
    letters = _spatial_letters(rank)
    data = f"N{letters}C" if e.data_format == "channels_last" else f"NC{letters}"
    ones = (1,) * rank
    warnings, notes = [], []
    if e.transposed:
        conv = JaxConv(ones, pads, e.strides, e.dilation_rate, (data, f"{letters}OI", data), 1, "flip")
        notes.append(
            "equivalently jax.lax.conv_transpose(x, kernel, strides, padding, rhs_dilation=dilation, "
            f"dimension_numbers=({data!r}, '{letters}IO', {data!r}), transpose_kernel=True), as Keras's JAX "
            "backend calls it, with the same padding pairs."
        )
        if all(d.output_padding is None for d in e.dims) and e.padding in ("valid", "same"):
            notes.append(
                f"with output_padding=None, jax.lax.conv_transpose's padding={e.padding.upper()!r} gives "
                f"these same pairs."
            )
        elif e.padding in ("valid", "same"):
            warnings.append(
                f"jax.lax.conv_transpose's padding={e.padding.upper()!r} ignores output_padding (it matches "
                f"Keras's output_padding=None only); pass these pairs."
            )
        return JaxTranslation(e.layer, rank, (conv,), None, "constant", tuple(warnings), tuple(notes))
    mode = PADDING_MODES[e.padding_mode].numpy  # jnp.pad takes np.pad's modes
    input_pad = None
    conv_pads = pads
    if mode != "constant":
        input_pad, conv_pads = pads, ((0, 0),) * rank
    kernel_spec = f"{letters}IO"
    if e.family in ("depthwise", "separable"):
        convs = [
            JaxConv(
                e.strides,
                conv_pads,
                ones,
                e.dilation_rate,
                (data, kernel_spec, data),
                e.in_channels or 0,
                "depthwise",
                "depthwise_kernel",
            )
        ]
        if e.family == "separable":
            convs.append(
                JaxConv(ones, ((0, 0),) * rank, ones, ones, (data, kernel_spec, data), 1, "as is", "pointwise_kernel")
            )
    else:
        convs = [JaxConv(e.strides, conv_pads, ones, e.dilation_rate, (data, kernel_spec, data), e.groups)]
    if e.padding in ("same", "valid") and mode == "constant":
        notes.append(f"padding={e.padding.upper()!r} gives the same pairs (JAX uses TensorFlow's rule).")
    return JaxTranslation(e.layer, rank, tuple(convs), input_pad, mode, tuple(warnings), tuple(notes))


def _jax_code(t: JaxTranslation) -> str:
    lines = ["import jax.numpy as jnp", "from jax import lax", ""]
    spatial = tuple(range(t.rank))
    channels_first = t.convs[0].dimension_numbers[0].startswith("NC")
    if t.input_pad is not None:
        width = [(0, 0), (0, 0), *t.input_pad] if channels_first else [(0, 0), *t.input_pad, (0, 0)]
        lines.append(f"x = jnp.pad(x, {width}, mode={t.input_pad_mode!r})")
    for i, conv in enumerate(t.convs):
        kernel = conv.weight_name
        if conv.kernel == "flip":
            kernel = f"jnp.flip({conv.weight_name}, axis={spatial})"
        elif conv.kernel == "depthwise":
            kernel = f"{conv.weight_name}.reshape(*{conv.weight_name}.shape[:-2], 1, -1)"
        groups = conv.feature_group_count or "in_channels"
        target = "y" if i == len(t.convs) - 1 else "x"
        lines.append(
            f"{target} = lax.conv_general_dilated(x, {kernel}, window_strides={conv.window_strides}, "
            f"padding={[tuple(p) for p in conv.padding]}, lhs_dilation={conv.lhs_dilation}, "
            f"rhs_dilation={conv.rhs_dilation}, dimension_numbers={conv.dimension_numbers}, "
            f"feature_group_count={groups})"
        )
    if channels_first:
        lines.append(f"y = y + bias.reshape(-1, {', '.join(['1'] * t.rank)})  # Keras's bias, (filters,)")
    else:
        lines.append("y = y + bias  # Keras's bias, (filters,)")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------
def translate(explanation, framework: str):
    """The structured translation of an explained layer.

    Args:
        explanation: an :class:`npconv.explain.Explanation` (every pad known).
        framework: ``"torch"``, ``"onnx"`` or ``"jax"``.

    Returns:
        A :class:`TorchTranslation`, :class:`OnnxTranslation` or
        :class:`JaxTranslation`; its notes end with where each pad comes from
        (the geometry's formula and reason).

    Example:
        >>> from npconv import explain
        >>> print(translate(explain("conv1d", 5, 3, padding="same"), "jax").convs[0].padding)
        ((1, 1),)
    """
    if not isinstance(framework, str) or framework.lower() not in FRAMEWORKS:
        raise invalid("to", f"one of {list(FRAMEWORKS)}", framework)
    framework = framework.lower()
    if framework == "torch":
        t = _translate_torch(explanation)
    elif framework == "onnx":
        t = _translate_onnx(explanation)
    else:
        t = _translate_jax(explanation)
    return dataclasses.replace(t, notes=(*t.notes, *_pad_notes(explanation)))


def _pad_notes(e):
    """Where each axis's pads come from: the geometry's formulas and reason."""
    where = " on the zero-inserted input" if e.transposed else ""
    items = []
    for d in e.dims:
        before, after = d.formula("pad_before"), d.formula("pad_after")
        if before is None:
            continue
        items.append(
            (
                d.axis_name,
                f"pads ({d.pad_before}, {d.pad_after}){where}: pad_before = {before.symbolic}, pad_after = "
                f"{after.symbolic}. Why: {' '.join(d.pad_reason)}",
            )
        )
    return _merge_axes(items)


def render_translation(t) -> str:
    """``code()`` followed by the warnings and notes, as comments."""
    lines = [t.code().rstrip("\n")]
    if t.warnings:
        lines.append("")
        lines += [f"# WARNING: {w}" for w in t.warnings]
    if t.notes:
        lines.append("")
        lines += [f"# note: {n}" for n in t.notes]
    return "\n".join(lines) + "\n"
