"""SVG pictures of an explanation, in the style of Dumoulin & Visin's
convolution-arithmetic figures. No dependency: the SVG is written as text.

Each panel shows the padded input (for a transposed conv, the zero-inserted
input: real pixels, inserted zeros and padding drawn differently), the kernel
window at one output position, and the output grid with that position filled
in the window's colour. ``animate=True`` gives one panel whose window slides
over every output position (SMIL, plays in browsers).

Every grid cell is a ``<rect>`` with a class: ``cell input``, ``cell pad``,
``cell zero``, ``cell crop`` (input side) and ``cell out`` (output side), so
tests and stylesheets can find them.

``e`` is an :class:`npconv.explain.Explanation` and ``dim`` one of its
:class:`~npconv.explain.DimensionExplanation`; this module reads them and
never imports the module that defines them.
"""

from __future__ import annotations

from itertools import product
from xml.sax.saxutils import escape

PALETTE = ("#e8590c", "#7048e8", "#2f9e44", "#d6336c", "#1098ad", "#f08c00")
STYLE = """
  .title { font: 600 15px sans-serif; fill: #212529; }
  .subtitle { font: 12px sans-serif; fill: #495057; }
  .label { font: 11px sans-serif; fill: #495057; }
  .index { font: 9px monospace; fill: #868e96; }
  .value { font: 10px monospace; fill: #ffffff; }
  .zero-text { font: 8px monospace; fill: #adb5bd; }
  .input { fill: #4a90c9; stroke: #1f5f8b; stroke-width: 1; }
  .pad { fill: #ffffff; stroke: #adb5bd; stroke-width: 1; stroke-dasharray: 3 2; }
  .zero { fill: #f1f3f5; stroke: #ced4da; stroke-width: 1; }
  .crop { fill: url(#hatch); stroke: #ced4da; stroke-width: 1; }
  .out { fill: #63c7be; stroke: #2a8f86; stroke-width: 1; }
  .tap { stroke-width: 1.5; fill-opacity: 0.9; }
  .miss { stroke-width: 1.5; fill-opacity: 0.28; }
  .result { fill-opacity: 1; }
  .value-miss { font: 10px monospace; fill: #495057; }
  .window { fill: none; stroke-width: 2.5; }
  .arrow { stroke: #868e96; stroke-width: 1.5; fill: none; marker-end: url(#head); }
"""

MAX_CELLS = 128  # per axis


