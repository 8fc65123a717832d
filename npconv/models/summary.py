"""``model.summary()``: Keras's table of layers, output shapes and parameter
counts, with a "Connected to" column for graphs that are not a plain chain."""

from __future__ import annotations

from ..arguments import invalid


def _format_bytes(count):
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.2f} {unit}"
        count /= 1024


def _shape_text(shapes):
    return (
        "?"
        if shapes is None
        else ", ".join(str(tuple(s)) for s in shapes)
        if isinstance(shapes, list)
        else str(tuple(shapes))
    )


def _rows(model, layer_stack):
    """(name (type), output shape, params, connected-to lines) per layer; and whether the graph is a chain."""
    if layer_stack:
        rows, shape = [], model.input_shape
        for layer in model.layers:
            shape = layer.compute_output_shape(shape) if shape is not None else None
            params = layer.count_params() if layer.built else 0
            rows.append((f"{layer.name} ({type(layer).__name__})", _shape_text(shape), f"{params:,}", []))
        return rows, True
    nodes_by_layer = {}
    for node in model._nodes:
        nodes_by_layer.setdefault(id(node.layer), []).append(node)
    chain = all(len(nodes) == 1 for nodes in nodes_by_layer.values()) and len(model.inputs) == 1
    previous = model.inputs[0] if model.inputs else None
    for node in model._nodes:
        chain = chain and len(node.inputs) == 1 and node.inputs[0] is previous and len(node.outputs) == 1
        previous = node.outputs[0] if node.outputs else None
    rows = []
    for layer in model.layers:
        nodes = nodes_by_layer.get(id(layer), [])
        if nodes:
            outputs = [t.shape for t in nodes[0].outputs]
        else:
            outputs = [layer._inbound_nodes[0].outputs[0].shape]
        connected = [
            f"{t._keras_history[0].name}[{t._keras_history[1]}][{t._keras_history[2]}]"
            for node in nodes
            for t in node.inputs
        ]
        params = layer.count_params() if layer.built else 0
        shape = outputs[0] if len(outputs) == 1 else outputs
        rows.append((f"{layer.name} ({type(layer).__name__})", _shape_text(shape), f"{params:,}", connected or ["-"]))
    return rows, chain


def _edges(positions, line_length, columns):
    if positions is None:
        positions = [0.45, 0.80, 1.0] if columns == 3 else [0.3, 0.56, 0.74, 1.0]  # Keras's defaults
    try:
        positions = [float(p) for p in positions]
    except (TypeError, ValueError):
        raise invalid("positions", f"a list of {columns} numbers", positions, error=TypeError) from None
    if len(positions) != columns or any(p <= 0 for p in positions) or positions != sorted(positions):
        raise invalid("positions", f"{columns} increasing positive numbers (fractions <= 1 or columns)", positions)
    if positions[-1] <= 1:
        positions = [p * line_length for p in positions]
    return [int(p) for p in positions]


def render_summary(model, line_length=None, positions=None, layer_stack=False):
    """The summary table as a string (``layer_stack``: a Sequential, listed layer by layer)."""
    rows, chain = _rows(model, layer_stack)
    columns = 3 if chain else 4
    if line_length is not None and (
        not isinstance(line_length, int) or isinstance(line_length, bool) or line_length < 40
    ):
        raise invalid("line_length", "an int >= 40", line_length)
    line_length = line_length or (88 if columns == 3 else 108)  # Keras's defaults
    edges = _edges(positions, line_length, columns)
    # each column holds its left border plus width - 1 characters; the right border closes the line
    widths = [b - a - 1 for a, b in zip([0, *edges[:-1]], edges)]
    widths[-1] -= 1
    if any(w < 5 for w in widths):
        raise invalid("positions", "columns at least 6 characters wide", positions)
    headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")[:columns]

    def line(left, mid, right, fill):
        return left + mid.join(fill * w for w in widths) + right

    def cells(values, edge="│"):
        parts = []
        for i, (value, width) in enumerate(zip(values, widths)):
            value = value if len(value) <= width - 2 else value[: width - 3] + "…"
            parts.append(f" {value.rjust(width - 2) if i == 2 else value.ljust(width - 2)} ")
        return edge + edge.join(parts) + edge

    out = [f'Model: "{model.name}"', line("┏", "┳", "┓", "━"), cells(headers, "┃"), line("┡", "╇", "┩", "━")]
    for i, (name, shape, params, connected) in enumerate(rows):
        first = (name, shape, params, connected[0] if connected else "")[:columns]
        out.append(cells(first))
        for extra in connected[1:] if columns == 4 else ():
            out.append(cells(("", "", "", extra)))
        if i < len(rows) - 1:
            out.append(line("├", "┼", "┤", "─"))
    out.append(line("└", "┴", "┘", "─"))
    size = max({w.dtype.itemsize for w in model.weights} or {4})
    total = model.count_params()
    trainable = int(sum(w.value.size for w in model.trainable_weights))
    for label, count in (("Total", total), ("Trainable", trainable), ("Non-trainable", total - trainable)):
        out.append(f" {label} params: {count:,} ({_format_bytes(count * size)})")
    return "\n".join(out)
