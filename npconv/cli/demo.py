"""``npconv demo``: the article's two experiments, then its rules beside the truth."""

from __future__ import annotations

import sys
import time

import numpy as np

import npconv as keras
from npconv.layers import convolutional
from npconv.models import Sequential

from ..explain.article import render_article

STRIDES = (1, 2, 3)


def add_arguments(parser):
    parser.add_argument("--input", type=int, default=5, metavar="N", help="side of the square ones input (default 5)")
    parser.add_argument("--no-color", action="store_true", help="plain text, no ANSI colours")


def run(args):
    start = time.perf_counter()
    style = _Style(enabled=sys.stdout.isatty() and not args.no_color)
    if args.input < 1:
        raise ValueError(
            f"Invalid value for argument `--input`. Expected a positive int. Received: --input={args.input}"
        )
    out = [
        style.bold("npconv demo: the article's Keras experiments, run by npconv"),
        "",
        "The article builds a Sequential model with one layer (1 filter, 3x3 kernel of ones,",
        f"relu) and feeds it np.ones([1, {args.input}, {args.input}, 1]). Here is what each setting gives.",
        "",
    ]
    for layer in ("Conv2D", "Conv2DTranspose"):
        for padding in ("valid", "same"):
            out += _experiment(layer, padding, args.input, style)
    out += _rules(style)
    out.append(style.dim(f"Done in {1000 * (time.perf_counter() - start):.0f} ms. "
                         "See any case drawn: npconv explain conv2d --input 5x5 --kernel 3 --strides 2 --padding same"))  # fmt: skip
    print("\n".join(out))
    return 0


def article_model(layer_name, padding, stride, v_input):
    """The article's code, unchanged but for the import."""
    layer_class = getattr(convolutional, layer_name)
    model = Sequential()
    model.add(
        layer_class(
            1,
            kernel_size=(3, 3),
            activation="relu",
            padding=padding,
            strides=stride,
            kernel_initializer=keras.initializers.Ones(),
            input_shape=v_input.shape[1:],
        )
    )
    return model


def _experiment(layer_name, padding, size, style):
    v_input = np.ones([1, size, size, 1])
    grids = []
    for stride in STRIDES:
        model = article_model(layer_name, padding, stride, v_input)
        y = model.predict(v_input, verbose=0)[0, :, :, 0]
        grids.append((f"strides={stride}: {y.shape[0]}x{y.shape[1]}", _grid(y)))
    title = f"{layer_name}(padding={padding!r})"
    return [style.bold(title), *_side_by_side(grids), ""]


def _grid(y):
    if y.size > 25 and np.all(y == y.flat[0]):
        return [f"(every value is {y.flat[0]:g})"]
    width = max(len(f"{v:g}") for v in y.ravel())
    return [" ".join(f"{v:g}".rjust(width) for v in row) for row in y]


def _side_by_side(blocks, gap=4):
    widths = [max(len(title), *(len(line) for line in lines)) for title, lines in blocks]
    height = max(len(lines) for _, lines in blocks)
    rows = ["  " + (" " * gap).join(title.ljust(w) for (title, _), w in zip(blocks, widths))]
    for i in range(height):
        cells = [(lines[i] if i < len(lines) else "").ljust(w) for (_, lines), w in zip(blocks, widths)]
        rows.append("  " + (" " * gap).join(cells).rstrip())
    return rows


def _rules(style):
    return [render_article(style)]


class _Style:
    def __init__(self, enabled):
        self.enabled = enabled

    def _wrap(self, code, text):
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def bold(self, text):
        return self._wrap("1", text)

    def dim(self, text):
        return self._wrap("2", text)

    def red(self, text):
        return self._wrap("31", text)

    def green(self, text):
        return self._wrap("32", text)
