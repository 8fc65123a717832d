"""The structured explanation of a conv layer's geometry: plain data, no arrays.

Every length and pad here comes from :mod:`npconv.geometry`; this module only
asks it, names the numbers, writes the formulas out with the numbers
substituted, and lists which input positions each output position reads.

Coordinates along one spatial axis:

- forward conv: a *position* counts input pixels from the first real one, so
  ``position < 0`` is the pad before and ``position >= n`` the pad after;
- transposed conv: a position counts cells of the *zero-inserted* input (s - 1
  zeros between neighbouring inputs, length (n - 1)*s + 1); input pixel i sits
  at position i*s, and the positions between are inserted zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import geometry
from ..arguments import invalid, standardize_data_format, standardize_padding, standardize_tuple
from ..ops.convolution import check_padding_mode

PaddingArg = str | tuple[int, int]

AXIS_NAMES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}


# --------------------------------------------------------------------------
# the layer families
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerKind:
    name: str  # Keras class name, e.g. 'Conv2DTranspose'
    family: str  # 'conv' | 'transpose' | 'depthwise' | 'separable'
    rank: int

    @property
    def transposed(self) -> bool:
        return self.family == "transpose"

    @property
    def allow_causal(self) -> bool:
        return self.name == "Conv1D"


_KINDS = {
    kind.name.lower(): kind
    for kind in (
        LayerKind("Conv1D", "conv", 1),
        LayerKind("Conv2D", "conv", 2),
        LayerKind("Conv3D", "conv", 3),
        LayerKind("Conv1DTranspose", "transpose", 1),
        LayerKind("Conv2DTranspose", "transpose", 2),
        LayerKind("Conv3DTranspose", "transpose", 3),
        LayerKind("DepthwiseConv1D", "depthwise", 1),
        LayerKind("DepthwiseConv2D", "depthwise", 2),
        LayerKind("SeparableConv1D", "separable", 1),
        LayerKind("SeparableConv2D", "separable", 2),
    )
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
    """The layer family for a name such as 'conv2d', 'Conv2DTranspose' or
    'depthwise_conv2d' (case, '_' and '-' are ignored)."""
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
# the result
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Formula:
    """One quantity: ``name = symbolic = numbers = value``.

    ``numbers`` is ``symbolic`` with this case's numbers substituted; it uses
    only integers, + - * / //, %, and the functions floor, ceil, max and min.
    ``value`` is what :mod:`npconv.geometry` decided, not this expression
    (the tests check that the two agree).
    """

    name: str
    symbolic: str
    numbers: str | None
    value: int | None


@dataclass(frozen=True)
class Tap:
    """One kernel tap of one window.

    ``tap`` counts the taps of the window left to right. ``weight`` is the
    index into the layer's kernel along this axis that multiplies it: ``tap``
    for a forward conv, ``k - 1 - tap`` for a transposed one (flipped kernel).
    ``source`` is 'input', 'padding', or 'zero' (an inserted zero). For a
    forward conv with a non-zero ``padding_mode``, ``fill`` is the input index
    whose value a padding cell holds.
    """

    tap: int
    weight: int
    position: int
    source: str
    input_index: int | None = None
    fill: int | None = None


@dataclass(frozen=True)
class Window:
    """What output position ``output_index`` reads along one axis."""

    output_index: int
    taps: tuple[Tap, ...]

    @property
    def start(self) -> int:
        return self.taps[0].position

    @property
    def stop(self) -> int:
        """One past the last position read."""
        return self.taps[-1].position + 1

    @property
    def inputs(self) -> tuple[int, ...]:
        """Input indices read, in tap order."""
        return tuple(t.input_index for t in self.taps if t.source == "input")

    @property
    def padding_count(self) -> int:
        return sum(t.source == "padding" for t in self.taps)

    @property
    def zero_count(self) -> int:
        return sum(t.source == "zero" for t in self.taps)


@dataclass(frozen=True)
class DimensionExplanation:
    """One spatial axis of a conv layer, fully decided.

    Forward conv: the input is padded by ``(pad_before, pad_after)`` and the
    dilated kernel slides with the stride. Transposed conv: the equivalent
    forward conv inserts ``inserted_zeros`` = s - 1 zeros between inputs
    (``zero_inserted_length`` cells), pads that by ``(pad_before, pad_after)``
    (negative = crop) and slides the flipped kernel with stride 1.
    """

    axis: int
    axis_name: str
    transposed: bool
    input_length: int | None
    kernel_size: int
    dilation: int
    effective_kernel_size: int
    stride: int
    padding: PaddingArg  # 'valid' | 'same' | 'causal' | 'full' | (before, after)
    pad_before: int | None
    pad_after: int | None
    pad_reason: tuple[str, ...]
    output_length: int | None
    formulas: tuple[Formula, ...]
    windows: tuple[Window, ...]
    padding_mode: str = "zeros"
    # transposed only
    zero_inserted_length: int | None = None
    inserted_zeros: int | None = None
    output_padding: int | None = None  # the value used
    output_padding_note: tuple[str, ...] = ()
    lengths_by_output_padding: tuple[tuple[int | None, int], ...] = ()
    target_length: int | None = None
    target_note: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def pad_total(self) -> int | None:
        if self.pad_before is None:
            return None
        return self.pad_before + self.pad_after

    @property
    def padding_name(self) -> str:
        return self.padding if isinstance(self.padding, str) else "explicit"

    @property
    def canvas_length(self) -> int | None:
        """Length of what the windows slide over: the input (forward) or the
        zero-inserted input (transposed)."""
        return self.zero_inserted_length if self.transposed else self.input_length

    def formula(self, name: str) -> Formula | None:
        for f in self.formulas:
            if f.name == name:
                return f
        return None


@dataclass(frozen=True)
class Explanation:
    """A conv layer's geometry for one input shape: one
    :class:`DimensionExplanation` per spatial axis, plus the shapes.

    ``input_size``/``output_size`` are spatial; ``input_shape``/``output_shape``
    are full shapes (batch and channels) when those were given.
    """

    layer: str
    family: str
    rank: int
    input_size: tuple[int | None, ...]
    output_size: tuple[int | None, ...]
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: str | tuple[tuple[int, int], ...]
    dilation_rate: tuple[int, ...]
    dims: tuple[DimensionExplanation, ...]
    output_padding: tuple[int, ...] | None = None  # the argument, as given
    target_size: tuple[int, ...] | None = None  # the output_shape argument
    padding_mode: str = "zeros"
    data_format: str = "channels_last"
    groups: int = 1
    depth_multiplier: int = 1
    filters: int | None = None
    input_shape: tuple | None = None
    output_shape: tuple | None = None
    weight_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    notes: tuple[str, ...] = ()
    name: str | None = None

    @property
    def transposed(self) -> bool:
        return self.family == "transpose"

    @property
    def pads(self) -> tuple[tuple[int | None, int | None], ...]:
        """(pad_before, pad_after) per axis: on the input, or for a transposed
        conv on the zero-inserted input."""
        return tuple((d.pad_before, d.pad_after) for d in self.dims)

    @property
    def in_channels(self) -> int | None:
        if self.input_shape is None:
            return None
        return self.input_shape[-1] if self.data_format == "channels_last" else self.input_shape[1]

    @property
    def out_channels(self) -> int | None:
        if self.family == "depthwise":
            c = self.in_channels
            return None if c is None else c * self.depth_multiplier
        return self.filters

    def text(self, **options) -> str:
        """A table, the formulas, and an ASCII strip per axis."""
        from .text import render_explanation

        return render_explanation(self, **options)

    def svg(self, **options) -> str:
        """An SVG picture in the style of the conv-arithmetic figures."""
        from .svg import render_svg

        return render_svg(self, **options)

    def to(self, framework: str):
        """The equivalent call in 'torch', 'onnx' or 'jax' (a structured object
        whose ``code()`` prints it)."""
        from ..translate import translate

        return translate(self, framework)

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True)
class ModelStep:
    name: str
    layer: str
    input_shape: tuple | None
    output_shape: tuple | None
    explanation: Explanation | None = None


@dataclass(frozen=True)
class ModelExplanation:
    """The shape chain of a Sequential model, layer by layer."""

    name: str
    input_shape: tuple | None
    steps: tuple[ModelStep, ...] = field(default_factory=tuple)

    @property
    def output_shape(self):
        return self.steps[-1].output_shape if self.steps else self.input_shape

    def text(self, **options) -> str:
        from .text import render_model

        return render_model(self, **options)

    def __str__(self) -> str:
        return self.text()


# --------------------------------------------------------------------------
# per-axis explanation: forward
# --------------------------------------------------------------------------
def _fill_index(position, n, mode):
    """The input index whose value a padding cell holds, for non-zero modes."""
    if mode == "zeros" or n is None:
        return None
    if mode == "replicate":
        return 0 if position < 0 else n - 1
    if mode == "circular":
        return position % n
    if n == 1:  # reflect
        return 0
    period = 2 * (n - 1)
    q = position % period
    return q if q < n else period - q


def _forward_windows(n, k, s, d, pad_before, output_length, padding_mode):
    windows = []
    for j in range(output_length):
        taps = []
        for t in range(k):
            p = j * s + t * d - pad_before
            if 0 <= p < n:
                taps.append(Tap(t, t, p, "input", p))
            else:
                taps.append(Tap(t, t, p, "padding", None, _fill_index(p, n, padding_mode)))
        windows.append(Window(j, tuple(taps)))
    return tuple(windows)


def _forward_pad_formulas(n, k_eff, s, padding, pads, output_length):
    """Formulas and reasons for the pads of a forward conv."""
    if pads is None:  # 'same' on an unknown length
        return (
            ("padding='same' pads what makes the output ceil(n / s) long; n is unknown, so the pads are too.",),
            (),
        )
    before, after = pads
    if isinstance(padding, tuple):
        reason = (f"explicit pads: ({before}, {after}) as given.",)
        formulas = (Formula("pad_before", "given", None, before), Formula("pad_after", "given", None, after))
        return reason, formulas
    if padding == "valid":
        reason = ("padding='valid': no padding; windows only sit where they fit inside the input.",)
        formulas = (Formula("pad_before", "0", "0", 0), Formula("pad_after", "0", "0", 0))
        return reason, formulas
    if padding == "causal":
        reason = (
            f"padding='causal': pad k_eff - 1 = {before} before and nothing after, so output t reads "
            f"inputs up to t only (then a valid conv).",
        )
        formulas = (
            Formula("pad_before", "k_eff - 1", f"{k_eff} - 1", before),
            Formula("pad_after", "0", "0", after),
        )
        return reason, formulas
    if padding == "full":
        reason = (
            f"padding='full': pad k_eff - 1 = {before} on both sides, so every window that overlaps "
            f"the input by at least one pixel is kept.",
        )
        formulas = (
            Formula("pad_before", "k_eff - 1", f"{k_eff} - 1", before),
            Formula("pad_after", "k_eff - 1", f"{k_eff} - 1", after),
        )
        return reason, formulas
    # same
    total = before + after
    split = (
        "no padding needed"
        if total == 0
        else (
            "split evenly"
            if before == after
            else f"split {before} before and {after} after: the odd pixel goes after (bottom/right)"
        )
    )
    reason = (
        "padding='same' (TensorFlow's SAME rule, also JAX 'SAME' and ONNX SAME_UPPER): "
        "pad just enough for ceil(n / s) outputs;",
        f"total pad {total}, {split}.",
    )
    formulas = (
        Formula("output_length (same)", "ceil(n / s)", f"ceil({n} / {s})", output_length),
        Formula(
            "total",
            "max((output_length - 1)*s + k_eff - n, 0)",
            f"max(({output_length} - 1)*{s} + {k_eff} - {n}, 0)",
            total,
        ),
        Formula("pad_before", "total // 2", f"{total} // 2", before),
        Formula("pad_after", "total - pad_before", f"{total} - {before}", after),
    )
    return reason, formulas


def explain_forward_dim(
    axis: int,
    input_length: int | None,
    kernel_size: int,
    stride: int = 1,
    padding: PaddingArg = "valid",
    dilation: int = 1,
    padding_mode: str = "zeros",
    rank: int = 1,
) -> DimensionExplanation:
    """One axis of a forward (or depthwise / separable) conv."""
    n, k, s, d = input_length, kernel_size, stride, dilation
    k_eff = geometry.effective_kernel_size(k, d)
    pads = geometry.conv_padding(n, k, s, padding, d)
    output_length = geometry.conv_output_length(n, k, s, padding, d)
    reason, pad_formulas = _forward_pad_formulas(n, k_eff, s, padding, pads, output_length)
    formulas = [Formula("effective_kernel_size", "(k - 1)*d + 1", f"({k} - 1)*{d} + 1", k_eff), *pad_formulas]
    notes = []
    if pads is not None and n is not None:
        before, after = pads
        formulas.append(
            Formula(
                "output_length",
                "floor((n + pad_before + pad_after - k_eff) / s) + 1",
                f"floor(({n} + {before} + {after} - {k_eff}) / {s}) + 1",
                output_length,
            )
        )
        if padding_mode != "zeros" and (before or after):
            notes.append(f"padding_mode='{padding_mode}': the padding cells hold copies of input values, not zeros.")
    windows = ()
    if pads is not None and output_length is not None and output_length > 0:
        windows = _forward_windows(n, k, s, d, pads[0], output_length, padding_mode)
        unused = (n + pads[1]) - windows[-1].stop
        if unused > 0:
            notes.append(f"the last {unused} pixel(s) of the padded input are never read: the stride steps past them.")
    return DimensionExplanation(
        axis=axis,
        axis_name=AXIS_NAMES[rank][axis],
        transposed=False,
        input_length=n,
        kernel_size=k,
        dilation=d,
        effective_kernel_size=k_eff,
        stride=s,
        padding=padding,
        pad_before=None if pads is None else pads[0],
        pad_after=None if pads is None else pads[1],
        pad_reason=reason,
        output_length=output_length,
        formulas=tuple(formulas),
        windows=windows,
        padding_mode=padding_mode,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------
# per-axis explanation: transposed
# --------------------------------------------------------------------------
def _transpose_windows(n, k, s, d, pad_before, output_length):
    last = (n - 1) * s
    windows = []
    for j in range(output_length):
        taps = []
        for t in range(k):
            u = j + t * d - pad_before
            w = k - 1 - t
            if 0 <= u <= last and u % s == 0:
                taps.append(Tap(t, w, u, "input", u // s))
            elif 0 <= u <= last:
                taps.append(Tap(t, w, u, "zero"))
            else:
                taps.append(Tap(t, w, u, "padding"))
        windows.append(Window(j, tuple(taps)))
    return tuple(windows)


def _transpose_pad_formulas(k_eff, s, padding, output_padding, pads):
    before, after = pads
    op = output_padding
    if isinstance(padding, tuple) or padding == "full":
        crop = geometry.conv_padding(None, k_eff, 1, padding, 1) if padding == "full" else padding
        kind = "padding='full'" if padding == "full" else f"explicit padding {tuple(padding)}"
        reason = (
            f"{kind} (PyTorch's and ONNX's convention, an npconv extension): the padding of the "
            f"forward conv this transposes, i.e. crop {crop[0]} before and {crop[1]} after the full "
            f"output, then add output_padding after.",
        )
        opn = op or 0
        formulas = (
            Formula("pad_before", "k_eff - 1 - crop_before", f"{k_eff} - 1 - {crop[0]}", before),
            Formula(
                "pad_after",
                "k_eff - 1 - crop_after + output_padding",
                f"{k_eff} - 1 - {crop[1]} + {opn}",
                after,
            ),
        )
        return reason, formulas
    if padding == "valid":
        if op is None:
            reason = (
                "padding='valid': pad k_eff - 1 on both sides of the zero-inserted input, so every "
                "tap of every input reaches an output (the full transposed conv);",
                "with output_padding=None Keras also pads max(k_eff, s) - k_eff more after, so that "
                "each input owns s output pixels even when s > k_eff.",
            )
            formulas = (
                Formula("pad_before", "k_eff - 1", f"{k_eff} - 1", before),
                Formula(
                    "pad_after",
                    "k_eff - 1 + max(k_eff, s) - k_eff",
                    f"{k_eff} - 1 + max({k_eff}, {s}) - {k_eff}",
                    after,
                ),
            )
        else:
            reason = (
                "padding='valid': pad k_eff - 1 on both sides of the zero-inserted input (the full "
                f"transposed conv), plus output_padding={op} after.",
            )
            formulas = (
                Formula("pad_before", "k_eff - 1", f"{k_eff} - 1", before),
                Formula("pad_after", "k_eff - 1 + output_padding", f"{k_eff} - 1 + {op}", after),
            )
        return reason, formulas
    # same
    if op is None:
        pad_len = Formula("pad_len", "s + k_eff - 2", f"{s} + {k_eff} - 2", before + after)
    else:
        pad_len = Formula(
            "pad_len",
            "k_eff + k_eff % 2 - 2 + output_padding",
            f"{k_eff} + {k_eff} % 2 - 2 + {op}",
            before + after,
        )
    capped = before == k_eff - 1 and before != -(-(before + after) // 2)
    reason = (
        "padding='same' (Keras's rule, from its JAX backend): a total pad of pad_len on the "
        "zero-inserted input, the larger half before, but never more than k_eff - 1 before"
        + (" (the cap applies here)." if capped else "."),
    )
    formulas = (
        pad_len,
        Formula(
            "pad_before", "min(ceil(pad_len / 2), k_eff - 1)", f"min(ceil({before + after} / 2), {k_eff} - 1)", before
        ),
        Formula("pad_after", "pad_len - pad_before", f"{before + after} - {before}", after),
    )
    return reason, formulas


def _keras_length_formula(n, k_eff, s, padding, op, value):
    """Keras's closed form for the transposed length, where it has one."""
    if padding == "valid" and op is None:
        return Formula("output_length", "(n - 1)*s + max(k_eff, s)", f"({n} - 1)*{s} + max({k_eff}, {s})", value)
    if padding == "valid":
        return Formula("output_length", "(n - 1)*s + k_eff + output_padding", f"({n} - 1)*{s} + {k_eff} + {op}", value)
    if padding == "same" and op is None:
        return Formula("output_length", "n*s", f"{n}*{s}", value)
    if padding == "same":
        return Formula(
            "output_length", "(n - 1)*s + k_eff % 2 + output_padding", f"({n} - 1)*{s} + {k_eff} % 2 + {op}", value
        )
    return None


