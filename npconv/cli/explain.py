"""``npconv explain``: render what :mod:`npconv.explain` computes.

npconv explain conv2d --input 5x5 --kernel 3 --strides 2 --padding same
npconv explain conv2dtranspose --input 5 --kernel 3 --strides 2 --padding same --output-padding 1
npconv explain conv2d --input 5x5 --kernel 3 --strides 2 --padding same --to torch
npconv explain conv2d --input 6x6 --kernel 3 --strides 2 --padding same --svg out.svg
npconv explain --solve --input 23 --target 12
npconv explain --solve --transposed --input 12 --target 23
npconv explain --article
npconv explain --serve                       # the padding explorer in the browser
npconv explain conv2d --input 6x6 --kernel 3 --strides 2 --padding same --html page.html
"""

from __future__ import annotations

import argparse


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
    parser.add_argument("--input", type=_sizes, help="spatial input size, e.g. 5 or 5x5 (None for unknown)")
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
    parser.add_argument("--article", action="store_true", help="the seed article's rules beside the true ones")
    parser.add_argument("--html", metavar="FILE", help="write a self-contained page for this configuration")
    parser.add_argument("--serve", action="store_true", help="the interactive padding explorer, in the browser")
    parser.add_argument("--host", default="127.0.0.1", help="with --serve: the address to bind")
    parser.add_argument("--port", type=int, default=0, help="with --serve: the port (0 picks a free one)")
    parser.add_argument("--open", action="store_true", help="with --serve: open the page in the default browser")


def build_explanation(args):
    """The :class:`npconv.explain.Explanation` that parsed ``npconv explain``
    options describe; the explorer's server parses its queries the same way."""
    if args.layer is None or args.input is None or args.kernel is None:
        raise ValueError("give a layer, --input and --kernel, e.g. npconv explain conv2d --input 5x5 --kernel 3")
    from .. import explain as explain_module

    padding = args.padding
    if isinstance(padding, tuple) and len(padding) == 2 and all(isinstance(p, int) for p in padding):
        if explain_module.layer_kind(args.layer).rank == 1:
            padding = (padding,)  # one axis: '1,2' is its (before, after) pair
    return explain_module.explain(
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


def run(args):
    if args.article:
        from ..explain.article import render_article

        print(render_article())
        return 0
    if args.solve:
        return _solve(args)
    if args.serve:
        from ..explain.serve import serve

        return serve(args.host, args.port, open_browser=args.open)
    from .. import explain as explain_module

    explanation = build_explanation(args)
    if args.html:
        from ..explain.serve import write_html

        write_html(args.html, explanation, to=args.to or "torch")
        print(f"wrote {args.html}")
        return 0
    if args.to:
        from ..translate import render_translation, translate

        print(render_translation(translate(explanation, args.to)), end="")
        return 0
    print(explain_module.render_text(explanation))
    if args.svg:
        with open(args.svg, "w", encoding="utf-8") as file:
            file.write(explain_module.render_svg(explanation, animate=args.animate))
        print(f"wrote {args.svg}")
    return 0


def _solve(args):
    from ..explain.solver import solve

    if args.input is None or args.target is None:
        raise ValueError("--solve needs --input N and --target M, e.g. npconv explain --solve --input 23 --target 12")
    if not isinstance(args.input, int):
        raise ValueError(f"--solve works on one axis: give --input as one length. Received: --input={args.input}")
    kind = "Conv1DTranspose/Conv2DTranspose" if args.transposed else "Conv1D/Conv2D"
    settings = solve(args.input, args.target, transposed=args.transposed)
    if not settings:
        print(
            f"No {kind} setting within kernel<=7, strides<=4, dilation<=2, pads<=2 maps {args.input} to {args.target}."
        )
        return 1
    print(f"{kind} settings that map length {args.input} to {args.target}, plainest first:")
    for setting in settings:
        print(f"  {setting.keras_arguments()}")
    back = _way_back(settings[0], args.input, args.target, args.transposed)
    if back:
        print(back)
    return 0


def _way_back(setting, input_length, target, transposed):
    """For an encoder answer, the decoder with the same kernel, strides and
    padding that restores the input length (keras#9883), and vice versa."""
    from .. import geometry

    if not isinstance(setting.padding, str):
        return None
    k, s, padding, d = setting.kernel_size, setting.strides, setting.padding, setting.dilation_rate
    if transposed:
        if geometry.conv_output_length(target, k, s, padding, d) != input_length:
            return None
        return f"The matching encoder: a forward conv with the same settings maps {target} back to {input_length}."
    try:
        op = geometry.output_padding_for_target(target, k, s, padding, d, input_length)
    except ValueError:
        return None
    return (
        f"The matching decoder: the transposed conv with kernel_size={k}, strides={s}, padding={padding!r} "
        f"maps {target} back to {input_length} with output_padding={op} (or output_shape={input_length})."
    )
