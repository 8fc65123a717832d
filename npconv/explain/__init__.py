"""Convolution geometry, explained: every pad and length, why, drawn and translated.

``npconv.explain(...)`` (this module is callable) and
``npconv.explain.explain(...)`` return an :class:`Explanation`: one
:class:`DimensionExplanation` per spatial axis with the pads, the reason for
them, the output length with its formula written out, and for every output
position the input positions it reads. Layers have ``layer.explain(shape)`` and
Sequential models ``model.explain()``.

Renderers only render that data: :func:`render_text` (a table, the formulas
and ASCII strips), :func:`render_svg` (conv-arithmetic-style pictures), and
:func:`npconv.translate.translate` (the same op in PyTorch, ONNX or JAX). The
inverse question is :func:`solve`; the article's rules beside the true
ones are :func:`article_rules`.

Only pure-Python geometry is imported here; renderers load on first use.
"""

from __future__ import annotations

import sys
import types

from .data import (
    LAYER_NAMES,
    DimensionExplanation,
    Explanation,
    Formula,
    LayerKind,
    ModelExplanation,
    ModelStep,
    Tap,
    Window,
    explain,
    explain_layer,
    explain_model,
    layer_kind,
)

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
    """Text for an :class:`Explanation` or a :class:`ModelExplanation`."""
    from . import text

    if isinstance(explanation, ModelExplanation):
        return text.render_model(explanation, **options)
    return text.render_explanation(explanation, **options)


def render_svg(explanation, **options) -> str:
    """An SVG document (a string) drawing an :class:`Explanation`."""
    from .svg import render_svg as _render

    return _render(explanation, **options)


def solve(input_length, target_length, transposed=False, **limits):
    """Settings that map ``input_length`` to ``target_length``, simplest first.
    See :func:`npconv.explain.solver.solve`."""
    from .solver import solve as _solve

    return _solve(input_length, target_length, transposed=transposed, **limits)


def article_rules():
    """The article's rules beside the true ones, with counts over the
    sweep. See :func:`npconv.explain.article.article_rules`."""
    from .article import article_rules as _rules

    return _rules()


def render_article(**options) -> str:
    from .article import render_article as _render

    return _render(**options)


class _CallableModule(types.ModuleType):
    """Lets ``npconv.explain(...)`` call :func:`explain` while
    ``npconv.explain.solve`` etc. stay reachable."""

    def __call__(self, *args, **kwargs):
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
