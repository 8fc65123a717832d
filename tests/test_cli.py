"""The command line: `npconv demo`, `npconv explain` and their errors."""

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from npconv import geometry
from npconv.cli.main import main
from npconv.explain.solver import solve


def run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_demo_reproduces_the_article(capsys):
    code, out, _ = run(["demo", "--no-color"], capsys)
    assert code == 0
    # what the article's code prints in Keras, 5x5 input: Conv2D same strides=2 is 3x3 of 4 6 4 / 6 9 6 / 4 6 4
    assert "strides=2: 3x3" in out and "4 6 4" in out and "6 9 6" in out
    assert "strides=3: 15x15" in out and "strides=2: 11x11" in out  # transposed valid
    assert "WRONG in 39 of 180" in out and "WRONG in 54 of 180" in out
    assert "One case the article gets wrong" in out


def test_demo_is_fast_in_a_fresh_process():
    """The main job runs in a fresh interpreter (the real `npconv demo` path)."""
    result = subprocess.run([sys.executable, "-m", "npconv", "demo"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "Done in" in result.stdout and result.stderr == ""


def test_explain_text(capsys):
    code, out, _ = run(
        ["explain", "conv2d", "--input", "5x5", "--kernel", "3", "--strides", "2", "--padding", "same"], capsys
    )
    assert code == 0
    assert "Conv2D: input (5, 5) -> output (3, 3)" in out
    assert "reads pad x0 x1   (1 pad)" in out


def test_explain_transposed_output_padding(capsys):
    argv = ["explain", "conv2dtranspose", "--input", "5", "--kernel", "3", "--strides", "2"]
    code, out, _ = run(argv + ["--padding", "same", "--output-padding", "1"], capsys)
    assert code == 0 and "-> output (10, 10)" in out and "zero-inserted length" in out


def test_explain_to_torch_warns_about_the_shift(capsys):
    argv = ["explain", "conv2dtranspose", "--input", "5x5", "--kernel", "3", "--strides", "2", "--padding", "same"]
    code, out, _ = run(argv + ["--to", "torch"], capsys)
    assert code == 0 and "F.conv_transpose2d" in out and "shifts the output by 1 pixel" in out


def test_explain_svg_is_well_formed(tmp_path, capsys):
    path = tmp_path / "e.svg"
    argv = ["explain", "conv2d", "--input", "6x6", "--kernel", "3", "--strides", "2", "--padding", "same"]
    code, _, _ = run(argv + ["--svg", str(path), "--animate"], capsys)
    assert code == 0
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")


@pytest.mark.parametrize("transposed", [False, True])
def test_solve_answers_meet_the_target(transposed, capsys):
    n, target = (12, 23) if transposed else (23, 12)
    argv = ["explain", "--solve", "--input", str(n), "--target", str(target)] + (["--transposed"] if transposed else [])
    code, out, _ = run(argv, capsys)
    assert code == 0 and "kernel_size=3, strides=2, padding='same'" in out.splitlines()[1]
    for s in solve(n, target, transposed=transposed):
        if transposed:
            length = geometry.conv_transpose_output_length(
                n, s.kernel_size, s.strides, s.padding, s.output_padding, s.dilation_rate
            )
        else:
            length = geometry.conv_output_length(n, s.kernel_size, s.strides, s.padding, s.dilation_rate)
        assert length == target


def test_explain_article(capsys):
    code, out, _ = run(["explain", "--article"], capsys)
    assert code == 0 and "WRONG in 39 of 180" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["explain", "conv2d", "--input", "5xa", "--kernel", "3"], "argument --input"),
        (["explain", "conv9d", "--input", "5", "--kernel", "3"], "argument `layer`"),
        (
            ["explain", "conv2dtranspose", "--input", "5", "--kernel", "3", "--strides", "2", "--output-padding", "2"],
            "`output_padding`",
        ),
        (["explain", "conv2d", "--input", "2", "--kernel", "3"], "zero or negative"),
        (["explain", "conv2d", "--input", "5"], "--kernel"),
        (["explain", "--solve", "--input", "5"], "--target"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message):
    result = subprocess.run([sys.executable, "-m", "npconv", *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_a_closed_pipe_is_not_an_error():
    """``npconv explain ... | head -1``: the reader leaves early; exit 0, nothing on stderr."""
    command = [sys.executable, "-m", "npconv", "explain", "conv2d", "--input", "300x300", "--kernel", "3"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read()
        assert proc.wait(timeout=60) == 0
    assert stderr == b""