def _output_padding_note(n, k, s, padding, op, d, length):
    """What output_padding adds here, and None against 0."""
    if n is None:
        return ()
    length_none = geometry.conv_transpose_output_length(n, k, s, padding, None, d)
    length_zero = geometry.conv_transpose_output_length(n, k, s, padding, 0, d)
    keras_modes = padding in ("valid", "same")
    if op is None:
        if not keras_modes:
            return ("output_padding=None adds nothing (it counts as 0 for this padding).",)
        if length_none == length_zero:
            return (f"output_padding=None gives {length_none}; output_padding=0 would give the same.",)
        return (
            f"output_padding=None gives {length_none}, but output_padding=0 would give {length_zero}: "
            f"None is not 0 in Keras (tensorflow#50168).",
        )
    pads_zero = geometry.conv_transpose_padding(n, k, s, padding, 0, d)
    pads_op = geometry.conv_transpose_padding(n, k, s, padding, op, d)
    lines = []
    if op == 0:
        lines.append(f"output_padding=0 adds nothing: pads {pads_zero}, length {length_zero}.")
    else:
        where = []
        if pads_op[0] != pads_zero[0]:
            where.append(f"{pads_op[0] - pads_zero[0]} before")
        if pads_op[1] != pads_zero[1]:
            where.append(f"{pads_op[1] - pads_zero[1]} after")
        lines.append(
            f"output_padding={op} grows the output from {length_zero} (output_padding=0) to {length}: "
            f"the pads on the zero-inserted input go from {pads_zero} to {pads_op} "
            f"({' and '.join(where)})."
        )
    if keras_modes and length_none != length:
        lines.append(f"output_padding=None would give {length_none} instead.")
    elif keras_modes:
        lines.append(f"output_padding=None gives the same length, {length_none}.")
    return tuple(lines)


