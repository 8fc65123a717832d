"""Convolution geometry, explained: every pad and length, why, drawn and translated.

``npconv.explain(...)`` (this module is callable) and
``npconv.explain.explain(...)`` return an :class:`Explanation`: one
:class:`DimensionExplanation` per spatial axis with the pads, the reason for
them, the output length with its formula written out, and for every output
position the input positions it reads. ``npconv.explain(layer, shape)`` takes
a conv layer object too, and Sequential models have ``model.explain()``.

Renderers only render that data: :func:`render_text` (a table, the formulas
and ASCII strips), :func:`render_svg` (conv-arithmetic-style pictures), and
:func:`npconv.translate.translate` (the same op in PyTorch, ONNX or JAX). The
inverse question is :func:`solve`; the article's rules beside the true
ones are :func:`article_rules`.

The renderers, the solver and the article load on first use: together they
add over 100 ms to the import (text ~10, svg ~80, article ~20, solver ~5,
measured after ``import npconv.explain``), which ``npconv.explain(...)``
itself does not need.
"""

from __future__ import annotations

import sys
import types

from ..geometry import Formula
from .data import LAYER_NAMES, LayerKind, explain, explain_layer, explain_model, layer_kind
from .result import DimensionExplanation, Explanation, ModelExplanation, ModelStep, Tap, Window, Windows

__all__ = [
    "LAYER_NAMES",
    "DimensionExplanation",
    "Explanation",
    "Formula",
    "LayerKind",
    "ModelExplanation",
    "ModelStep",
    "Tap",
    "Window",
    "Windows",
    "article_rules",
    "explain",
    "explain_layer",
    "explain_model",
    "layer_kind",
    "render_article",
    "render_svg",
    "render_text",
    "solve",
]


def render_text(explanation, **options) -> str:
    """Text for an :class:`Explanation` or a :class:`ModelExplanation`.

    Args:
        explanation: what :func:`explain` or :func:`explain_model` returned.
        **options: for an :class:`Explanation`, ``diagram`` (default True:
            draw the ASCII strips), ``max_rows`` and ``max_columns`` (how much
            of a strip to draw); for a model, ``detail`` (each conv in full).

    Returns:
        The text, ending with a newline.
    """
    from . import text  # reason: import time, ~10 ms

    if isinstance(explanation, ModelExplanation):
        return text.render_model(explanation, **options)
    return text.render_explanation(explanation, **options)


def render_svg(explanation, **options) -> str:
    """An SVG document (a string) drawing an :class:`Explanation`.

    Args:
        explanation: what :func:`explain` returned; every spatial size known,
            at most 128 cells per axis.
        **options: ``positions`` (output positions to draw; the corners by
            default), ``animate`` (one panel whose window visits every output
            position), ``cell`` (pixels per cell), ``duration`` (seconds per
            position when animated).

    Returns:
        The SVG document. Raises ValueError when the picture would be too big.
    """
    from .svg import render_svg as _render  # reason: import time, ~80 ms

    return _render(explanation, **options)


def solve(input_length, target_length, transposed=False, **limits):
    """Settings that map ``input_length`` to ``target_length``, simplest first.

    Args:
        input_length: the length going in.
        target_length: the length wanted out.
        transposed: search transposed convs (decoders) instead of forward ones.
        **limits: ``max_kernel``, ``max_stride``, ``max_dilation``,
            ``max_pad`` and ``limit`` (see :func:`npconv.explain.solver.solve`).

    Returns:
        A list of :class:`npconv.explain.solver.Setting`, plainest first.

    Example:
        >>> solve(23, 12)[0].keras_arguments()
        "kernel_size=3, strides=2, padding='same'"
    """
    from .solver import solve as _solve  # reason: import time, ~5 ms

    return _solve(input_length, target_length, transposed=transposed, **limits)


def article_rules():
    """The article's rules beside the true ones, with counts over the sweep.

    Returns:
        A list of :class:`npconv.explain.article.RuleCheck`.
    """
    from .article import article_rules as _rules  # reason: import time, ~20 ms

    return _rules()


def render_article(**options) -> str:
    """The article's rules beside the truth, as text (``npconv explain --article``).

    Args:
        **options: ``style`` and ``diagram``, see
            :func:`npconv.explain.article.render_article`.
    """
    from .article import render_article as _render  # reason: import time, ~20 ms

    return _render(**options)


class _CallableModule(types.ModuleType):
    """Lets ``npconv.explain(...)`` call :func:`explain` while
    ``npconv.explain.solve`` etc. stay reachable."""

    def __call__(self, *args, **kwargs):
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