class _Svg:
    def __init__(self):
        self.parts = []

    def add(self, text):
        self.parts.append(text)

    def rect(self, x, y, w, h, cls, extra=""):
        self.add(f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"{extra}/>')

    def text(self, x, y, content, cls, anchor="middle"):
        self.add(f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(str(content))}</text>')


# --------------------------------------------------------------------------
# geometry of the drawing (per axis, from the explanation)
# --------------------------------------------------------------------------
def _axis_span(dim):
    """(first, one past the last) position drawn along one axis: the whole
    padded (zero-inserted) input, including cells a negative pad crops away."""
    length = dim.canvas_length
    return min(-dim.pad_before, 0), max(length + dim.pad_after, length)


def _axis_length(dim) -> int:
    lo, hi = _axis_span(dim)
    return hi - lo


def _axis_positions(dim):
    return list(range(*_axis_span(dim)))


def _axis_kind(dim, p: int) -> str:
    """The cell's CSS class: crop, pad, zero or input."""
    kind = dim.cell(p)
    return "pad" if kind == "padding" else kind


_KIND_ORDER = ("crop", "pad", "zero", "input")


def _cell_kind(kinds):
    """A cell is as 'empty' as its emptiest axis."""
    for kind in _KIND_ORDER:
        if kind in kinds:
            return kind
    return "input"


def _check_drawable(e):
    for dim in e.dims:
        if dim.canvas_length is None or dim.pad_before is None:
            raise ValueError(
                f"Cannot draw {e.layer} for input_size={list(e.input_size)}: every spatial size must be known."
            )
        cells = _axis_length(dim)
        if cells > MAX_CELLS or (dim.output_length or 0) > MAX_CELLS:
            raise ValueError(
                f"Cannot draw {e.layer}: the {dim.axis_name} axis has {cells} cells, "
                f"more than {MAX_CELLS}. Draw a smaller input; the geometry does not depend on the size "
                f"beyond the edges."
            )
        if not dim.windows:
            raise ValueError(f"Cannot draw {e.layer}: there are no output positions.")


# --------------------------------------------------------------------------
# one panel: input canvas, window, output grid
# --------------------------------------------------------------------------
class _Panel:
    """Layout of one panel for the 1-D or 2-D axes ``dims``."""

    def __init__(self, dims, cell):
        self.dims = dims
        self.cell = cell
        self.rows_pos = _axis_positions(dims[0]) if len(dims) == 2 else [0]
        self.cols_pos = _axis_positions(dims[-1])
        self.out_rows = dims[0].output_length if len(dims) == 2 else 1
        self.out_cols = dims[-1].output_length
        self.index_margin = 14 if cell >= 12 else 0
        self.gap = max(50, 2 * cell)
        self.in_w = len(self.cols_pos) * cell
        self.in_h = len(self.rows_pos) * cell
        self.out_w = self.out_cols * cell
        self.out_h = self.out_rows * cell
        self.width = self.index_margin + self.in_w + self.gap + self.out_w + 10
        self.height = 22 + self.index_margin + max(self.in_h, self.out_h) + 8

    def _in_xy(self, x0, y0, row_p, col_p):
        x = x0 + self.index_margin + (col_p - self.cols_pos[0]) * self.cell
        y = y0 + 22 + self.index_margin + (row_p - self.rows_pos[0]) * self.cell
        return x, y

    def _out_origin(self, x0, y0):
        x = x0 + self.index_margin + self.in_w + self.gap
        y = y0 + 22 + self.index_margin + max(0, (self.in_h - self.out_h) / 2)
        return x, y

    def draw_grids(self, svg: _Svg, x0, y0):
        c = self.cell
        dims = self.dims
        two_d = len(dims) == 2
        for row_p in self.rows_pos:
            for col_p in self.cols_pos:
                kinds = [_axis_kind(dims[-1], col_p)]
                if two_d:
                    kinds.append(_axis_kind(dims[0], row_p))
                kind = _cell_kind(kinds)
                x, y = self._in_xy(x0, y0, row_p, col_p)
                svg.rect(x + 1, y + 1, c - 2, c - 2, f"cell {kind}", ' rx="2"')
                if kind == "zero" and c >= 16:  # in the corner, clear of a tap's weight label
                    svg.text(x + 3, y + 9, "0", "zero-text", "start")
        if self.index_margin:
            self._draw_indices(svg, x0, y0)
        ox, oy = self._out_origin(x0, y0)
        for i, j in product(range(self.out_rows), range(self.out_cols)):
            svg.rect(ox + j * c + 1, oy + i * c + 1, c - 2, c - 2, "cell out", ' rx="2"')
        mid_y = y0 + 22 + self.index_margin + self.in_h / 2
        ax = x0 + self.index_margin + self.in_w + 8
        svg.add(f'<path class="arrow" d="M {ax:.1f} {mid_y:.1f} L {ax + self.gap - 18:.1f} {mid_y:.1f}"/>')

    def _draw_indices(self, svg, x0, y0):
        """Input indices along the top (and left): positions of real pixels."""
        c = self.cell
        dims = self.dims
        step = max(1, int(18 // c) + 1)
        for col_p in self.cols_pos:
            if _axis_kind(dims[-1], col_p) == "input":
                label = col_p // dims[-1].stride if dims[-1].transposed else col_p
                if label % step == 0:
                    x, _ = self._in_xy(x0, y0, self.rows_pos[0], col_p)
                    svg.text(x + c / 2, y0 + 22 + self.index_margin - 4, label, "index")
        if len(dims) == 2:
            for row_p in self.rows_pos:
                if _axis_kind(dims[0], row_p) == "input":
                    label = row_p // dims[0].stride if dims[0].transposed else row_p
                    if label % step == 0:
                        _, y = self._in_xy(x0, y0, row_p, self.cols_pos[0])
                        svg.text(x0 + self.index_margin - 3, y + c / 2 + 3, label, "index", "end")

    def draw_window(self, svg: _Svg, x0, y0, out_index, colour, show_weights=True):
        """The window of output ``out_index`` (a tuple per axis) and its output cell."""
        c = self.cell
        dims = self.dims
        windows = [dim.windows[i] for dim, i in zip(dims, out_index)]
        taps_per_axis = [w.taps for w in windows]
        if len(dims) == 1:
            taps_per_axis = [[None]] + taps_per_axis
        for row_tap, col_tap in product(*taps_per_axis):
            row_p = row_tap.position if row_tap is not None else 0
            x, y = self._in_xy(x0, y0, row_p, col_tap.position)
            # Taps that read a real input are solid; taps on padding or an inserted zero are faint.
            hit = col_tap.source == "input" and (row_tap is None or row_tap.source == "input")
            svg.rect(
                x + 1,
                y + 1,
                c - 2,
                c - 2,
                "tap hit" if hit else "tap miss",
                f' rx="2" fill="{colour}" stroke="{colour}"',
            )
            if show_weights and c >= 22:
                weight = col_tap.weight if row_tap is None else f"{row_tap.weight},{col_tap.weight}"
                on_zero = "zero" in (col_tap.source, getattr(row_tap, "source", None))
                baseline = y + c - 3 if on_zero else y + c / 2 + 3.5  # below a zero's corner "0"
                svg.text(x + c / 2, baseline, f"w{weight}", "value" if hit else "value-miss")
        first = [w.start for w in windows]
        last = [w.stop - 1 for w in windows]
        if len(dims) == 1:
            first, last = [0] + first, [0] + last
        x1, y1 = self._in_xy(x0, y0, first[0], first[1])
        x2, y2 = self._in_xy(x0, y0, last[0], last[1])
        svg.rect(x1, y1, x2 - x1 + c, y2 - y1 + c, "window", f' rx="3" stroke="{colour}"')
        ox, oy = self._out_origin(x0, y0)
        i, j = out_index if len(dims) == 2 else (0, out_index[0])
        svg.rect(
            ox + j * c + 1, oy + i * c + 1, c - 2, c - 2, "tap result", f' rx="2" fill="{colour}" stroke="{colour}"'
        )


def _cell_size(dims, width=420):
    longest = max(max(_axis_length(d), d.output_length) for d in dims)
    return max(6, min(30, int(width / max(longest, 1))))


def _default_positions(dims):
    """Corners of the output (first and last positions), at most 4 panels."""
    per_axis = [sorted({0, d.output_length - 1}) for d in dims]
    return list(product(*per_axis))[:4]


def _title(e, dims):
    axes = " and ".join(d.axis_name for d in dims) if e.rank > 2 else ""
    size_in = "×".join(str(d.input_length) for d in dims)
    size_out = "×".join(str(d.output_length) for d in dims)
    k = "×".join(str(d.kernel_size) for d in dims)
    s = "×".join(str(d.stride) for d in dims)
    pads = ", ".join(f"({d.pad_before}, {d.pad_after})" for d in dims)
    head = f"{e.layer}{' — ' + axes if axes else ''}: {size_in} → {size_out}"
    sub = f"kernel {k}, strides {s}, padding={e.padding!r}"
    if any(d.dilation > 1 for d in dims):
        sub += f", dilation {'×'.join(str(d.dilation) for d in dims)}"
    if e.transposed:
        values = {d.output_padding for d in dims}
        ops = str(values.pop()) if len(values) == 1 else "×".join(str(d.output_padding) for d in dims)
        sub += f", output_padding={ops}"
        sub2 = f"zero-inserted input ({dims[0].stride - 1} zero(s) between pixels), padded {pads}; kernel flipped, stride 1"
    else:
        sub2 = f"pads (before, after) per axis: {pads}"
    return head, sub, sub2


LABEL_CHAR_WIDTH = 6.5  # px per character of an 11px sans-serif label, a little generous


def _legend(svg, x, y, width, transposed, crop):
    """The legend from (x, y), wrapped to stay inside ``width``; returns its height."""
    items = [("cell input", "input pixel"), ("cell pad", "padding")]
    if transposed:
        items.append(("cell zero", "inserted zero"))
    if crop:
        items.append(("cell crop", "cropped"))
    items += [("tap hit", "tap on an input"), ("swatch miss", "tap on padding or a zero"), ("cell out", "output")]
    left, top = x, y
    for cls, label in items:
        item_width = 17 + LABEL_CHAR_WIDTH * len(label)
        if x > left and x + item_width > width - left:
            x, y = left, y + 20
        extra = f' fill="{PALETTE[0]}" stroke="{PALETTE[0]}"' if "hit" in cls or "miss" in cls else ""
        svg.rect(x, y - 10, 12, 12, cls, extra + ' rx="2"')
        svg.text(x + 17, y, label, "label", "start")
        x += item_width + 13
    return y - top + 18


def _document(width, height, body):
    defs = (
        "<defs>"
        '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#f8f9fa"/><line x1="0" y1="0" x2="0" y2="6" stroke="#ced4da" stroke-width="2"/>'
        "</pattern>"
        '<marker id="head" markerWidth="8" markerHeight="8" refX="6" refY="4" orient="auto">'
        '<path d="M0,0 L8,4 L0,8 z" fill="#868e96"/></marker>'
        "</defs>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">\n<style>{STYLE}</style>\n{defs}\n'
        f'<rect width="100%" height="100%" fill="#ffffff"/>\n' + "\n".join(body) + "\n</svg>\n"
    )


def _axis_groups(e):
    """Which axes share a drawing: 1-D and 2-D layers are drawn whole; a 3-D
    layer as three 1-D strips."""
    if e.rank <= 2:
        return [list(e.dims)]
    return [[d] for d in e.dims]


def render_svg(e, positions=None, animate: bool = False, cell=None, duration: float = 0.6) -> str:
    """An SVG document drawing an explanation.

    Args:
        e: an explanation with every spatial size known and at most
            ``MAX_CELLS`` cells per axis.
        positions: output positions to draw (tuples, one int per drawn axis);
            by default the corners.
        animate: draw one panel whose window visits every output position.
        cell: pixels per cell; chosen from the size by default.
        duration: seconds per output position when animated.

    Returns:
        The SVG document as a string. Raises ValueError when it cannot be drawn.
    """
    _check_drawable(e)
    svg = _Svg()
    margin = 16
    y = margin
    width = 0
    body_start = len(svg.parts)
    for dims in _axis_groups(e):
        size = cell or _cell_size(dims)
        panel = _Panel(dims, size)
        head, sub, sub2 = _title(e, dims)
        svg.text(margin, y + 14, head, "title", "start")
        svg.text(margin, y + 32, sub, "subtitle", "start")
        svg.text(margin, y + 48, sub2, "subtitle", "start")
        y += 58
        if animate:
            _animated_panel(svg, panel, margin, y, duration)
            width = max(width, panel.width + 2 * margin, 560)
            y += panel.height + 10
            continue
        chosen = positions or _default_positions(dims)
        chosen = [tuple(p) if isinstance(p, (tuple, list)) else (p,) for p in chosen]
        for p in chosen:
            if len(p) != len(dims) or any(not 0 <= i < d.output_length for i, d in zip(p, dims)):
                raise ValueError(
                    f"Invalid value for argument `positions`. Expected output positions with {len(dims)} "
                    f"index(es) inside the output {tuple(d.output_length for d in dims)}. Received: positions={chosen}"
                )
        columns = 2 if len(dims) == 2 and len(chosen) > 1 and panel.width < 520 else 1
        for n, p in enumerate(chosen):
            col, row = n % columns, n // columns
            px = margin + col * (panel.width + 24)
            py = y + row * (panel.height + 10)
            colour = PALETTE[n % len(PALETTE)]
            panel.draw_grids(svg, px, py)
            panel.draw_window(svg, px, py, p, colour)
            label = ", ".join(str(i) for i in p)
            svg.text(px, py + 12, f"output [{label}]", "label", "start")
            svg.add(f'<text class="label" x="{px + 78:.1f}" y="{py + 12:.1f}" style="fill:{colour}">■</text>')
        rows = -(-len(chosen) // columns)
        width = max(width, margin * 2 + columns * (panel.width + 24), 560)
        y += rows * (panel.height + 10)
    crop = any(d.pad_before < 0 or d.pad_after < 0 for d in e.dims)
    y += _legend(svg, margin, y + 12, width, e.transposed, crop) + 12
    body = svg.parts[body_start:]
    return _document(width, y, body)


def _animated_panel(svg, panel, x0, y0, duration):
    dims = panel.dims
    positions = list(product(*[range(d.output_length) for d in dims]))
    if len(positions) > 400:
        raise ValueError(f"Cannot animate {len(positions)} output positions (at most 400). Use a smaller input.")
    panel.draw_grids(svg, x0, y0)
    total = duration * len(positions)
    count = len(positions)
    for n, p in enumerate(positions):
        start, stop = n / count, (n + 1) / count
        # The first window is visible without SMIL too (static viewers).
        svg.add(f'<g visibility="{"visible" if n == 0 else "hidden"}">')
        svg.add(
            f'<animate attributeName="visibility" values="hidden;visible;hidden" '
            f'keyTimes="0;{start:.4f};{stop:.4f}" dur="{total:.2f}s" calcMode="discrete" repeatCount="indefinite"/>'
        )
        panel.draw_window(svg, x0, y0, p, PALETTE[0])
        svg.add("</g>")