def explain_transpose_dim(
    axis: int,
    input_length: int | None,
    kernel_size: int,
    stride: int = 1,
    padding: PaddingArg = "valid",
    output_padding: int | None = None,
    dilation: int = 1,
    target_length: int | None = None,
    rank: int = 1,
) -> DimensionExplanation:
    """One axis of a transposed conv. ``output_padding`` is the value used
    (already resolved from ``target_length`` where one was asked for)."""
    n, k, s, d, op = input_length, kernel_size, stride, dilation, output_padding
    k_eff = geometry.effective_kernel_size(k, d)
    pads = geometry.conv_transpose_padding(n, k, s, padding, op, d)
    output_length = geometry.conv_transpose_output_length(n, k, s, padding, op, d)
    reason, pad_formulas = _transpose_pad_formulas(k_eff, s, padding, op, pads)
    zero_inserted = None if n is None else (n - 1) * s + 1
    formulas = [Formula("effective_kernel_size", "(k - 1)*d + 1", f"({k} - 1)*{d} + 1", k_eff)]
    notes = []
    lengths = ()
    if n is not None:
        formulas.append(Formula("zero_inserted_length", "(n - 1)*s + 1", f"({n} - 1)*{s} + 1", zero_inserted))
    formulas.extend(pad_formulas)
    if n is not None:
        formulas.append(
            Formula(
                "output_length",
                "zero_inserted_length + pad_before + pad_after - k_eff + 1",
                f"{zero_inserted} + {pads[0]} + {pads[1]} - {k_eff} + 1",
                output_length,
            )
        )
        keras = _keras_length_formula(n, k_eff, s, padding, op, output_length)
        if keras is not None:
            formulas.append(Formula("output_length (Keras's closed form)", keras.symbolic, keras.numbers, keras.value))
        lengths = tuple((o, geometry.conv_transpose_output_length(n, k, s, padding, o, d)) for o in (None, *range(s)))
        if padding == "valid" and s > k_eff:
            torch_length = geometry.conv_transpose_output_length(n, k, s, padding, 0, d)
            if op is None:
                notes.append(
                    f"s > k_eff: Keras's valid length (n - 1)*s + max(k_eff, s) = {output_length} differs "
                    f"from PyTorch's default (n - 1)*s + k_eff = {torch_length}; the last "
                    f"{output_length - torch_length} output pixel(s) read only padding."
                )
    if pads[0] < 0 or pads[1] < 0:
        notes.append("a negative pad crops the zero-inserted input instead of padding it.")
    windows = ()
    if output_length is not None and output_length > 0:
        windows = _transpose_windows(n, k, s, d, pads[0], output_length)
    target_note = ()
    if target_length is not None and n is not None:
        reach = ", ".join(f"{length} with output_padding={o}" for o, length in lengths)
        target_note = (
            f"output_shape asks for {target_length}: output_padding={op} reaches it. Reachable lengths here: {reach}.",
        )
    return DimensionExplanation(
        axis=axis,
        axis_name=AXIS_NAMES[rank][axis],
        transposed=True,
        input_length=n,
        kernel_size=k,
        dilation=d,
        effective_kernel_size=k_eff,
        stride=s,
        padding=padding,
        pad_before=pads[0],
        pad_after=pads[1],
        pad_reason=reason,
        output_length=output_length,
        formulas=tuple(formulas),
        windows=windows,
        zero_inserted_length=zero_inserted,
        inserted_zeros=s - 1,
        output_padding=op,
        output_padding_note=_output_padding_note(n, k, s, padding, op, d, output_length),
        lengths_by_output_padding=lengths,
        target_length=target_length,
        target_note=target_note,
        notes=tuple(notes),
    )


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


