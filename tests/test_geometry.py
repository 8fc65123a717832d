"""npconv.geometry against independent formulas, definitions and the article's table.

Expected values never come from npconv.geometry itself: they come from
``naive`` (Keras's rules written out, and window counting straight from the
definition) or are typed in from what Keras prints for the article's experiments.
"""

import itertools
import math

import naive
import pytest

from npconv import geometry

NS, KS, SS, DS = range(1, 10), range(1, 6), range(1, 5), range(1, 4)
SWEEP = list(itertools.product(NS, KS, SS, DS))  # 9*5*4*3 = 540 cases
ARTICLE_SWEEP = list(itertools.product(range(1, 10), range(1, 6), range(1, 5)))  # 180 cases, d = 1


def count_windows(n, pads, k, s, d):
    """Output length by definition: positions o >= 0 whose last tap fits."""
    padded = n + pads[0] + pads[1]
    return sum(1 for o in range(padded + 1) if o * s + (k - 1) * d < padded)


# --------------------------------------------------------------------------
# forward convolution
# --------------------------------------------------------------------------
def test_effective_kernel_size():
    for k, d in itertools.product(KS, DS):
        assert geometry.effective_kernel_size(k, d) == k + (k - 1) * (d - 1)
    assert geometry.effective_kernel_size(3) == 3


@pytest.mark.parametrize("padding", ["valid", "same", "causal", "full"])
def test_conv_padding_matches_keras_formulas(padding):
    for n, k, s, d in SWEEP:
        assert geometry.conv_padding(n, k, s, padding, d) == naive.keras_conv_pads(n, k, s, d, padding), (n, k, s, d)


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_conv_output_length_matches_keras_formulas(padding):
    for n, k, s, d in SWEEP:
        expected = naive.keras_conv_length(n, k, s, d, padding)
        assert geometry.conv_output_length(n, k, s, padding, d) == expected, (n, k, s, d)


@pytest.mark.parametrize("padding", ["valid", "same", "causal", "full", (0, 0), (2, 1), (0, 3), (4, 4)])
def test_conv_output_length_counts_windows(padding):
    """For every padding whose windows exist, the length is the number of windows."""
    for n, k, s, d in SWEEP:
        pads = geometry.conv_padding(n, k, s, padding, d)
        length = geometry.conv_output_length(n, k, s, padding, d)
        if length > 0:
            assert length == count_windows(n, pads, k, s, d), (n, k, s, d, padding)
        else:
            assert count_windows(n, pads, k, s, d) == 0


def test_explicit_pairs_pass_through():
    assert geometry.conv_padding(7, 3, 2, (2, 5), 1) == (2, 5)
    assert geometry.conv_padding(None, 3, 2, (2, 5), 1) == (2, 5)


def test_same_stride_one_keeps_length():
    for n, k, _, d in SWEEP:
        assert geometry.conv_output_length(n, k, 1, "same", d) == n


def test_same_gives_ceil_n_over_s():
    for n, k, s, d in SWEEP:
        assert geometry.conv_output_length(n, k, s, "same", d) == math.ceil(n / s)
        assert geometry.conv_output_length(n, k, s, "causal", d) == math.ceil(n / s)


def test_same_puts_the_odd_pixel_after():
    for n, k, s, d in SWEEP:
        before, after = geometry.conv_padding(n, k, s, "same", d)
        assert after - before in (0, 1)


def test_unknown_length_stays_unknown():
    assert geometry.conv_output_length(None, 3, 2, "same", 1) is None
    assert geometry.conv_output_length(None, 3, 2, "valid", 1) is None
    assert geometry.conv_padding(None, 3, 2, "same", 1) is None
    assert geometry.conv_padding(None, 3, 1, "valid", 1) == (0, 0)
    assert geometry.conv_transpose_output_length(None, 3, 2, "same", None, 1) is None


def test_valid_too_small_is_not_positive():
    assert geometry.conv_output_length(2, 3, 1, "valid", 1) <= 0
    assert geometry.conv_output_length(4, 3, 1, "valid", 2) <= 0


