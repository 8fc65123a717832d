"""The inverse question: which settings map an input length to a target length?

U-Net and autoencoder users need a decoder length to meet an encoder length
(keras#9883, #10185). :func:`solve` searches small settings with
:mod:`npconv.geometry`, so every answer, fed back through the geometry, gives
the target. Answers come plainest first: no dilation, Keras's own padding
modes before explicit pads, a kernel near 3, then the fewest strides.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from .. import geometry
from ..arguments import invalid

_PADDING_ORDER = {"same": 0, "valid": 1}


@dataclass(frozen=True)
class Setting:
    """One answer of :func:`solve`: Keras arguments for one spatial axis.

    Args:
        kernel_size: k.
        strides: s.
        padding: ``"valid"``, ``"same"`` or a ``(before, after)`` pair.
        dilation_rate: d.
        output_padding: transposed convs only; None is Keras's default.
    """

    kernel_size: int
    strides: int
    padding: object  # 'valid', 'same' or a (before, after) pair
    dilation_rate: int = 1
    output_padding: int | None = None  # transposed only

    def keras_arguments(self) -> str:
        padding = self.padding if isinstance(self.padding, str) else (tuple(self.padding),)
        text = f"kernel_size={self.kernel_size}, strides={self.strides}, padding={padding!r}"
        if self.dilation_rate != 1:
            text += f", dilation_rate={self.dilation_rate}"
        if self.output_padding is not None:
            text += f", output_padding={self.output_padding}"
        return text

    def _cost(self):
        """Plain before fancy: no dilation, Keras's padding modes ('same'
        first), a kernel near 3, the fewest strides, output_padding None."""
        explicit = 0 if isinstance(self.padding, str) else 1 + sum(self.padding)
        return (
            self.dilation_rate,
            explicit,
            _PADDING_ORDER.get(self.padding, 2),
            abs(self.kernel_size - 3),
            self.strides,
            -1 if self.output_padding is None else self.output_padding,
        )


def _paddings(max_pad):
    yield from ("same", "valid")
    for before, after in product(range(max_pad + 1), repeat=2):
        if before or after:
            yield (before, after)


def solve(
    input_length, target_length, transposed=False, max_kernel=7, max_stride=4, max_dilation=2, max_pad=2, limit=10
):
    """Settings of a conv (or a transposed conv) that turn ``input_length`` into
    ``target_length``, simplest first. Every answer is checked through
    :mod:`npconv.geometry`.

    Args:
        input_length: the length going in (a positive int).
        target_length: the length wanted out (a positive int).
        transposed: search transposed convs (decoders) instead of forward convs.
        max_kernel: the largest kernel size tried.
        max_stride: the largest stride tried.
        max_dilation: the largest dilation tried.
        max_pad: the largest explicit pad per side tried.
        limit: at most this many answers.

    Returns:
        A list of :class:`Setting`, plainest first.

    Example:
        >>> solve(12, 23, transposed=True)[0].keras_arguments()
        "kernel_size=3, strides=2, padding='same', output_padding=0"
    """
    for name, value in (("input", input_length), ("target", target_length)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise invalid(name, "a positive int", value)
    found = []
    for k, s, d in product(range(1, max_kernel + 1), range(1, max_stride + 1), range(1, max_dilation + 1)):
        if d > 1 and k == 1:
            continue
        for padding in _paddings(max_pad):
            if transposed:
                for op in [None, *range(s)]:
                    length = geometry.conv_transpose_output_length(input_length, k, s, padding, op, d)
                    if length == target_length:
                        found.append(Setting(k, s, padding, d, op))
            elif geometry.conv_output_length(input_length, k, s, padding, d) == target_length:
                found.append(Setting(k, s, padding, d))
    unique = sorted(set(found), key=Setting._cost)
    return unique[:limit]
