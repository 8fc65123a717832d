"""Convolution geometry: pure integer functions, no arrays.

Every output length and every per-side pad in npconv is decided here; layers,
ops, the explainer and the CLI ask these functions and never recompute them.
:func:`conv_padding_rule` and :func:`conv_transpose_padding_rule` give each pad
with the reason and the formulas that ``npconv explain`` and ``--to`` print, and
:data:`PADDING_MODES` is the one table of padding modes: what a padding cell
holds, how far a mode may pad, and its names in NumPy, PyTorch, ONNX and JAX.

Notation (per spatial dimension): ``input_length`` n, ``kernel_size`` k,
``stride`` s, ``dilation`` d, ``effective_kernel_size`` k_eff = (k - 1)*d + 1,
``output_padding`` op.

Padding reaches these functions in one of two forms, already validated:

- a mode string: ``"valid"``, ``"same"``, ``"causal"`` or ``"full"``;
- an explicit ``(pad_before, pad_after)`` pair of non-negative ints.

A forward conv pads its input by ``(pad_before, pad_after)`` and then slides the
dilated kernel with the stride. A transposed conv is described by the forward
conv it is equivalent to: insert s - 1 zeros between input pixels, pad that
zero-inserted input by ``(pad_before, pad_after)`` (a negative pad crops), then
run a stride-1 conv with the kernel flipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Padding = str | tuple[int, int]
Pads = tuple[int, int]

__all__ = [
    "PADDING_MODES",
    "Formula",
    "PaddingMode",
    "PadRule",
    "effective_kernel_size",
    "conv_padding",
    "conv_padding_rule",
    "conv_output_length",
    "conv_transpose_padding",
    "conv_transpose_padding_rule",
    "conv_transpose_output_length",
    "output_padding_for_target",
    "padding_source",
    "transpose_target_range",
]


@dataclass(frozen=True)
class Formula:
    """One quantity written out: ``name = symbolic = numbers = value``.

    Args:
        name: what is computed, e.g. ``"pad_before"``.
        symbolic: the rule in the notation above, e.g. ``"total // 2"``.
        numbers: ``symbolic`` with this case's numbers substituted, using only
            integers, ``+ - * / // %`` and floor, ceil, max, min; None when
            there is nothing to substitute (an explicit pad as given).
        value: what the geometry decided (not an evaluation of ``numbers``;
            the tests check that the two agree).
    """

    name: str
    symbolic: str
    numbers: str | None
    value: int | None


@dataclass(frozen=True)
class PadRule:
    """The ``(pad_before, pad_after)`` of one axis, with why and how.

    Args:
        pads: ``(pad_before, pad_after)``, or None where it depends on an
            unknown input length ('same' with strides > 1).
        reason: sentences saying why these pads, for people.
        formulas: the pads (and the totals they come from) as :class:`Formula`.
    """

    pads: Pads | None
    reason: tuple[str, ...]
    formulas: tuple[Formula, ...]


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """The span of a dilated kernel: (k - 1)*d + 1.

    Args:
        kernel_size: k, the number of taps.
        dilation: d, the gap between taps.

    Example:
        >>> effective_kernel_size(3, 2)
        5
    """
    return (kernel_size - 1) * dilation + 1


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --------------------------------------------------------------------------
# forward convolution
# --------------------------------------------------------------------------
def conv_padding(
    input_length: int | None,
    kernel_size: int,
    stride: int = 1,
    padding: Padding = "valid",
    dilation: int = 1,
) -> Pads | None:
    """The ``(pad_before, pad_after)`` a forward conv applies to its input.

    ``"same"`` follows TensorFlow's SAME rule (also JAX ``SAME`` and ONNX
    ``SAME_UPPER``): the total pad is what makes the output ceil(n / s) long,
    and the odd pixel goes after.

    Args:
        input_length: n, the input's length along this axis (None if unknown).
        kernel_size: k, the kernel's length.
        stride: s.
        padding: a mode string or a ``(pad_before, pad_after)`` pair (see the module docstring).
        dilation: d, the gap between kernel taps.

    Returns:
        ``(pad_before, pad_after)``, or None when it depends on an unknown ``input_length``.
    """
    k_eff = effective_kernel_size(kernel_size, dilation)
    if not isinstance(padding, str):
        return (int(padding[0]), int(padding[1]))
    if padding == "valid":
        return (0, 0)
    if padding == "causal":
        return (k_eff - 1, 0)
    if padding == "full":
        return (k_eff - 1, k_eff - 1)
    if padding == "same":
        if input_length is None:
            return None
        output_length = _ceil_div(input_length, stride)
        total = max((output_length - 1) * stride + k_eff - input_length, 0)
        return (total // 2, total - total // 2)
    raise ValueError(f"Unknown padding mode: padding={padding!r}")


def conv_output_length(
    input_length: int | None,
    kernel_size: int,
    stride: int = 1,
    padding: Padding = "valid",
    dilation: int = 1,
) -> int | None:
    """Output length of a forward conv: floor((n + pads - k_eff) / s) + 1.

    May be zero or negative when the (padded) input is shorter than the
    effective kernel; callers decide whether that is an error.

    Args:
        input_length: n, the input's length along this axis (None if unknown).
        kernel_size: k, the kernel's length.
        stride: s.
        padding: a mode string or a ``(pad_before, pad_after)`` pair (see the module docstring).
        dilation: d, the gap between kernel taps.

    Returns:
        The output length, or None for an unknown input length.
    """
    if input_length is None:
        return None
    if padding == "same":
        return _ceil_div(input_length, stride)
    pad_before, pad_after = conv_padding(input_length, kernel_size, stride, padding, dilation)
    k_eff = effective_kernel_size(kernel_size, dilation)
    span = input_length + pad_before + pad_after - k_eff
    return span // stride + 1


# --------------------------------------------------------------------------
# transposed convolution
# --------------------------------------------------------------------------
def conv_transpose_padding(
    input_length: int | None,
    kernel_size: int,
    stride: int = 1,
    padding: Padding = "valid",
    output_padding: int | None = None,
    dilation: int = 1,
) -> Pads:
    """Pads on the zero-inserted input of the equivalent forward conv.

    ``"valid"`` and ``"same"`` are Keras 3's rules, including its distinction
    between ``output_padding=None`` and ``output_padding=0``. An explicit pair
    or ``"full"`` means the padding of the forward conv this one transposes
    (PyTorch's and ONNX's convention): that many pixels are removed from each
    end of the full output, then ``output_padding`` is added after.

    Args:
        input_length: n, the input's length along this axis (None if unknown).
        kernel_size: k, the kernel's length.
        stride: s.
        padding: a mode string or a ``(pad_before, pad_after)`` pair (see the module docstring).
        output_padding: Keras's ``output_padding`` for this axis, or None.
        dilation: d, the gap between kernel taps.

    Returns:
        ``(pad_before, pad_after)``; a negative pad crops.
    """
    k_eff = effective_kernel_size(kernel_size, dilation)
    if padding == "valid":
        extra = output_padding if output_padding is not None else max(k_eff, stride) - k_eff
        return (k_eff - 1, k_eff - 1 + extra)
    if padding == "same":
        if output_padding is None:
            pad_len = stride + k_eff - 2
        else:
            pad_len = k_eff + k_eff % 2 - 2 + output_padding
        pad_before = min(_ceil_div(pad_len, 2), k_eff - 1)
        return (pad_before, pad_len - pad_before)
    crop_before, crop_after = conv_padding(input_length, kernel_size, stride, padding, dilation)
    op = output_padding or 0
    return (k_eff - 1 - crop_before, k_eff - 1 - crop_after + op)


def conv_transpose_output_length(
    input_length: int | None,
    kernel_size: int,
    stride: int = 1,
    padding: Padding = "valid",
    output_padding: int | None = None,
    dilation: int = 1,
) -> int | None:
    """Output length of a transposed conv.

    Keras's rules: valid gives (n-1)*s + max(k_eff, s) with no output_padding
    and (n-1)*s + k_eff + op with one; same gives n*s with no output_padding and
    (n-1)*s + k_eff % 2 + op with one.

    Args:
        input_length: n, the input's length along this axis (None if unknown).
        kernel_size: k, the kernel's length.
        stride: s.
        padding: a mode string or a ``(pad_before, pad_after)`` pair (see the module docstring).
        output_padding: Keras's ``output_padding`` for this axis, or None.
        dilation: d, the gap between kernel taps.

    Returns:
        The output length, or None for an unknown input length.
    """
    if input_length is None:
        return None
    pad_before, pad_after = conv_transpose_padding(input_length, kernel_size, stride, padding, output_padding, dilation)
    k_eff = effective_kernel_size(kernel_size, dilation)
    dilated_length = (input_length - 1) * stride + 1
    return dilated_length + pad_before + pad_after - k_eff + 1


def transpose_target_range(
    input_length: int,
    kernel_size: int,
    stride: int = 1,
    padding: Padding = "valid",
    dilation: int = 1,
) -> list:
    """Every output length a transposed conv can reach, as (length, output_padding).

    output_padding runs over None and 0 .. stride - 1 (Keras's bound). Lengths
    reached more than once keep the first: None before any integer.

    Args:
        input_length: n.
        kernel_size: k, the kernel's length.
        stride: s.
        padding: a mode string or a ``(pad_before, pad_after)`` pair (see the module docstring).
        dilation: d, the gap between kernel taps.

    Returns:
        A sorted list of ``(output_length, output_padding)``.
    """
    reachable = {}
    for op in [None, *range(stride)]:
        length = conv_transpose_output_length(input_length, kernel_size, stride, padding, op, dilation)
        reachable.setdefault(length, op)
    return sorted(reachable.items())


def output_padding_for_target(
    input_length: int,
    kernel_size: int,
    stride: int,
    padding: Padding,
    dilation: int,
    target_length: int,
) -> int | None:
    """The output_padding (None preferred) that makes a transposed conv produce ``target_length``.

    A decoder often needs to undo a strided conv exactly: with k=3, s=2 and
    'same', input 12 maps to 23 (output_padding=0) or to 24 (output_padding=None).

    Args:
        input_length: n.
        kernel_size: k, the kernel's length.
        stride: s.
        padding: a mode string or a ``(pad_before, pad_after)`` pair (see the module docstring).
        dilation: d, the gap between kernel taps.
        target_length: the output length wanted.

    Returns:
        The output_padding, None included. Raises ValueError when none reaches the target.
    """
    reachable = transpose_target_range(input_length, kernel_size, stride, padding, dilation)
    for length, op in reachable:
        if length == target_length:
            return op
    lengths = [length for length, _ in reachable]
    raise ValueError(
        f"Invalid value for argument `output_shape`. A transposed conv with "
        f"input_length={input_length}, kernel_size={kernel_size}, strides={stride}, "
        f"padding={padding!r}, dilation_rate={dilation} can only produce lengths "
        f"{lengths} (output_padding 0..{stride - 1} or None). "
        f"Received: target length {target_length}. Change the strides, "
        f"kernel_size or padding, or crop/pad the result."
    )


# --------------------------------------------------------------------------
# pads with their reasons: what explain and translate print
# --------------------------------------------------------------------------
def conv_padding_rule(
    input_length: int | None,
    kernel_size: int,
    stride: int = 1,
    padding: Padding = "valid",
    dilation: int = 1,
) -> PadRule:
    """:func:`conv_padding`'s pads, with the reason and the formulas behind them.

    Args:
        input_length: n, the input's length along this axis (None if unknown).
        kernel_size: k, the kernel's length.
        stride: s.
        padding: a mode string or a ``(pad_before, pad_after)`` pair (see the module docstring).
        dilation: d, the gap between kernel taps.

    Example:
        >>> conv_padding_rule(5, 3, 2, "same").pads
        (1, 1)
    """
    n, s = input_length, stride
    k_eff = effective_kernel_size(kernel_size, dilation)
    pads = conv_padding(n, kernel_size, s, padding, dilation)
    if pads is None:
        return PadRule(
            None,
            ("padding='same' pads what makes the output ceil(n / s) long; n is unknown, so the pads are too.",),
            (),
        )
    before, after = pads
    if not isinstance(padding, str):
        reason = (f"explicit pads: ({before}, {after}) as given.",)
        return PadRule(
            pads, reason, (Formula("pad_before", "given", None, before), Formula("pad_after", "given", None, after))
        )
    if padding == "valid":
        reason = ("padding='valid': no padding; windows only sit where they fit inside the input.",)
        return PadRule(pads, reason, (Formula("pad_before", "0", "0", 0), Formula("pad_after", "0", "0", 0)))
    if padding in ("causal", "full"):
        if padding == "causal":
            reason = (
                f"padding='causal': pad k_eff - 1 = {before} before and nothing after, so output t reads "
                f"inputs up to t only (then a valid conv).",
            )
            pad_after = Formula("pad_after", "0", "0", after)
        else:
            reason = (
                f"padding='full': pad k_eff - 1 = {before} on both sides, so every window that overlaps "
                f"the input by at least one pixel is kept.",
            )
            pad_after = Formula("pad_after", "k_eff - 1", f"{k_eff} - 1", after)
        return PadRule(pads, reason, (Formula("pad_before", "k_eff - 1", f"{k_eff} - 1", before), pad_after))
    total = before + after
    if total == 0:
        split = "no padding needed"
    elif before == after:
        split = "split evenly"
    else:
        split = f"split {before} before and {after} after: the odd pixel goes after (bottom/right)"
    reason = (
        "padding='same' (TensorFlow's SAME rule, also JAX 'SAME' and ONNX SAME_UPPER): "
        "pad just enough for ceil(n / s) outputs;",
        f"total pad {total}, {split}.",
    )
    output_length = _ceil_div(n, s)
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
    return PadRule(pads, reason, formulas)


def conv_transpose_padding_rule(
    input_length: int | None,
    kernel_size: int,
    stride: int = 1,
    padding: Padding = "valid",
    output_padding: int | None = None,
    dilation: int = 1,
) -> PadRule:
    """:func:`conv_transpose_padding`'s pads on the zero-inserted input, with
    the reason and the formulas behind them.

    Args:
        input_length: n, the input's length along this axis (None if unknown).
        kernel_size: k, the kernel's length.
        stride: s.
        padding: a mode string or a ``(pad_before, pad_after)`` pair (see the module docstring).
        output_padding: Keras's ``output_padding`` for this axis, or None.
        dilation: d, the gap between kernel taps.

    Example:
        >>> conv_transpose_padding_rule(5, 3, 2, "same").pads
        (2, 1)
    """
    s, op = stride, output_padding
    k_eff = effective_kernel_size(kernel_size, dilation)
    pads = conv_transpose_padding(input_length, kernel_size, s, padding, op, dilation)
    before, after = pads
    if not isinstance(padding, str) or padding == "full":
        crop = conv_padding(None, k_eff, 1, padding, 1)
        given = "padding='full'" if padding == "full" else f"explicit padding {tuple(padding)}"
        reason = (
            f"{given} (PyTorch's and ONNX's convention, an npconv extension): the padding of the "
            f"forward conv this transposes, i.e. crop {crop[0]} before and {crop[1]} after the full "
            f"output, then add output_padding after.",
        )
        formulas = (
            Formula("pad_before", "k_eff - 1 - crop_before", f"{k_eff} - 1 - {crop[0]}", before),
            Formula(
                "pad_after", "k_eff - 1 - crop_after + output_padding", f"{k_eff} - 1 - {crop[1]} + {op or 0}", after
            ),
        )
        return PadRule(pads, reason, formulas)
    if padding == "valid":
        reason = (
            "padding='valid': pad k_eff - 1 on both sides of the zero-inserted input, so every "
            "tap of every input reaches an output (the full transposed conv)"
        )
        if op is None:
            reason = (
                reason + ";",
                "with output_padding=None Keras also pads max(k_eff, s) - k_eff more after, so that "
                "each input owns s output pixels even when s > k_eff.",
            )
            pad_after = Formula(
                "pad_after", "k_eff - 1 + max(k_eff, s) - k_eff", f"{k_eff} - 1 + max({k_eff}, {s}) - {k_eff}", after
            )
        else:
            reason = (reason + f", plus output_padding={op} after.",)
            pad_after = Formula("pad_after", "k_eff - 1 + output_padding", f"{k_eff} - 1 + {op}", after)
        return PadRule(pads, reason, (Formula("pad_before", "k_eff - 1", f"{k_eff} - 1", before), pad_after))
    total = before + after
    if op is None:
        pad_len = Formula("pad_len", "s + k_eff - 2", f"{s} + {k_eff} - 2", total)
    else:
        pad_len = Formula(
            "pad_len", "k_eff + k_eff % 2 - 2 + output_padding", f"{k_eff} + {k_eff} % 2 - 2 + {op}", total
        )
    capped = before == k_eff - 1 and before != _ceil_div(total, 2)
    reason = (
        "padding='same' (Keras's rule, from its JAX backend): a total pad of pad_len on the "
        "zero-inserted input, the larger half before, but never more than k_eff - 1 before"
        + (" (the cap applies here)." if capped else "."),
    )
    formulas = (
        pad_len,
        Formula("pad_before", "min(ceil(pad_len / 2), k_eff - 1)", f"min(ceil({total} / 2), {k_eff} - 1)", before),
        Formula("pad_after", "pad_len - pad_before", f"{total} - {before}", after),
    )
    return PadRule(pads, reason, formulas)


# --------------------------------------------------------------------------
# padding modes: what a padding cell holds, and the other libraries' names
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class PaddingMode:
    """One value of ``padding_mode`` (forward convs): which input pixel a
    padding cell copies, how far it may pad, and what other libraries call it.

    Args:
        name: npconv's name (PyTorch's ``padding_mode``), e.g. ``"reflect"``.
        source: ``source(position, n)`` is the input index whose value the
            padding cell at ``position`` holds (``position < 0`` is before the
            input, ``position >= n`` after it); None for a constant zero.
        max_pad: ``max_pad(n)`` is the most a side of an axis of length n may
            be padded; None for no limit.
        numpy: the mode of ``np.pad`` (and of ``jax.numpy.pad``).
        torch: the mode of ``torch.nn.functional.pad``.
        torch_module: the ``torch.nn`` padding module, without ``1d``/``2d``/``3d``.
        onnx: the mode of ONNX's ``Pad`` operator.
    """

    name: str
    source: Callable[[int, int], int] | None
    max_pad: Callable[[int], int] | None
    numpy: str
    torch: str
    torch_module: str
    onnx: str


def _reflect_source(position: int, n: int) -> int:
    """Mirror at the edge pixels, which are not repeated: ... 2 1 | 0 1 2 ... n-1 | n-2 ..."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    q = position % period
    return q if q < n else period - q


