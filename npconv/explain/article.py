"""The seed article's rules beside the true ones, rendered for ``npconv demo``
and ``npconv explain --article``. The rules and the sweep are in
:mod:`npconv.article`; this module only renders them."""

from __future__ import annotations

from ..article import SWEEP, check_rules


def article_rules():
    """One :class:`npconv.article.RuleCheck` per rule: counts over the sweep and one wrong case."""
    return check_rules()


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
        out.append("")
    if diagram:
        out += _wrong_case_diagram(style)
    return "\n".join(out)


def _wrong_case_diagram(style):
    """The article's own experiment size (5x5, k=3) with stride 2 under 'same'
    is right; n=6, k=3, s=2 is a case the article gets wrong: it pads 1 on
    the top/left, Keras pads 0 there and 1 after."""
    from . import explain, render_text

    e = explain("conv1d", 6, 3, strides=2, padding="same")  # one axis of a 6x6 Conv2D
    return [
        style.bold("One case the article gets wrong: one axis of a 6x6 Conv2D, k=3, s=2, padding='same'"),
        "The article pads floor((k-1)/2) = 1 before. Keras's total is max((3-1)*2 + 3 - 6, 0) = 1,",
        "and the odd pixel goes after: 0 before, 1 after. Every window starts one pixel later.",
        "",
        render_text(e),
    ]


class _Plain:
    def bold(self, text):
        return text

    red = green = dim = bold
