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

import os

from .. import explain as explain_module
from .. import geometry
from ..explain.options import MISSING as _MISSING
from ..explain.options import add_arguments, build_explanation  # noqa: F401  (the subcommand's arguments)
from ..saving.atomic import atomic_write


def run(args):
    if args.article:
        from ..explain.article import render_article  # reason: import time, ~20 ms, only for --article

        print(render_article())
        return 0
    if args.solve:
        return _solve(args)
    if args.serve:
        from ..explain.serve import serve  # reason: import time, ~150 ms (http.server), only for --serve

        return serve(args.host, args.port, open_browser=args.open)
    if args.animate and not args.svg:
        raise ValueError("--animate draws the --svg picture: give --svg FILE too, e.g. --svg conv.svg --animate")
    explanation = build_explanation(args)
    if args.html:
        from ..explain.serve import write_html  # reason: import time, ~150 ms (http.server), only for --html

        write_html(args.html, explanation, to=args.to or "torch")
        print(f"wrote {args.html}")
        return 0
    if args.to:
        from ..translate import render_translation, translate  # reason: import time, ~40 ms, only for --to

        print(render_translation(translate(explanation, args.to)), end="")
        return 0
    if args.svg:  # drawn and written first, so a refusal is all that is printed
        _write_text(args.svg, explain_module.render_svg(explanation, animate=args.animate))
    print(explain_module.render_text(explanation))
    if args.svg:
        print(f"wrote {args.svg}")
    return 0


def _write_text(path, text):
    """Write ``text`` to ``path`` atomically; a path that cannot be written is
    a ValueError (one line, exit status 2) and leaves any old file as it was."""
    if os.path.exists(path) and not os.path.isfile(path):
        what = "a directory" if os.path.isdir(path) else "not a regular file"
        raise ValueError(f"cannot write {path!r}: it is {what}. Give a file path, e.g. --svg conv.svg")
    try:
        with atomic_write(path, "w") as file:
            file.write(text)
    except OSError as error:
        raise ValueError(f"cannot write {path!r}: {error.strerror or error}") from None


def _solve(args):
    from ..explain.solver import solve  # reason: import time, ~5 ms, only for --solve

    if args.input is _MISSING or args.input is None or args.target is None:
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