# --------------------------------------------------------------------------
# transposed convolution
# --------------------------------------------------------------------------
def output_paddings(s):
    return [None, *range(s)]


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_transpose_output_length_matches_keras_formulas(padding):
    for n, k, s, d in SWEEP:
        for op in output_paddings(s):
            expected = naive.keras_transpose_length(n, k, s, d, padding, op)
            got = geometry.conv_transpose_output_length(n, k, s, padding, op, d)
            assert got == expected, (n, k, s, d, op)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_transpose_padding_matches_keras_crops(padding):
    """Pads on the zero-inserted input are (k_eff - 1) minus the crop of the full output."""
    for n, k, s, d in SWEEP:
        ke = (k - 1) * d + 1
        for op in output_paddings(s):
            crop_before, crop_after = naive.keras_transpose_crops(n, k, s, d, padding, op)
            assert geometry.conv_transpose_padding(n, k, s, padding, op, d) == (
                ke - 1 - crop_before,
                ke - 1 - crop_after,
            )


@pytest.mark.parametrize("padding", [(0, 0), (1, 0), (1, 2), (3, 3), "full"])
def test_conv_transpose_explicit_padding_crops_the_full_output(padding):
    """PyTorch's convention: an explicit pair (or 'full') is the forward conv's
    padding; that much is removed from each end, then output_padding is added."""
    for n, k, s, d in SWEEP:
        ke = (k - 1) * d + 1
        crop = (ke - 1, ke - 1) if padding == "full" else padding
        for op in [None, *range(s)]:
            expected = (n - 1) * s + ke - crop[0] - crop[1] + (op or 0)
            assert geometry.conv_transpose_output_length(n, k, s, padding, op, d) == expected


def test_transposed_same_without_output_padding_gives_n_times_s():
    for n, k, s, d in SWEEP:
        assert geometry.conv_transpose_output_length(n, k, s, "same", None, d) == n * s


def test_transposed_valid_without_output_padding():
    for n, k, s, d in SWEEP:
        ke = (k - 1) * d + 1
        assert geometry.conv_transpose_output_length(n, k, s, "valid", None, d) == (n - 1) * s + max(ke, s)


def test_transposed_inverts_forward_length():
    """A transposed conv maps back to an input length the forward conv maps from."""
    for n, k, s, d in SWEEP:
        for padding in ("valid", "same"):
            for op in output_paddings(s):
                if padding == "same" and op is not None and ((k - 1) * d + 1) % 2 + op == 0:
                    continue  # (n - 1)*s: the one case that maps back to n - 1
                m = geometry.conv_transpose_output_length(n, k, s, padding, op, d)
                assert geometry.conv_output_length(m, k, s, padding, d) == n, (n, k, s, d, padding, op)


def test_keras_9883():
    """k=3, s=2, same: input 12 comes from 23 or 24; output_padding picks which."""
    assert geometry.conv_transpose_output_length(12, 3, 2, "same", 0, 1) == 23
    assert geometry.conv_transpose_output_length(12, 3, 2, "same", None, 1) == 24
    assert geometry.conv_transpose_output_length(12, 3, 2, "same", 1, 1) == 24
    assert geometry.conv_output_length(23, 3, 2, "same", 1) == 12
    assert geometry.conv_output_length(24, 3, 2, "same", 1) == 12
    assert geometry.output_padding_for_target(12, 3, 2, "same", 1, 23) == 0
    assert geometry.output_padding_for_target(12, 3, 2, "same", 1, 24) is None


def test_same_with_zero_output_padding_and_even_kernel():
    """The case the TF backend rejects at run time: length (n - 1)*s."""
    for n, s in itertools.product(NS, SS):
        assert geometry.conv_transpose_output_length(n, 4, s, "same", 0, 1) == (n - 1) * s