def _resolve_output_padding(kind, spatial, kernel_size, strides, padding, dilation, target):
    """Per axis output_padding that meets ``target`` (the output_shape argument),
    as the layer resolves it: None where possible, integers once any axis needs one."""
    chosen = [
        None if n is None else geometry.output_padding_for_target(n, k, s, _axis(padding, i), d, t)
        for i, (n, k, s, d, t) in enumerate(zip(spatial, kernel_size, strides, dilation, target))
    ]
    if all(op is None for op in chosen):
        return None
    if any(n is None for n in spatial):
        return tuple(chosen)  # known axes resolved one by one; the rest waits for a size
    resolved = []
    for i, (op, n, k, s, d) in enumerate(zip(chosen, spatial, kernel_size, strides, dilation)):
        if op is None:
            length = geometry.conv_transpose_output_length(n, k, s, _axis(padding, i), None, d)
            matches = [
                o for o in range(s) if geometry.conv_transpose_output_length(n, k, s, _axis(padding, i), o, d) == length
            ]
            if not matches:
                raise ValueError(
                    f"Invalid value for argument `output_shape`. Dimension {i} needs output_padding=None "
                    f"(length {length}) while another dimension needs an integer output_padding, and no "
                    f"integer gives {length} here. Received: output_shape={list(target)}. Choose "
                    f"output_shape values that all use the default, or all an integer."
                )
            op = matches[0]
        resolved.append(op)
    return tuple(resolved)


