"""Convolution geometry: pure integer functions, no arrays.

Every output length and every per-side pad in npconv is decided here; layers,
ops, the explainer and the CLI ask these functions and never recompute them.

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

Padding = str | tuple[int, int]
Pads = tuple[int, int]

__all__ = [
    "effective_kernel_size",
    "conv_padding",
    "conv_output_length",
    "conv_transpose_padding",
    "conv_transpose_output_length",
    "output_padding_for_target",
    "transpose_target_range",
]


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """The span of a dilated kernel: (k - 1)*d + 1."""
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
    and the odd pixel goes after. Returns None when it depends on an unknown
    ``input_length``.
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
    effective kernel; callers decide whether that is an error. Unknown input
    gives None.
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
    (n-1)*s + k_eff % 2 + op with one. Unknown input gives None.
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
    """The output_padding (None preferred) that makes a transposed conv
    produce ``target_length``. Raises ValueError when no output_padding can.

    This answers keras#9883: with k=3, s=2 and 'same', input 12 maps to 23
    (output_padding=0) or to 24 (output_padding=None).
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
