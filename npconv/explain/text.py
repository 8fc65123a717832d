"""Text rendering of an explanation: a table, the formulas, and one ASCII strip
per spatial axis showing the padded input and where each window sits.

Strip legend: a number is an input pixel (its index), ``.`` a padding cell,
``z`` a zero inserted between inputs (transposed convs), ``/`` a cropped cell
(a negative pad), ``#`` a kernel tap, ``-`` the gap between dilated taps.

``e`` is an :class:`npconv.explain.Explanation`, ``dim`` one of its
:class:`~npconv.explain.DimensionExplanation` and ``m`` a
:class:`~npconv.explain.ModelExplanation`; this module reads them and never
imports the module that defines them.
"""

from __future__ import annotations

import textwrap

MAX_ROWS = 12  # windows shown per strip before eliding the middle
MAX_COLUMNS = 60  # cells shown per strip before eliding unread stretches
WIDTH = 100  # prose is wrapped to this width


def _wrap(text, indent, first=None):
    first = indent if first is None else first
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=indent + "  ", break_on_hyphens=False)


def _fmt(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def _shape_text(e, full: bool):
    if full and e.input_shape is not None:
        return _fmt(e.input_shape), _fmt(e.output_shape)
    return _fmt(e.input_size), _fmt(e.output_size)


def _header(e):
    title = e.layer if e.name is None else f"{e.name} ({e.layer})"
    shape_in, shape_out = _shape_text(e, True)
    lines = [f"{title}: input {shape_in} -> output {shape_out}"]
    args = [f"kernel_size={_fmt(e.kernel_size)}", f"strides={_fmt(e.strides)}", f"padding={e.padding!r}"]
    args.append(f"dilation_rate={_fmt(e.dilation_rate)}")
    if e.transposed:
        args.append(f"output_padding={e.output_padding if e.output_padding is None else _fmt(e.output_padding)}")
        if e.target_size is not None:
            args.append(f"output_shape={_fmt(e.target_size)}")
    if e.family == "conv" and e.groups != 1:
        args.append(f"groups={e.groups}")
    if e.family in ("depthwise", "separable"):
        args.append(f"depth_multiplier={e.depth_multiplier}")
    if e.padding_mode != "zeros":
        args.append(f"padding_mode={e.padding_mode!r}")
    lines.append("  " + "  ".join(args))
    if e.weight_shapes:
        lines.append("  weights: " + ", ".join(f"{name} {_fmt(shape)}" for name, shape in e.weight_shapes))
    return lines


def _table(e):
    def value(v):
        return "?" if v is None else str(v)

    rows = [
        ("input length n", [d.input_length for d in e.dims]),
        ("kernel size k", [d.kernel_size for d in e.dims]),
        ("dilation d", [d.dilation for d in e.dims]),
        ("effective kernel k_eff", [d.effective_kernel_size for d in e.dims]),
        ("stride s", [d.stride for d in e.dims]),
    ]
    if e.transposed:
        rows += [
            ("zeros between inputs", [d.inserted_zeros for d in e.dims]),
            ("zero-inserted length", [d.zero_inserted_length for d in e.dims]),
            ("output_padding used", [str(d.output_padding) for d in e.dims]),
            ("pad before (zero-ins.)", [d.pad_before for d in e.dims]),
            ("pad after (zero-ins.)", [d.pad_after for d in e.dims]),
        ]
    else:
        rows += [("pad before", [d.pad_before for d in e.dims]), ("pad after", [d.pad_after for d in e.dims])]
    rows.append(("output length", [d.output_length for d in e.dims]))
    label_width = max(len(label) for label, _ in rows) + 2
    widths = [max(len(d.axis_name), *(len(value(r[1][i])) for r in rows)) + 2 for i, d in enumerate(e.dims)]
    lines = [" " * (label_width + 2) + "".join(d.axis_name.rjust(w) for d, w in zip(e.dims, widths))]
    for label, values in rows:
        lines.append("  " + label.ljust(label_width) + "".join(value(v).rjust(w) for v, w in zip(values, widths)))
    return lines


def _formula_lines(dim, indent="    "):
    formulas = dim.formulas
    if not formulas:
        return []
    name_w = max(len(f.name) for f in formulas)
    sym_w = max(len(f.symbolic) for f in formulas)
    num_w = max(len(f.numbers or "") for f in formulas)
    lines = []
    for f in formulas:
        value = "?" if f.value is None else str(f.value)
        if f.numbers is None or f.numbers == f.symbolic:
            middle = f.symbolic.ljust(sym_w + 3 + num_w)
        else:
            middle = f.symbolic.ljust(sym_w) + " = " + f.numbers.ljust(num_w)
        lines.append(f"{indent}{f.name.ljust(name_w)} = {middle} = {value}".rstrip())
    return lines


def _dim_title(dims):
    dim = dims[0]
    names = " and ".join(d.axis_name for d in dims)
    out = "?" if dim.output_length is None else dim.output_length
    n = "?" if dim.input_length is None else dim.input_length
    return f"{names}: {n} -> {out}, padding={dim.padding!r}"


def _dim_key(dim):
    return (
        dim.input_length, dim.kernel_size, dim.stride, dim.dilation, dim.padding, dim.output_padding,
        dim.target_length, dim.padding_mode,
    )  # fmt: skip


def _groups(dims):
    """Axes with identical settings, explained once."""
    groups = {}
    for dim in dims:
        groups.setdefault(_dim_key(dim), []).append(dim)
    return list(groups.values())


# --------------------------------------------------------------------------
# the ASCII strip
# --------------------------------------------------------------------------
def _cell_label(dim, p):
    kind = dim.cell(p)
    if kind == "input":
        return str(p // dim.stride if dim.transposed else p)
    return {"crop": "/", "padding": ".", "zero": "z"}[kind]


def _shown_windows(windows, max_rows):
    if len(windows) <= max_rows:
        return list(windows), None
    head = max_rows - 4
    return list(windows[:head]) + list(windows[-3:]), head


def _columns(dim, windows, max_columns):
    """Positions to draw, with None where a stretch is elided."""
    length = dim.canvas_length
    lo = min(-dim.pad_before, 0)
    hi = max(length + dim.pad_after, length)
    if hi - lo <= max_columns:
        return list(range(lo, hi))
    wanted = set(range(lo, min(lo + 3, hi))) | set(range(max(hi - 3, lo), hi))
    for w in windows:
        if w.stop - w.start <= max_columns:
            wanted |= set(range(w.start, w.stop))
        else:  # a kernel wider than the strip: its first and last taps
            wanted |= {t.position for t in (*w.taps[:3], *w.taps[-3:])}
    columns, previous = [], None
    for p in sorted(wanted):
        if previous is not None and p != previous + 1:
            columns.append(None)
        columns.append(p)
        previous = p
    return columns


def _reads_text(dim, window, max_terms=6):
    if dim.transposed:
        terms = [f"x{t.input_index}*w{t.weight}" for t in window.taps if t.source == "input"]
        if not terms:
            text = "= 0 (reads only zeros and padding)"
        elif len(terms) > max_terms:
            text = "= " + " + ".join(terms[:max_terms]) + f" + ... ({len(terms)} terms)"
        else:
            text = "= " + " + ".join(terms)
        extra = []
        if window.zero_count:
            extra.append(f"{window.zero_count} inserted zero{'s' if window.zero_count > 1 else ''}")
        if window.padding_count:
            extra.append(f"{window.padding_count} pad")
        return text + (f"   ({', '.join(extra)})" if extra else "")
    names = []
    for t in window.taps:
        if t.source == "input":
            names.append(f"x{t.input_index}")
        elif t.fill is not None:
            names.append(f"pad(x{t.fill})")
        else:
            names.append("pad")
    if len(names) > max_terms:
        inputs = window.inputs
        text = f"reads {len(names)} taps: x{inputs[0]}..x{inputs[-1]}" if inputs else f"reads {len(names)} pad taps"
    else:
        text = "reads " + " ".join(names)
    if window.padding_count:
        text += f"   ({window.padding_count} pad)"
    return text


def render_strip(dim, max_rows: int = MAX_ROWS, max_columns: int = MAX_COLUMNS, indent="  "):
    """The padded (zero-inserted) input as a row of cells, then one row per window.

    Args:
        dim: one axis of an explanation.
        max_rows: windows drawn before the middle ones are left out.
        max_columns: cells drawn before unread stretches are left out.
        indent: put before every line.

    Returns:
        A list of lines.
    """
    if dim.canvas_length is None or dim.pad_before is None:
        return [f"{indent}(no diagram: the input length is unknown)"]
    if not dim.windows:
        return [f"{indent}(no diagram: no output positions)"]
    shown, gap_at = _shown_windows(dim.windows, max_rows)
    columns = _columns(dim, shown, max_columns)
    positions = [p for p in columns if p is not None]
    labels = {p: _cell_label(dim, p) for p in positions}
    width = max(3, max(len(str(p)) for p in positions) + 1, max(len(label) for label in labels.values()) + 1)
    row_names = ["index", "zero-ins." if dim.transposed else "input"] + [f"out[{w.output_index}]" for w in shown]
    name_w = max(len(name) for name in row_names) + 2

    def row(name, cells):
        return (indent + name.ljust(name_w) + "".join(c.rjust(width) for c in cells)).rstrip()

    def cells_for(fn):
        return [".." if p is None else fn(p) for p in columns]

    lines = [row("index", cells_for(str)), row(row_names[1], cells_for(labels.get))]
    for i, window in enumerate(shown):
        if gap_at is not None and i == gap_at:
            lines.append(indent + "...")
        taps = {t.position for t in window.taps}

        def mark(p, window=window, taps=taps):
            if p in taps:
                return "#"
            return "-" if window.start < p < window.stop else ""

        cells = [("" if p is None else mark(p)) for p in columns]
        text = row(f"out[{window.output_index}]", cells)
        strip_width = len(indent) + name_w + width * len(columns)
        lines.append(text.ljust(strip_width) + "   " + _reads_text(dim, window))
    return lines


def _legend(e):
    parts = ["number = input pixel", ". = padding", "# = kernel tap"]
    if any(d.dilation > 1 for d in e.dims):
        parts.append("- = skipped by dilation")
    if e.transposed:
        parts.insert(2, "z = inserted zero")
        if any(d.pad_before < 0 or d.pad_after < 0 for d in e.dims):
            parts.insert(3, "/ = cropped")
    return "  legend: " + ", ".join(parts)


def _dim_section(e, dims, diagram: bool, **strip_options):
    dim = dims[0]
    lines = ["", _dim_title(dims)]
    reason = " ".join(dim.pad_reason)
    if reason:
        lines.extend(_wrap("why these pads: " + reason, "  "))
    if e.transposed:
        s = dim.stride
        lines.extend(
            _wrap(
                f"equivalent forward conv: insert s - 1 = {s - 1} zero{'s' if s - 1 != 1 else ''} between "
                f"inputs, pad ({dim.pad_before}, {dim.pad_after}), then a stride-1 conv with the kernel "
                f"flipped (tap t uses w[k - 1 - t]).",
                "  ",
            )
        )
    lines.extend(_formula_lines(dim))
    for note in (*dim.output_padding_note, *dim.target_note, *dim.notes):
        lines.extend(_wrap("note: " + note, "  "))
    if diagram:
        lines.append("")
        lines.extend(render_strip(dim, **strip_options))
    return lines


def render_explanation(e, diagram: bool = True, **strip_options) -> str:
    """The whole explanation as text: header, table, then per axis the pads,
    formulas, notes and an ASCII strip.

    Args:
        e: an explanation.
        diagram: whether to draw the ASCII strips.
        **strip_options: ``max_rows`` and ``max_columns`` of :func:`render_strip`.
    """
    lines = _header(e)
    lines.append("")
    lines.extend(_table(e))
    for dims in _groups(e.dims):
        lines.extend(_dim_section(e, dims, diagram, **strip_options))
    if diagram and any(d.windows for d in e.dims):
        lines.append("")
        lines.append(_legend(e))
    if e.transposed:
        lines.extend(
            _wrap(
                "the kernel layout is (*kernel_size, filters, in_channels): the equivalent forward conv "
                "reads it flipped, with the channel axes swapped.",
                "  ",
            )
        )
    if e.notes:
        lines.append("")
        for note in e.notes:
            lines.extend(_wrap("note: " + note, ""))
    return "\n".join(lines) + "\n"


def summary_line(e) -> str:
    """One line: arguments and pads per axis."""
    pads = " ".join(f"({d.pad_before}, {d.pad_after})" for d in e.dims)
    where = " on the zero-inserted input" if e.transposed else ""
    args = f"k={_fmt(e.kernel_size)} s={_fmt(e.strides)} {e.padding!r}"
    if any(d > 1 for d in e.dilation_rate):
        args += f" d={_fmt(e.dilation_rate)}"
    return f"{args}  pads {pads}{where}"


def render_model(m, detail: bool = False, **options) -> str:
    """The shape chain of a model.

    Args:
        m: a model explanation.
        detail: also each conv layer in full.
        **options: passed to :func:`render_explanation`.
    """
    rows = [("layer (type)", "input", "output", "geometry")]
    for step in m.steps:
        geometry_text = summary_line(step.explanation) if step.explanation is not None else ""
        rows.append((f"{step.name} ({step.layer})", _fmt(step.input_shape), _fmt(step.output_shape), geometry_text))
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
    lines = [f"Model '{m.name}': input {_fmt(m.input_shape)} -> output {_fmt(m.output_shape)}", ""]
    for r in rows:
        lines.append(("  " + "".join(c.ljust(w) for c, w in zip(r[:3], widths)) + r[3]).rstrip())
    if detail:
        for step in m.steps:
            if step.explanation is not None:
                lines.append("")
                lines.append(render_explanation(step.explanation, **options).rstrip("\n"))
    return "\n".join(lines) + "\n"