def _axis(padding, i):
    return padding if isinstance(padding, str) else padding[i]


def _check_positive(kind, spatial, output_size, kernel_size, padding, dilation):
    if all(o is None or o > 0 for o in output_size):
        return
    if kind.transposed:
        fix = (
            "A transposed conv's output must have at least one pixel: use a larger input, a larger "
            "output_padding, or less cropping padding."
        )
    else:
        fix = (
            "The effective kernel ((kernel_size - 1) * dilation_rate + 1) must fit in the padded input: "
            "use a larger input, a smaller kernel or dilation_rate, or padding='same'."
        )
    raise ValueError(
        f"{kind.name}: the computed output size would be zero or negative: output_size="
        f"{list(output_size)} for input_size={list(spatial)}, kernel_size={list(kernel_size)}, "
        f"dilation_rate={list(dilation)}, padding={padding!r}. {fix}"
    )


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
    input_shape,
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

    ``layer`` is a layer name ('conv2d', 'Conv2DTranspose', 'depthwiseconv1d',
    ...) or an npconv layer object (then the other arguments come from it).
    ``input_shape`` is an int, the spatial size ``(h, w)``, a shape without
    the batch ``(h, w, channels)``, or a full shape ``(batch, h, w, channels)``
    (channels first with ``data_format='channels_first'``); None marks an
    unknown size. Arguments use Keras's names and accept what the layers
    accept; ``output_shape`` (transposed only) names a target spatial size.
    """
    if not isinstance(layer, (str, LayerKind)):
        return explain_layer(layer, input_shape)
    kind = layer_kind(layer)
    if kernel_size is None:
        raise invalid("kernel_size", f"an integer or a tuple of {kind.rank} positive integers", None)
    rank = kind.rank
    kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
    strides = standardize_tuple(strides, rank, "strides")
    dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
    padding = standardize_padding(padding, rank, allow_causal=kind.allow_causal)
    data_format = standardize_data_format(data_format)
    if kind.transposed:
        from ..ops import standardize_output_padding

        output_padding = standardize_output_padding(output_padding, rank, strides, dilation_rate)
        output_shape = standardize_tuple(output_shape, rank, "output_shape", allow_none=True)
        if output_shape is not None and output_padding is not None:
            raise invalid(
                "output_shape",
                "None when output_padding is given (output_shape chooses output_padding for you)",
                output_shape,
                f"Pass only one of output_shape and output_padding={list(output_padding)}",
            )
    else:
        for name, value in (("output_padding", output_padding), ("output_shape", output_shape)):
            if value is not None:
                raise invalid(name, f"None for {kind.name} (only transposed convs take it)", value)
    if kind.family == "conv":
        from ..arguments import standardize_int

        groups = standardize_int(groups, "groups")
    if kind.family in ("depthwise", "separable"):
        from ..arguments import standardize_int

        depth_multiplier = standardize_int(depth_multiplier, "depth_multiplier")
    if filters is not None:
        from ..arguments import standardize_int

        filters = standardize_int(filters, "filters")
    if kind.family == "conv" and filters is not None and filters % groups:
        raise invalid(
            "groups",
            f"a divisor of filters={filters}",
            groups,
            "Both filters and the input channels must be divisible by groups.",
        )
    if kind.family != "transpose":
        from ..arguments import standardize_padding_mode

        padding_mode = standardize_padding_mode(padding_mode)
    elif padding_mode != "zeros":
        raise invalid("padding_mode", f"'zeros' for {kind.name}", padding_mode)
    spatial, batch_shape = _spatial_from_shape(input_shape, rank, data_format, kind.name)
    return _build(
        kind,
        spatial,
        batch_shape,
        kernel_size,
        strides,
        padding,
        dilation_rate,
        output_padding,
        output_shape,
        filters=filters,
        groups=groups,
        depth_multiplier=depth_multiplier,
        data_format=data_format,
        padding_mode=padding_mode,
    )


def _build(
    kind,
    spatial,
    batch_shape,
    kernel_size,
    strides,
    padding,
    dilation_rate,
    output_padding,
    target,
    *,
    filters,
    groups,
    depth_multiplier,
    data_format,
    padding_mode,
    name=None,
    used_output_padding=None,
):
    """``output_padding`` is the argument as given; ``used_output_padding``
    the values the layer runs with (resolved from ``target`` when None)."""
    rank = kind.rank
    if kind.transposed:
        used = output_padding if used_output_padding is None else used_output_padding
        if target is not None and used_output_padding is None:
            used = _resolve_output_padding(kind, spatial, kernel_size, strides, padding, dilation_rate, target)
        ops = used or (None,) * rank
        targets = target or (None,) * rank
        dims = tuple(
            explain_transpose_dim(i, n, k, s, _axis(padding, i), op, d, t, rank)
            for i, (n, k, s, op, d, t) in enumerate(zip(spatial, kernel_size, strides, ops, dilation_rate, targets))
        )
    else:
        dims = tuple(
            explain_forward_dim(i, n, k, s, _axis(padding, i), d, padding_mode, rank)
            for i, (n, k, s, d) in enumerate(zip(spatial, kernel_size, strides, dilation_rate))
        )
    output_size = tuple(dim.output_length for dim in dims)
    _check_positive(kind, spatial, output_size, kernel_size, padding, dilation_rate)
    if not kind.transposed:
        known = [(n, (dim.pad_before, dim.pad_after)) for n, dim in zip(spatial, dims) if n is not None]
        check_padding_mode([n for n, _ in known], [pads for _, pads in known], padding_mode)
    if kind.transposed and target is not None:
        output_size = tuple(target)  # as the layer reports it, known sizes or not
    channels = None
    if batch_shape is not None:
        channels = batch_shape[-1] if data_format == "channels_last" else batch_shape[1]
    if kind.family == "conv" and channels is not None and channels % groups:
        raise invalid(
            "groups",
            f"a divisor of the input channels ({channels})",
            groups,
            "Both filters and the input channels must be divisible by groups.",
        )
    weights = _weight_shapes(kind, kernel_size, channels, filters, groups, depth_multiplier)
    out_channels = channels * depth_multiplier if kind.family == "depthwise" and channels else filters
    return Explanation(
        layer=kind.name,
        family=kind.family,
        rank=rank,
        input_size=tuple(spatial),
        output_size=output_size,
        kernel_size=kernel_size,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        dims=dims,
        output_padding=output_padding,
        target_size=target,
        padding_mode=padding_mode,
        data_format=data_format,
        groups=groups,
        depth_multiplier=depth_multiplier,
        filters=filters,
        input_shape=batch_shape,
        output_shape=_full_shape(batch_shape, output_size, out_channels, data_format),
        weight_shapes=weights,
        notes=_layer_notes(kind, strides, dilation_rate, padding, padding_mode, dims, output_padding),
        name=name,
    )


def _weight_shapes(kind, kernel_size, channels, filters, groups, depth_multiplier):
    """Keras's weight layouts, where the channel counts are known."""
    if channels is None:
        return ()
    if kind.family == "conv" and filters is not None:
        return (("kernel", (*kernel_size, channels // groups, filters)), ("bias", (filters,)))
    if kind.family == "transpose" and filters is not None:
        return (("kernel", (*kernel_size, filters, channels)), ("bias", (filters,)))
    if kind.family == "depthwise":
        return (
            ("depthwise_kernel", (*kernel_size, channels, depth_multiplier)),
            ("bias", (channels * depth_multiplier,)),
        )
    if kind.family == "separable" and filters is not None:
        middle = channels * depth_multiplier
        return (
            ("depthwise_kernel", (*kernel_size, channels, depth_multiplier)),
            ("pointwise_kernel", ((1,) * kind.rank + (middle, filters))),
            ("bias", (filters,)),
        )
    return ()


def explain_layer(layer, input_shape=None) -> Explanation:
    """Explain an npconv conv layer object (built or not) for ``input_shape``.

    Without ``input_shape``, the layer's ``input_shape=`` argument is used.
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
                "Pass layer.explain((batch, *spatial, channels)) or the spatial size",
            )
    spatial, batch_shape = _spatial_from_shape(input_shape, kind.rank, layer.data_format, kind.name)
    output_padding = getattr(layer, "output_padding", None)
    target = getattr(layer, "output_shape", None) if kind.transposed else None
    used = output_padding
    if kind.transposed and target is not None:
        used = layer.resolve_output_padding(spatial)
    return _build(
        kind,
        spatial,
        batch_shape,
        layer.kernel_size,
        layer.strides,
        layer.padding,
        layer.dilation_rate,
        output_padding,
        target,
        filters=getattr(layer, "filters", None),
        groups=getattr(layer, "groups", 1),
        depth_multiplier=getattr(layer, "depth_multiplier", 1),
        data_format=layer.data_format,
        padding_mode=getattr(layer, "padding_mode", "zeros"),
        name=layer.name,
        used_output_padding=used,
    )


def explain_model(model) -> ModelExplanation:
    """The shape chain of a Sequential model, with each conv layer explained."""
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
