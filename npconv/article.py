"""The article's rules for Conv2D and Conv2DTranspose, set beside the truth.

The article ("How to use the convolution layer Conv2D in Keras") worked its
rules out by experiment. Each rule here is the article's claim as a function,
the true rule is asked of :mod:`npconv.geometry`, and :func:`check_rules`
counts where they disagree over a sweep of square inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

from . import geometry

# The sweep: input n = 1..9, kernel k = 1..5, stride s = 1..4 (180 cases).
SWEEP = (range(1, 10), range(1, 6), range(1, 5))


@dataclass(frozen=True)
class Rule:
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
    rule: Rule
    cases: int
    wrong: int
    example: tuple | None  # (n, k, s, article value, true value) of one wrong case


def check_rules(sweep=SWEEP):
    """Each rule checked over every (n, k, s) of the sweep."""
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