PADDING_MODES: dict[str, PaddingMode] = {
    mode.name: mode
    for mode in (
        PaddingMode("zeros", None, None, "constant", "constant", "ZeroPad", "constant"),
        PaddingMode("reflect", _reflect_source, lambda n: n - 1, "reflect", "reflect", "ReflectionPad", "reflect"),
        PaddingMode(
            "replicate", lambda p, n: min(max(p, 0), n - 1), None, "edge", "replicate", "ReplicationPad", "edge"
        ),
        PaddingMode("circular", lambda p, n: p % n, lambda n: n, "wrap", "circular", "CircularPad", "wrap"),
    )
}


def padding_source(position: int, input_length: int, padding_mode: str = "zeros") -> int | None:
    """The input index whose value sits at ``position`` of the padded input
    (``position`` counts from the first real pixel), or None for a zero.

    Args:
        position: a place on the padded axis; negative before the input,
            ``input_length`` or more after it.
        input_length: n.
        padding_mode: a name in :data:`PADDING_MODES`.

    Example:
        >>> padding_source(-2, 5, "reflect"), padding_source(6, 5, "circular")
        (2, 1)
    """
    if 0 <= position < input_length:
        return position
    source = PADDING_MODES[padding_mode].source
    return None if source is None else source(position, input_length)
