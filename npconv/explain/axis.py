"""One spatial axis of a conv, explained: the pads with their reasons and
formulas (from :mod:`npconv.geometry`), the output length, notes, and the
windows. Coordinates are described in :mod:`npconv.explain.data`."""

from __future__ import annotations

import dataclasses

from .. import geometry
from ..geometry import Formula
from .result import _NO_WINDOWS, DimensionExplanation, PaddingArg, Windows

AXIS_NAMES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}

# What explain says about each padding mode's cells (the rule itself is geometry.PADDING_MODES).
PADDING_MODE_WORDING = {
    "reflect": "the padding cells mirror the input about its edge pixels (which are not repeated)",
    "replicate": "the padding cells repeat the edge pixel",
    "circular": "the padding cells wrap around: the input repeats periodically",
}
_COPIES = "the padding cells hold copies of input values"


# --------------------------------------------------------------------------
# one axis
# --------------------------------------------------------------------------
def _effective_kernel_formula(k, d, k_eff):
    return Formula("effective_kernel_size", "(k - 1)*d + 1", f"({k} - 1)*{d} + 1", k_eff)


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
    """One axis of a forward (or depthwise / separable) conv.

    Args:
        axis: the spatial axis, from 0.
        input_length: n, or None when unknown.
        kernel_size: k.
        stride: s.
        padding: a mode string or a ``(before, after)`` pair.
        dilation: d.
        padding_mode: what the padding cells hold.
        rank: the layer's number of spatial axes (names the axis).
    """
    n, k, s, d = input_length, kernel_size, stride, dilation
    k_eff = geometry.effective_kernel_size(k, d)
    rule = geometry.conv_padding_rule(n, k, s, padding, d)
    output_length = geometry.conv_output_length(n, k, s, padding, d)
    formulas = [_effective_kernel_formula(k, d, k_eff), *rule.formulas]
    notes, windows = [], _NO_WINDOWS
    if rule.pads is not None and n is not None:
        before, after = rule.pads
        formulas.append(
            Formula(
                "output_length",
                "floor((n + pad_before + pad_after - k_eff) / s) + 1",
                f"floor(({n} + {before} + {after} - {k_eff}) / {s}) + 1",
                output_length,
            )
        )
        if padding_mode != "zeros" and (before or after):
            notes.append(
                f"padding_mode='{padding_mode}': {PADDING_MODE_WORDING.get(padding_mode, _COPIES)}, not zeros."
            )
        if output_length > 0:
            windows = Windows(False, n, k, s, d, before, output_length, padding_mode)
            unused = n + after - ((output_length - 1) * s - before + k_eff)
            if unused > 0:
                notes.append(
                    f"the last {unused} pixel(s) of the padded input are never read: the stride steps past them."
                )
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
        pad_before=None if rule.pads is None else rule.pads[0],
        pad_after=None if rule.pads is None else rule.pads[1],
        pad_reason=rule.reason,
        output_length=output_length,
        formulas=tuple(formulas),
        windows=windows,
        padding_mode=padding_mode,
        notes=tuple(notes),
    )


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
    """One axis of a transposed conv.

    Args:
        axis: the spatial axis, from 0.
        input_length: n, or None when unknown.
        kernel_size: k.
        stride: s.
        padding: a mode string or a ``(before, after)`` pair.
        output_padding: the value used (already resolved from
            ``target_length`` where one was asked for).
        dilation: d.
        target_length: the ``output_shape`` asked for on this axis, if any.
        rank: the layer's number of spatial axes (names the axis).
    """
    n, k, s, d, op = input_length, kernel_size, stride, dilation, output_padding
    k_eff = geometry.effective_kernel_size(k, d)
    rule = geometry.conv_transpose_padding_rule(n, k, s, padding, op, d)
    pads = rule.pads
    output_length = geometry.conv_transpose_output_length(n, k, s, padding, op, d)
    zero_inserted = None if n is None else (n - 1) * s + 1
    formulas = [_effective_kernel_formula(k, d, k_eff)]
    notes, lengths, windows = [], (), _NO_WINDOWS
    if n is not None:
        formulas.append(Formula("zero_inserted_length", "(n - 1)*s + 1", f"({n} - 1)*{s} + 1", zero_inserted))
    formulas.extend(rule.formulas)
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
            formulas.append(dataclasses.replace(keras, name="output_length (Keras's closed form)"))
        lengths = tuple((o, geometry.conv_transpose_output_length(n, k, s, padding, o, d)) for o in (None, *range(s)))
        if padding == "valid" and s > k_eff and op is None:
            torch_length = geometry.conv_transpose_output_length(n, k, s, padding, 0, d)
            notes.append(
                f"s > k_eff: Keras's valid length (n - 1)*s + max(k_eff, s) = {output_length} differs "
                f"from PyTorch's default (n - 1)*s + k_eff = {torch_length}; the last "
                f"{output_length - torch_length} output pixel(s) read only padding."
            )
        if output_length > 0:
            windows = Windows(True, n, k, s, d, pads[0], output_length, "zeros")
    if pads[0] < 0 or pads[1] < 0:
        notes.append("a negative pad crops the zero-inserted input instead of padding it.")
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
        pad_reason=rule.reason,
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
