"""The article's rules for Conv2D and Conv2DTranspose, set beside the truth.

The article ("How to use the convolution layer Conv2D in Keras") worked its
rules out by experiment. Each rule here is the article's claim as a function,
the true rule is asked of :mod:`npconv.geometry`, and :func:`check_rules`
counts where they disagree over a sweep of square inputs.
:func:`render_article` prints each rule beside the truth for ``npconv demo``
and ``npconv explain --article``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

from .. import geometry
from .axis import explain_forward_dim
from .text import render_strip

# The sweep: input n = 1..9, kernel k = 1..5, stride s = 1..4.
SWEEP = (range(1, 10), range(1, 6), range(1, 5))


@dataclass(frozen=True)
class Rule:
    """One of the article's rules.

    Args:
        layer: ``"Conv2D"`` or ``"Conv2DTranspose"``.
        padding: ``"valid"`` or ``"same"``.
        quantity: what the rule gives: ``"output length"`` or which pad.
        article: the article's formula, as it wrote it.
        truth: the true formula.
        article_fn: ``article_fn(n, k, s)``, the article's value.
        true_fn: ``true_fn(n, k, s)``, the true value (from :mod:`npconv.geometry`).
    """

    layer: str
    padding: str
    quantity: str  # "output length" or which pad
    article: str  # the article's formula, as it wrote it
    truth: str  # the true formula
    article_fn: object
    true_fn: object


def _conv_valid(n, k, s):
    return geometry.conv_output_length(n, k, s, "valid")


def _conv_same(n, k, s):
    return geometry.conv_output_length(n, k, s, "same")


RULES = (
    Rule(
        "Conv2D", "valid", "output length",
        "ceil((n - (k - 1)) / s)",
        "floor((n - k_eff) / s) + 1",
        lambda n, k, s: math.ceil((n - (k - 1)) / s),
        _conv_valid,
    ),
    Rule(
        "Conv2D", "same", "output length",
        "ceil(n / s)",
        "ceil(n / s)",
        lambda n, k, s: math.ceil(n / s),
        _conv_same,
    ),
    Rule(
        "Conv2D", "same", "top/left pad",
        "floor((k - 1) / 2)",
        "total // 2, where total = max((ceil(n/s) - 1)*s + k_eff - n, 0)",
        lambda n, k, s: (k - 1) // 2,
        lambda n, k, s: geometry.conv_padding(n, k, s, "same")[0],
    ),
    Rule(
        "Conv2DTranspose", "valid", "output length",
        "(n - 1)*s + k",
        "(n - 1)*s + max(k_eff, s)",
        lambda n, k, s: (n - 1) * s + k,
        lambda n, k, s: geometry.conv_transpose_output_length(n, k, s, "valid"),
    ),
    Rule(
        "Conv2DTranspose", "same", "output length",
        "n * s",
        "n * s (output_padding=None)",
        lambda n, k, s: n * s,
        lambda n, k, s: geometry.conv_transpose_output_length(n, k, s, "same"),
    ),
    Rule(
        "Conv2DTranspose", "same", "top/left pad of the zero-inserted input",
        "ceil(k / 2)",
        "min(ceil((s + k_eff - 2) / 2), k_eff - 1)",
        lambda n, k, s: math.ceil(k / 2),
        lambda n, k, s: geometry.conv_transpose_padding(n, k, s, "same")[0],
    ),
)  # fmt: skip


@dataclass(frozen=True)
class RuleCheck:
    """A :class:`Rule` checked over a sweep: ``cases`` tried, ``wrong`` where it
    disagrees with the truth, and ``example`` = (n, k, s, article value, true
    value) of one wrong case, or None."""

    rule: Rule
    cases: int
    wrong: int
    example: tuple | None  # (n, k, s, article value, true value) of one wrong case


def check_rules(sweep=SWEEP):
    """Each rule checked over every (n, k, s) of the sweep.

    Args:
        sweep: three ranges: input lengths, kernel sizes, strides.

    Returns:
        A list of :class:`RuleCheck`, one per rule of :data:`RULES`.
    """
    checks = []
    for rule in RULES:
        cases, wrong, example = 0, 0, None
        for n, k, s in product(*sweep):
            claimed, true = rule.article_fn(n, k, s), rule.true_fn(n, k, s)
            cases += 1
            if claimed != true:
                wrong += 1
                example = example or (n, k, s, claimed, true)
        checks.append(RuleCheck(rule, cases, wrong, example))
    return checks


def article_rules():
    """One :class:`RuleCheck` per rule: counts over the sweep and one wrong case."""
    return check_rules()


def same_pad_pair_wrong():
    """(wrong, cases): how often the article's Conv2D 'same' pads
    (floor((k-1)/2), ceil((k-1)/2)) differ from Keras's over the sweep."""
    cases = list(product(*SWEEP))
    wrong = sum(geometry.conv_padding(n, k, s, "same") != ((k - 1) // 2, k // 2) for n, k, s in cases)
    return wrong, len(cases)


def render_article(style=None, diagram=True) -> str:
    """Each rule beside the truth, with counts; then one wrong case drawn.

    Args:
        style: an object with ``bold``, ``red``, ``green`` and ``dim``
            methods that wrap text (ANSI colours in a terminal); plain text
            without one.
        diagram: whether to draw one wrong case as ASCII strips.
    """
    style = style or _Plain()
    n, k, s = SWEEP
    out = [
        style.bold("The article's rules, checked"),
        f"Every square input n={n.start}..{n.stop - 1}, kernel k={k.start}..{k.stop - 1}, "
        f"stride s={s.start}..{s.stop - 1} (k_eff = k here, no dilation).",
        "",
    ]
    checks = article_rules()
    for check in checks:
        rule = check.rule
        if check.wrong:
            verdict = style.red(f"WRONG in {check.wrong} of {check.cases}")
        else:
            verdict = style.green(f"right in all {check.cases}")
        out.append(f"  {rule.layer} {rule.padding}, {rule.quantity}: {verdict}")
        out.append(f"      article: {rule.article}")
        if check.wrong:
            out.append(f"      truth:   {rule.truth}")
            en, ek, es, claimed, true = check.example
            out.append(f"      e.g. n={en}, k={ek}, s={es}: article says {claimed}, Keras gives {true}")
        if rule.layer == "Conv2D" and rule.padding == "same" and "pad" in rule.quantity:
            wrong, cases = same_pad_pair_wrong()
            out.append(
                f"      the article also pads ceil((k-1)/2) on the bottom/right: the (before, after) pair "
                f"is wrong in {wrong} of {cases}"
            )
        out.append("")
    if diagram:
        out += _wrong_case_diagram(style)
    return "\n".join(out)


def _wrong_case_diagram(style):
    """The article's rule against Keras's on one axis of a 6x6 Conv2D with
    k=3, s=2, padding='same': both give 3 outputs, but the article pads
    (1, 1) and Keras (0, 1), so every window Keras runs starts one pixel later."""
    k_dim = explain_forward_dim(0, 6, 3, 2, "same")  # one axis of a 6x6 Conv2D
    a_dim = explain_forward_dim(0, 6, 3, 2, (1, 1))  # the article's floor((k-1)/2), ceil((k-1)/2)
    total = k_dim.formula("total")
    lines = [
        style.bold("One case the article gets wrong: one axis of a 6x6 Conv2D, k=3, s=2, padding='same'"),
        f"The article pads floor((k-1)/2) = {a_dim.pad_before} before and ceil((k-1)/2) = {a_dim.pad_after} after.",
        f"Keras pads only what ceil(n/s) = {k_dim.output_length} outputs need: total = {total.symbolic}",
        f"= {total.numbers} = {total.value}, and the odd pixel goes after: ({k_dim.pad_before}, {k_dim.pad_after}).",
        "Both give 3 outputs, but every window starts one pixel later in Keras.",
        "",
        f"  what the article says, pads ({a_dim.pad_before}, {a_dim.pad_after}):",
        *render_strip(a_dim, indent="    "),
        "",
        f"  what Keras does, pads ({k_dim.pad_before}, {k_dim.pad_after}):",
        *render_strip(k_dim, indent="    "),
        "",
        "  legend: number = input pixel, . = padding, # = kernel tap",
        "  Drawn in full: npconv explain conv2d --input 6x6 --kernel 3 --strides 2 --padding same",
    ]
    return lines


class _Plain:
    def bold(self, text):
        return text

    red = green = dim = bold
