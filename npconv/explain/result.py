"""What :func:`npconv.explain` returns: plain frozen dataclasses, no arrays.

An :class:`Explanation` has one :class:`DimensionExplanation` per spatial
axis; its windows (:class:`Windows`) are made when read, one :class:`Window`
of :class:`Tap` objects per output position. ``to_dict()`` gives JSON-ready
data. Coordinates are described in :mod:`npconv.explain.data`.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import geometry
from ..geometry import Formula

PaddingArg = str | tuple[int, int]


# --------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Tap:
    """One kernel tap of one window.

    Args:
        tap: the tap's place in the window, counted left to right.
        weight: the index into the layer's kernel along this axis that
            multiplies it: ``tap`` for a forward conv, ``k - 1 - tap`` for a
            transposed one (its equivalent forward conv flips the kernel).
        position: where the tap sits (see the module's coordinates).
        source: ``"input"``, ``"padding"``, or ``"zero"`` (an inserted zero).
        input_index: the input pixel read, for ``source == "input"``.
        fill: for a padding cell of a non-zero ``padding_mode``, the input
            index whose value the cell holds.
    """

    tap: int
    weight: int
    position: int
    source: str
    input_index: int | None = None
    fill: int | None = None


@dataclass(frozen=True)
class Window:
    """What output position ``output_index`` reads along one axis: its taps.

    Args:
        output_index: the output position, from 0.
        taps: one :class:`Tap` per kernel tap, in order.
    """

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


class Windows(Sequence):
    """The :class:`Window` of every output position along one axis, made when
    asked for: ``windows[j]`` is output j's window and ``len(windows)`` the
    output length. Nothing is stored per position, so a length of 10**12
    costs what a length of 5 does.

    Args:
        transposed: whether the windows slide over a zero-inserted input.
        input_length: n.
        kernel_size: k.
        stride: s (1 for a transposed conv's equivalent forward conv is implied).
        dilation: d.
        pad_before: the pad before the (zero-inserted) input.
        count: the number of output positions.
        padding_mode: what padding cells hold (forward convs).
    """

    __slots__ = ("_key",)

    def __init__(self, transposed, input_length, kernel_size, stride, dilation, pad_before, count, padding_mode):
        self._key = (transposed, input_length, kernel_size, stride, dilation, pad_before, max(count, 0), padding_mode)

    def __len__(self) -> int:
        return self._key[6]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self._window(j) for j in range(*index.indices(len(self))))
        j = operator.index(index)
        if j < 0:
            j += len(self)
        if not 0 <= j < len(self):
            raise IndexError(f"window index {index} out of range for {len(self)} output positions")
        return self._window(j)

    def _window(self, j) -> Window:
        transposed, n, k, s, d, pad_before, _, mode = self._key
        taps = []
        for t in range(k):
            if transposed:
                u, w = j + t * d - pad_before, k - 1 - t
                if 0 <= u <= (n - 1) * s:
                    taps.append(Tap(t, w, u, "zero") if u % s else Tap(t, w, u, "input", u // s))
                else:
                    taps.append(Tap(t, w, u, "padding"))
            else:
                p = j * s + t * d - pad_before
                if 0 <= p < n:
                    taps.append(Tap(t, t, p, "input", p))
                else:
                    taps.append(Tap(t, t, p, "padding", None, geometry.padding_source(p, n, mode)))
        return Window(j, tuple(taps))

    def summary(self, edge: int = 3) -> dict:
        """A JSON-ready summary: the count, and the first and last ``edge`` windows."""
        if len(self) <= 2 * edge:
            shown = list(self)
        else:
            shown = [*self[:edge], *self[-edge:]]
        return {"count": len(self), "windows": [dataclasses.asdict(w) for w in shown]}

    def __eq__(self, other):
        if isinstance(other, Windows):
            return self._key == other._key
        if isinstance(other, tuple):
            return len(other) == len(self) and tuple(self) == other
        return NotImplemented

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        return f"Windows({len(self)} output positions)"


_NO_WINDOWS = Windows(False, None, 1, 1, 1, 0, 0, "zeros")


@dataclass(frozen=True)
class DimensionExplanation:
    """One spatial axis of a conv layer, fully decided.

    Forward conv: the input is padded by ``(pad_before, pad_after)`` and the
    dilated kernel slides with the stride. Transposed conv: the equivalent
    forward conv inserts ``inserted_zeros`` = s - 1 zeros between inputs
    (``zero_inserted_length`` cells), pads that by ``(pad_before, pad_after)``
    (negative = crop) and slides the flipped kernel with stride 1.
    ``pad_reason`` and the pads' ``formulas`` are :mod:`npconv.geometry`'s;
    ``windows`` are made on demand (:class:`Windows`).

    Args:
        axis: the spatial axis, from 0.
        axis_name: its name for people (``"rows"``, ``"cols"``, ...).
        transposed: whether the layer is a transposed conv.
        input_length: n, or None when unknown.
        kernel_size: k.
        dilation: d.
        effective_kernel_size: (k - 1)*d + 1.
        stride: s.
        padding: ``"valid"``, ``"same"``, ``"causal"``, ``"full"`` or a ``(before, after)`` pair.
        pad_before: the pad before the (zero-inserted) input; None when unknown.
        pad_after: the pad after it; negative values crop.
        pad_reason: why these pads, as sentences.
        output_length: the output length, or None when unknown.
        formulas: each length and pad written out (:class:`npconv.geometry.Formula`).
        windows: what each output position reads (:class:`Windows`).
        padding_mode: what the pad cells hold (``"zeros"``, ``"reflect"``, ...).
        zero_inserted_length: transposed only: the input's length once s - 1
            zeros sit between its pixels.
        inserted_zeros: transposed only: s - 1.
        output_padding: transposed only: the output_padding used for this axis.
        output_padding_note: transposed only: how that output_padding was chosen.
        lengths_by_output_padding: transposed only: ``(output_padding, length)``
            for every output_padding Keras allows.
        target_length: transposed only: the length ``output_shape`` asked for.
        target_note: how ``target_length`` was reached.
        notes: anything else worth knowing about this axis.
    """

    axis: int
    axis_name: str
    transposed: bool
    input_length: int | None
    kernel_size: int
    dilation: int
    effective_kernel_size: int
    stride: int
    padding: PaddingArg
    pad_before: int | None
    pad_after: int | None
    pad_reason: tuple[str, ...]
    output_length: int | None
    formulas: tuple[Formula, ...]
    windows: Windows
    padding_mode: str = "zeros"
    zero_inserted_length: int | None = None
    inserted_zeros: int | None = None
    output_padding: int | None = None
    output_padding_note: tuple[str, ...] = ()
    lengths_by_output_padding: tuple[tuple[int | None, int], ...] = ()
    target_length: int | None = None
    target_note: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def canvas_length(self) -> int | None:
        """Length of what the windows slide over: the input (forward) or the
        zero-inserted input (transposed)."""
        return self.zero_inserted_length if self.transposed else self.input_length

    def cell(self, position: int) -> str:
        """What sits at ``position`` of the padded (zero-inserted) input:
        ``"input"``, ``"padding"``, ``"zero"`` (an inserted zero) or ``"crop"``
        (a cell a negative pad removes). Needs a known input length."""
        length = self.canvas_length
        if position < -self.pad_before or position >= length + self.pad_after:
            return "crop"
        if position < 0 or position >= length:
            return "padding"
        if self.transposed and position % self.stride:
            return "zero"
        return "input"

    def formula(self, name: str) -> Formula | None:
        """The formula called ``name`` (e.g. ``"pad_before"``), or None."""
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
    :meth:`to_dict` gives all of it as JSON-ready data.

    Args:
        layer: the layer's class name (``"Conv2D"``).
        family: ``"conv"``, ``"transpose"``, ``"depthwise"`` or ``"separable"``.
        rank: the number of spatial axes.
        input_size: the input's spatial size (None for an unknown axis).
        output_size: the output's spatial size.
        kernel_size: one int per axis.
        strides: one int per axis.
        padding: the mode string, or one ``(before, after)`` pair per axis.
        dilation_rate: one int per axis.
        dims: one :class:`DimensionExplanation` per axis.
        output_padding: the ``output_padding`` argument, as given.
        target_size: the ``output_shape`` argument (transposed convs).
        padding_mode: what the pad cells hold.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        groups: the conv's groups.
        depth_multiplier: depthwise and separable convs' multiplier.
        filters: the output channels, where the layer has them.
        input_shape: the full input shape, when the channels were given.
        output_shape: the full output shape, likewise.
        weight_shapes: ``(weight name, shape)`` pairs, when the channels are known.
        notes: anything else worth knowing, as sentences.
        name: the layer's own name, when explained from a layer object.
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
    output_padding: tuple[int, ...] | None = None
    target_size: tuple[int, ...] | None = None
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

    def to_dict(self, edge: int = 3) -> dict:
        """Every field as JSON-ready data (lists, dicts, strings, ints, None);
        each axis's windows as their count and the first and last ``edge``."""
        return _plain_data(self, edge)

    # The renderers and translate load on first use: explain() itself does not need them.
    def text(self, **options) -> str:
        """A table, the formulas, and an ASCII strip per axis (see :func:`npconv.explain.render_text`)."""
        from .text import render_explanation  # reason: import time, ~10 ms

        return render_explanation(self, **options)

    def svg(self, **options) -> str:
        """An SVG picture in the style of the conv-arithmetic figures (see :func:`npconv.explain.render_svg`)."""
        from .svg import render_svg  # reason: import time, ~80 ms

        return render_svg(self, **options)

    def to(self, framework: str):
        """The equivalent call in ``"torch"``, ``"onnx"`` or ``"jax"``: a
        structured object whose ``code()`` prints it."""
        from ..translate import translate  # reason: import time, ~40 ms

        return translate(self, framework)

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True)
class ModelStep:
    """One layer of a model: its shapes, and its explanation if it is a conv.

    Args:
        name: the layer's name.
        layer: its class name.
        input_shape: the shape going in (batch included), or None when unknown.
        output_shape: the shape coming out.
        explanation: the conv's :class:`Explanation`; None for other layers.
    """

    name: str
    layer: str
    input_shape: tuple | None
    output_shape: tuple | None
    explanation: Explanation | None = None


@dataclass(frozen=True)
class ModelExplanation:
    """The shape chain of a Sequential model, layer by layer.

    Args:
        name: the model's name.
        input_shape: the model's input shape (batch included), or None.
        steps: one :class:`ModelStep` per layer, in order.
    """

    name: str
    input_shape: tuple | None
    steps: tuple[ModelStep, ...] = field(default_factory=tuple)

    @property
    def output_shape(self):
        return self.steps[-1].output_shape if self.steps else self.input_shape

    def to_dict(self, edge: int = 3) -> dict:
        """Every field as JSON-ready data (see :meth:`Explanation.to_dict`)."""
        return _plain_data(self, edge)

    def text(self, **options) -> str:
        """The shape chain as a table (see :func:`npconv.explain.render_text`)."""
        from .text import render_model  # reason: import time, ~10 ms

        return render_model(self, **options)

    def __str__(self) -> str:
        return self.text()


def _plain_data(value, edge):
    if isinstance(value, Windows):
        return value.summary(edge)
    if dataclasses.is_dataclass(value):
        return {f.name: _plain_data(getattr(value, f.name), edge) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain_data(v, edge) for v in value]
    return value
