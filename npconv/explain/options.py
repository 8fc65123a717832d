"""``npconv explain``'s options, shared by the command line and the explorer's
query string (``npconv explain --serve``): one parser, one way from parsed
options to an :class:`npconv.explain.Explanation`."""

from __future__ import annotations

import argparse

from .data import explain, layer_kind

MISSING = object()  # --input not given (``--input None`` is an unknown size)


def _sizes(text, minimum=1):
    """'5x5' -> (5, 5); '5' -> 5; 'None' or '?' marks an unknown size."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        values = tuple(None if p in ("none", "?") else int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 5 or 5x5, got {text!r}") from None
    if any(v is not None and v < minimum for v in values):
        raise argparse.ArgumentTypeError(f"sizes must be {'positive' if minimum else '0 or more'}, got {text!r}")
    return values[0] if len(values) == 1 else values


def _output_padding(text):
    """As :func:`_sizes`, but 0 is allowed: output_padding=0 differs from None."""
    return _sizes(text, minimum=0)


def _padding(text):
    """'same', '2', '1,2' (per dimension; for a 1-D layer the (before, after) pair)
    or '1:2,0:1' ((before, after) per dimension)."""
    if text.lower() in ("valid", "same", "causal", "full"):
        return text.lower()
    try:
        items = [tuple(int(v) for v in part.split(":")) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected valid, same, causal, full, an int, '1,2' or '1:2,0:1', got {text!r}"
        ) from None
    if len(items) == 1 and len(items[0]) == 1:
        return items[0][0]
    return tuple(item[0] if len(item) == 1 else item for item in items)


def add_arguments(parser):
    parser.add_argument("layer", nargs="?", help="conv1d/2d/3d, conv2dtranspose, depthwiseconv2d, separableconv1d, ...")
    parser.add_argument(
        "--input", type=_sizes, default=MISSING, help="spatial input size, e.g. 5 or 5x5 (None for unknown)"
    )
    parser.add_argument("--kernel", type=_sizes, help="kernel size, e.g. 3 or 3x2")
    parser.add_argument("--strides", type=_sizes, default=1)
    parser.add_argument(
        "--padding",
        type=_padding,
        default="valid",
        help="valid, same, causal, full, an int, one int per axis (1,2), or (before, after) per axis (1:2,0:1); "
        "for a 1-D layer 1,2 is the (before, after) pair",
    )
    parser.add_argument("--dilation", type=_sizes, default=1, help="dilation_rate")
    parser.add_argument("--output-padding", type=_output_padding, help="transposed convs: output_padding (< strides)")
    parser.add_argument("--output-shape", type=_sizes, help="transposed convs: target spatial size")
    parser.add_argument("--padding-mode", default="zeros", help="zeros, reflect, replicate or circular")
    parser.add_argument("--data-format", help="channels_last (default) or channels_first")
    parser.add_argument("--groups", type=int, default=1)
    parser.add_argument("--depth-multiplier", type=int, default=1)
    parser.add_argument("--to", choices=("torch", "onnx", "jax"), help="print the equivalent call in another framework")
    parser.add_argument("--svg", metavar="FILE", help="write the geometry as an SVG picture")
    parser.add_argument("--animate", action="store_true", help="with --svg: an animated SVG of the sliding window")
    parser.add_argument("--solve", action="store_true", help="list settings that map --input to --target")
    parser.add_argument("--transposed", action="store_true", help="with --solve: transposed convs")
    parser.add_argument("--target", type=int, help="with --solve: the output length wanted")
    parser.add_argument("--article", action="store_true", help="the article's rules beside the true ones")
    parser.add_argument("--html", metavar="FILE", help="write a self-contained page for this configuration")
    parser.add_argument("--serve", action="store_true", help="the interactive padding explorer, in the browser")
    parser.add_argument("--host", default="127.0.0.1", help="with --serve: the address to bind")
    parser.add_argument("--port", type=int, default=0, help="with --serve: the port (0 picks a free one)")
    parser.add_argument("--open", action="store_true", help="with --serve: open the page in the default browser")


def build_explanation(args):
    """The :class:`npconv.explain.Explanation` that parsed ``npconv explain``
    options describe; the explorer's server parses its queries the same way."""
    if args.layer is None or args.input is MISSING or args.kernel is None:
        raise ValueError("give a layer, --input and --kernel, e.g. npconv explain conv2d --input 5x5 --kernel 3")
    kind = layer_kind(args.layer)
    if isinstance(args.input, tuple) and len(args.input) != kind.rank:
        example = "x".join(["5"] * kind.rank)
        raise ValueError(
            f"--input gives spatial sizes only: {kind.name} has {kind.rank} spatial "
            f"ax{'is' if kind.rank == 1 else 'es'}, so give 1 or {kind.rank} sizes (e.g. --input {example}). "
            f"Received: --input {'x'.join(str(v) for v in args.input)}"
        )
    padding = args.padding
    if isinstance(padding, tuple) and len(padding) == 2 and all(isinstance(p, int) for p in padding):
        if kind.rank == 1:
            padding = (padding,)  # one axis: '1,2' is its (before, after) pair
    return explain(
        args.layer,
        args.input,
        args.kernel,
        strides=args.strides,
        padding=padding,
        dilation_rate=args.dilation,
        output_padding=args.output_padding,
        output_shape=args.output_shape,
        groups=args.groups,
        depth_multiplier=args.depth_multiplier,
        data_format=args.data_format,
        padding_mode=args.padding_mode,
    )