@pytest.mark.parametrize("padding", ["valid", "same", "full", (1, 0)])
def test_output_padding_for_target_round_trips(padding):
    for n, k, s, d in SWEEP:
        reachable = set()
        for op in output_paddings(s):
            target = geometry.conv_transpose_output_length(n, k, s, padding, op, d)
            reachable.add(target)
            chosen = geometry.output_padding_for_target(n, k, s, padding, d, target)
            assert chosen is None or 0 <= chosen < s
            assert geometry.conv_transpose_output_length(n, k, s, padding, chosen, d) == target
        # None is preferred whenever it reaches the target.
        default = geometry.conv_transpose_output_length(n, k, s, padding, None, d)
        assert geometry.output_padding_for_target(n, k, s, padding, d, default) is None
        for target in (max(reachable) + 1, min(reachable) - 1):
            with pytest.raises(ValueError, match=r"`output_shape`.*" + f"target length {target}"):
                geometry.output_padding_for_target(n, k, s, padding, d, target)


def test_unreachable_target_message_lists_reachable_lengths():
    with pytest.raises(ValueError, match=r"`output_shape`.*\[23, 24\].*Received: target length 25"):
        geometry.output_padding_for_target(12, 3, 2, "same", 1, 25)


def test_transpose_target_range():
    assert geometry.transpose_target_range(12, 3, 2, "same", 1) == [(23, 0), (24, None)]
    assert geometry.transpose_target_range(5, 1, 3, "valid", 1) == [(13, 0), (14, 1), (15, None)]


# --------------------------------------------------------------------------
# the article: what Keras prints for its experiments
# --------------------------------------------------------------------------
KERAS_TABLE = {
    # (layer, padding, stride): (output for 5x5, output for 6x6), kernel 3
    ("Conv2D", "valid", 1): (3, 4),
    ("Conv2D", "valid", 2): (2, 2),
    ("Conv2D", "valid", 3): (1, 2),
    ("Conv2D", "same", 1): (5, 6),
    ("Conv2D", "same", 2): (3, 3),
    ("Conv2D", "same", 3): (2, 2),
    ("Conv2DTranspose", "valid", 1): (7, 8),
    ("Conv2DTranspose", "valid", 2): (11, 13),
    ("Conv2DTranspose", "valid", 3): (15, 18),
    ("Conv2DTranspose", "same", 1): (5, 6),
    ("Conv2DTranspose", "same", 2): (10, 12),
    ("Conv2DTranspose", "same", 3): (15, 18),
}


@pytest.mark.parametrize("case", sorted(KERAS_TABLE))
def test_notes_table(case):
    layer, padding, stride = case
    for n, expected in zip((5, 6), KERAS_TABLE[case]):
        if layer == "Conv2D":
            assert geometry.conv_output_length(n, 3, stride, padding, 1) == expected
        else:
            assert geometry.conv_transpose_output_length(n, 3, stride, padding, None, 1) == expected


def test_article_valid_and_same_rules_are_right():
    for n, k, s in ARTICLE_SWEEP:
        assert geometry.conv_output_length(n, k, s, "valid", 1) == math.ceil((n - (k - 1)) / s)
        assert geometry.conv_output_length(n, k, s, "same", 1) == math.ceil(n / s)
        assert geometry.conv_transpose_output_length(n, k, s, "same", None, 1) == n * s


def test_article_same_padding_rule_is_wrong_in_39_cases():
    """The article pads floor((k-1)/2) top/left and ceil((k-1)/2) bottom/right.

    Over the sweep (180 cases) the top/left pad is wrong in 39 cases, the
    bottom/right pad in 46, and the pair in 64 (all with s > 1; with s = 1 the
    article is right).
    """
    wrong_before = wrong_after = wrong_pair = 0
    for n, k, s in ARTICLE_SWEEP:
        article = ((k - 1) // 2, math.ceil((k - 1) / 2))
        true = geometry.conv_padding(n, k, s, "same", 1)
        wrong_before += article[0] != true[0]
        wrong_after += article[1] != true[1]
        wrong_pair += article != true
        if s == 1:
            assert article == true
    assert wrong_before == 39
    assert (wrong_after, wrong_pair) == (46, 64)


def test_article_transposed_valid_rule_is_wrong_in_54_cases():
    wrong = set()
    for n, k, s in ARTICLE_SWEEP:
        if geometry.conv_transpose_output_length(n, k, s, "valid", None, 1) != (n - 1) * s + k:
            wrong.add((n, k, s))
    assert len(wrong) == 54
    assert wrong == {(n, k, s) for n, k, s in ARTICLE_SWEEP if k < s}
