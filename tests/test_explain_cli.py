"""`npconv explain` details beyond tests/test_cli.py: padding pairs on 1-D
layers, the decoder hint of --solve, --to onnx/jax, the article's diagram, and
which SVG taps read real inputs. Expected numbers are typed in by hand."""

import itertools
import xml.etree.ElementTree as ET

import pytest

import npconv
from npconv.cli.main import main
from npconv.explain import render_svg

SVG_NS = "{http://www.w3.org/2000/svg}"


def run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_one_axis_padding_pair(capsys):
    # conv1d n=6 k=3 s=2 pads (1, 2): floor((6 + 3 - 3) / 2) + 1 = 4
    code, out, _ = run(
        ["explain", "conv1d", "--input", "6", "--kernel", "3", "--strides", "2", "--padding", "1,2"], capsys
    )
    assert code == 0
    assert out.splitlines()[0] == "Conv1D: input (6,) -> output (4,)"
    assert "padding=((1, 2),)" in out


def test_two_axis_padding_forms(capsys):
    code, out, _ = run(["explain", "conv2d", "--input", "6", "--kernel", "3", "--padding", "1,2"], capsys)
    assert code == 0 and "padding=((1, 1), (2, 2))" in out and "-> output (6, 8)" in out
    code, out, _ = run(["explain", "conv2d", "--input", "6", "--kernel", "3", "--padding", "0:1,2:0"], capsys)
    assert code == 0 and "padding=((0, 1), (2, 0))" in out and "-> output (5, 6)" in out


def test_solve_names_the_matching_decoder(capsys):
    code, out, _ = run(["explain", "--solve", "--input", "23", "--target", "12"], capsys)
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert "maps 12 back to 23 with output_padding=0" in last
    code, out, _ = run(["explain", "--solve", "--transposed", "--input", "12", "--target", "23"], capsys)
    assert code == 0 and "maps 23 back to 12" in out.strip().splitlines()[-1]
    layer = npconv.layers.Conv1DTranspose(1, 3, 2, "same", output_padding=0)
    assert layer.compute_output_shape((None, 12, 1)) == (None, 23, 1)


@pytest.mark.parametrize(
    "framework, expected",
    [
        ("onnx", ['helper.make_node("Conv"', "pads=[1, 0, 1, 1]", "SAME_LOWER"]),
        ("jax", ["lax.conv_general_dilated", "padding=[(1, 1), (0, 1)]", "('NHWC', 'HWIO', 'NHWC')"]),
        ("torch", ["F.pad(x, (0, 1, 1, 1))", "torch.nn.ZeroPad2d((0, 1, 1, 1))", "pytorch#3867"]),
    ],
)
def test_to_other_frameworks(framework, expected, capsys):
    argv = ["explain", "conv2d", "--input", "5x6", "--kernel", "3", "--strides", "2", "--padding", "same"]
    code, out, _ = run(argv + ["--to", framework], capsys)
    assert code == 0
    for text in expected:
        assert text in out


def test_article_draws_both_rules(capsys):
    code, out, _ = run(["explain", "--article"], capsys)
    assert code == 0
    assert "the (before, after) pair is wrong in 64 of 180" in out
    assert "what the article says, pads (1, 1):" in out and "what Keras does, pads (0, 1):" in out
    # the article's first window reads the pad; Keras's reads x0 x1 x2
    assert "reads pad x0 x1   (1 pad)" in out and "reads x0 x1 x2" in out


def test_article_pair_count_by_hand():
    from npconv.explain.article import same_pad_pair_wrong

    # same pads by hand: total = max((ceil(n/s) - 1)*s + k - n, 0), before = total // 2
    wrong = 0
    for n, k, s in itertools.product(range(1, 10), range(1, 6), range(1, 5)):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        wrong += (total // 2, total - total // 2) != ((k - 1) // 2, k // 2)
    assert same_pad_pair_wrong() == (wrong, 180) == (64, 180)


def test_svg_taps_on_inputs_are_solid():
    """conv2dtranspose 3x3 k3 s2 same: output [0, 0] reads only x(0, 0), with w(0, 0)."""
    e = npconv.explain("conv2dtranspose", (3, 3), 3, 2, "same")
    root = ET.fromstring(render_svg(e, positions=[(0, 0)]))
    taps = [r for r in root.iter(f"{SVG_NS}rect") if r.get("class", "").startswith("tap")]
    kinds = [r.get("class") for r in taps]
    assert kinds.count("tap hit") == 1 + 1  # one tap on x(0, 0), plus the legend swatch
    assert kinds.count("tap miss") == 8 and kinds.count("tap result") == 1
    labels = [t.text for t in root.iter(f"{SVG_NS}text") if t.get("class") == "value"]
    assert labels == ["w0,0"]
