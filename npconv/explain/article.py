"""The article's rules beside the true ones, rendered for ``npconv demo``
and ``npconv explain --article``. The rules and the sweep are in
:mod:`npconv.article`; this module only renders them."""

from __future__ import annotations

from ..article import SWEEP, check_rules


def article_rules():
    """One :class:`npconv.article.RuleCheck` per rule: counts over the sweep and one wrong case."""
    return check_rules()


def same_pad_pair_wrong():
    """(wrong, cases): how often the article's Conv2D 'same' pads
    (floor((k-1)/2), ceil((k-1)/2)) differ from Keras's over the sweep."""
    from itertools import product

    from .. import geometry

    cases = list(product(*SWEEP))
    wrong = sum(geometry.conv_padding(n, k, s, "same") != ((k - 1) // 2, k // 2) for n, k, s in cases)
    return wrong, len(cases)


def render_article(style=None, diagram=True) -> str:
    """Each rule beside the truth, with counts; then one wrong case drawn."""
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
    from . import explain
    from .text import render_strip

    keras = explain("conv1d", 6, 3, strides=2, padding="same")  # one axis of a 6x6 Conv2D
    article = explain("conv1d", 6, 3, strides=2, padding=((1, 1),))  # floor((k-1)/2), ceil((k-1)/2)
    (k_dim,), (a_dim,) = keras.dims, article.dims
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
