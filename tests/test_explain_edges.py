"""The explainer at its edges: any input length in bounded memory, one source of
layer rules and padding modes, the CLI's refusals and atomic writes, the JAX
bias, and SVG labels that stay inside the picture and clear of each other.
Expected values are typed in by hand or come from NumPy, JAX and the layers."""

import ast
import functools
import re
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import npconv
from npconv import geometry
from npconv.cli.main import main
from npconv.explain import render_svg

SVG_NS = "{http://www.w3.org/2000/svg}"
PACKAGE = Path(npconv.__file__).parent


def run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def peak_bytes(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------
# any input length, bounded
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n", [10**6, 10**8, 10**12])
def test_huge_inputs_explain_in_bounded_memory(n):
    def work():
        e = npconv.explain("conv1d", n, 3, strides=2, padding="same")
        return e, e.text(), e.to("torch").code(), e.to_dict()

    (e, text, _, data), peak = peak_bytes(work)
    assert peak < 4 * 2**20
    out = -(-n // 2)  # ceil(n / 2)
    assert e.output_size == (out,) and len(e.dims[0].windows) == out
    last = e.dims[0].windows[-1]  # made on demand: output out-1 starts at (out-1)*2 - pad_before
    pad_before = e.dims[0].pad_before
    assert last.output_index == out - 1 and last.start == (out - 1) * 2 - pad_before
    assert f"out[{out - 1}]" in text
    assert data["dims"][0]["windows"]["count"] == out and len(data["dims"][0]["windows"]["windows"]) == 6


def test_huge_two_d_input_from_the_cli_in_bounded_memory(capsys):
    argv = ["explain", "conv2d", "--input", "100000000x1000000000000", "--kernel", "3", "--padding", "same"]
    code, peak = peak_bytes(lambda: main(argv))
    out = capsys.readouterr().out
    assert code == 0 and peak < 4 * 2**20
    assert "-> output (100000000, 1000000000000)" in out
    for flag in (["--to", "jax"], ["--to", "onnx"]):
        assert main(argv + flag) == 0
        assert "padding=[(1, 1), (1, 1)]" in capsys.readouterr().out or flag[1] == "onnx"


def test_a_kernel_wider_than_the_strip_draws_its_ends_only():
    e = npconv.explain("conv1d", 10**6, 2000, strides=7)
    text = e.text()
    assert len(text) < 20_000 and max(len(line) for line in text.splitlines()) < 1_000
    assert "reads 2000 taps: x0..x1999" in text  # out[0], by hand


def test_a_huge_picture_is_refused_quickly(tmp_path, capsys):
    e = npconv.explain("conv2d", 10**12, 3)
    with pytest.raises(ValueError, match="more than 128"):
        render_svg(e)


def test_windows_are_a_lazy_sequence_equal_to_the_full_one():
    dim = npconv.explain("conv1d", 7, 3, strides=2, padding="same").dims[0]
    windows = dim.windows
    assert len(windows) == 4 and windows[-1] == windows[3] and windows[1:3] == (windows[1], windows[2])
    assert [w.inputs for w in windows] == [(0, 1), (1, 2, 3), (3, 4, 5), (5, 6)]  # pads (1, 1)
    with pytest.raises(IndexError):
        windows[4]
    assert windows == tuple(windows) and hash(windows) == hash(dim.windows)


# --------------------------------------------------------------------------
# one source of truth: the layer class, the geometry, the padding-mode table
# --------------------------------------------------------------------------
def test_explain_builds_through_the_real_layer_class(monkeypatch):
    built = []
    original = npconv.layers.Conv2DTranspose.__init__

    @functools.wraps(original)
    def recording(self, *args, **kwargs):
        built.append(kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(npconv.layers.Conv2DTranspose, "__init__", recording)
    e = npconv.explain("conv2dtranspose", (4, 4), 3, 2, "same", output_shape=(7, 8))
    assert len(built) == 1 and built[0]["output_shape"] == (7, 8)
    assert e.output_size == (7, 8) and [d.output_padding for d in e.dims] == [0, 1]


def test_explain_data_copies_no_layer_rule():
    source = (PACKAGE / "explain" / "data.py").read_text()
    for copied in ("_resolve_output_padding", "_weight_shapes(kind", "_check_positive", "standardize_padding_mode"):
        assert copied not in source
    assert len(source.splitlines()) < 600


def test_geometry_gives_each_pad_with_its_reason_and_formulas():
    rule = geometry.conv_padding_rule(6, 3, 2, "same")
    # by hand: ceil(6/2) = 3 outputs, total = (3 - 1)*2 + 3 - 6 = 1, so (0, 1)
    assert rule.pads == (0, 1)
    assert {f.name: f.value for f in rule.formulas}["total"] == 1
    assert "odd pixel goes after" in " ".join(rule.reason)
    transposed = geometry.conv_transpose_padding_rule(5, 3, 2, "valid")
    assert transposed.pads == (2, 2) and transposed.formulas[0].numbers == "3 - 1"
    dim = npconv.explain("conv1d", 6, 3, 2, "same").dims[0]
    assert dim.pad_reason == rule.reason and set(rule.formulas) <= set(dim.formulas)
    notes = " ".join(npconv.explain("conv1d", 6, 3, 2, "same").to("onnx").notes)
    assert "pads (0, 1)" in notes and rule.reason[0] in notes


@pytest.mark.parametrize("mode", sorted(geometry.PADDING_MODES))
def test_padding_mode_table_agrees_with_numpy(mode):
    row = geometry.PADDING_MODES[mode]
    for n in range(1, 7):
        limit = 3 * n if row.max_pad is None else row.max_pad(n)
        before = after = min(limit, 4)
        padded = np.pad(np.arange(n) + 1, (before, after), mode=row.numpy)  # 0 marks a zero
        got = [geometry.padding_source(p, n, mode) for p in range(-before, n + after)]
        assert [0 if g is None else g + 1 for g in got] == padded.tolist(), (mode, n)


def test_a_new_padding_mode_is_one_table_row_for_explain_and_translate(monkeypatch):
    """What docs/padding-modes.md shows: NumPy's 'symmetric' (the edge pixel repeated)."""

    def symmetric(position, n):
        q = position % (2 * n)
        return q if q < n else 2 * n - 1 - q

    row = geometry.PaddingMode("symmetric", symmetric, lambda n: n, "symmetric", "symmetric", "-", "symmetric")
    monkeypatch.setitem(geometry.PADDING_MODES, "symmetric", row)
    e = npconv.explain("conv1d", 4, 3, padding="same", padding_mode="symmetric")
    fills = [t.fill for t in e.dims[0].windows[0].taps if t.source == "padding"]
    assert fills == [0]  # np.pad([a, b, c, d], 1, 'symmetric') starts with a
    assert "mode='symmetric'" in e.to("jax").code()


# --------------------------------------------------------------------------
# import structure
# --------------------------------------------------------------------------
def _imports(path, package, known):
    """The ``known`` modules a file imports, anywhere in it (functions included);
    ``from pkg import sub`` counts as importing ``pkg.sub`` only."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
            subs = {f"{module}.{alias.name}" for alias in node.names} & set(known)
            found |= subs
            if len(subs) < len(node.names):
                found.add(module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found & set(known)


def test_no_import_cycle_among_the_explainer_modules():
    """explain, its submodules, translate, geometry, arguments and the explain
    and demo commands: no cycles (the layers are left out: their `explain`
    convenience methods import npconv.explain)."""
    files = {f"npconv.explain.{p.stem}": p for p in (PACKAGE / "explain").glob("*.py") if p.stem != "__init__"}
    files["npconv.explain"] = PACKAGE / "explain" / "__init__.py"
    for name in ("translate", "geometry", "arguments", "cli/explain", "cli/demo"):
        files["npconv." + name.replace("/", ".")] = PACKAGE / f"{name}.py"
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        graph[name] = _imports(path, package, files) - {name}

    def reaches(start, goal, seen=()):
        return any(m == goal or (m not in seen and reaches(m, goal, (*seen, m))) for m in graph[start])

    cycles = sorted(name for name in graph if reaches(name, name))
    assert cycles == []
    assert not (PACKAGE / "article.py").exists()  # one article module: npconv.explain.article


def test_svg_has_no_dead_input_label():
    assert "_input_label" not in (PACKAGE / "explain" / "svg.py").read_text()


# --------------------------------------------------------------------------
# the CLI
# --------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["missing/dir/out.svg", "a-directory", "/dev/full"])
def test_svg_to_an_unwritable_path_is_one_line_and_exit_2(target, tmp_path, capsys):
    (tmp_path / "a-directory").mkdir()
    path = target if target.startswith("/") else str(tmp_path / target)
    code, out, err = run(["explain", "conv2d", "--input", "5", "--kernel", "3", "--svg", path], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "cannot write" in err and "Traceback" not in err
    assert Path("/dev/full").is_char_device()


def test_an_oversized_picture_leaves_the_old_file_as_it_was(tmp_path, capsys):
    keep = tmp_path / "keep.svg"
    keep.write_text("<svg>old</svg>")
    code, _, err = run(["explain", "conv2d", "--input", "1000", "--kernel", "3", "--svg", str(keep)], capsys)
    assert code == 2 and "more than 128" in err
    assert keep.read_text() == "<svg>old</svg>"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.svg"]  # no temporary file left


def test_svg_is_written_through_atomic_write(tmp_path, capsys, monkeypatch):
    import npconv.cli.explain as cli_explain

    used = []
    real = cli_explain.atomic_write

    def recording(path, mode="wb", encoding=None):
        used.append(str(path))
        return real(path, mode, encoding)

    monkeypatch.setattr(cli_explain, "atomic_write", recording)
    target = tmp_path / "out.svg"
    code, out, _ = run(["explain", "conv1d", "--input", "5", "--kernel", "3", "--svg", str(target)], capsys)
    assert code == 0 and used == [str(target)] and f"wrote {target}" in out
    ET.fromstring(target.read_text())


def test_input_none_is_an_unknown_size(capsys):
    code, out, _ = run(["explain", "conv2d", "--input", "None", "--kernel", "3", "--padding", "same"], capsys)
    assert code == 0 and out.splitlines()[0] == "Conv2D: input (None, None) -> output (None, None)"
    code, out, _ = run(["explain", "conv1d", "--input", "none", "--kernel", "3"], capsys)
    assert code == 0 and "input (None,) -> output (None,)" in out


@pytest.mark.parametrize(
    "layer, size", [("conv2d", "5x5x5"), ("conv3d", "5x5"), ("conv1d", "5x5"), ("conv2dtranspose", "4x4x2")]
)
def test_input_with_the_wrong_number_of_sizes_is_refused(layer, size, capsys):
    code, out, err = run(["explain", layer, "--input", size, "--kernel", "3"], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert f"--input {size}" in err and "spatial" in err


def test_animate_without_svg_is_refused(capsys):
    code, out, err = run(["explain", "conv2d", "--input", "5", "--kernel", "3", "--animate"], capsys)
    assert code == 2 and out == "" and "--svg" in err


# --------------------------------------------------------------------------
# --to jax adds the bias
# --------------------------------------------------------------------------
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_jax_code_includes_the_bias(data_format, rng):
    pytest.importorskip("jax")
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    layer = npconv.layers.Conv2D(3, 3, strides=2, padding="same", data_format=data_format, dtype="float64")
    shape = (2, 5, 6, 2) if data_format == "channels_last" else (2, 2, 5, 6)
    x = rng.standard_normal(shape)
    layer.build(shape)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    kernel, bias = layer.get_weights()
    code = npconv.explain(layer, shape).to("jax").code()
    scope = {"x": jnp.asarray(x), "kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias), "jnp": jnp, "lax": lax}
    exec(code, scope)
    np.testing.assert_allclose(np.asarray(scope["y"]), layer(x), atol=1e-10)


# --------------------------------------------------------------------------
# SVG labels: inside the picture, clear of each other
# --------------------------------------------------------------------------
def _font_sizes(root):
    style = root.find(f"{SVG_NS}style").text
    return {m[0]: float(m[1]) for m in re.findall(r"\.([\w-]+) \{ font: (?:\d+ )?(\d+)px", style)}


def _boxes(root, classes, char_width=None):
    """(x0, x1, y0, y1) of each text of these classes: monospace glyphs are
    0.6 em wide, sans-serif labels ``char_width`` px; a glyph is 0.75 em tall."""
    fonts = _font_sizes(root)
    boxes = []
    for t in root.iter(f"{SVG_NS}text"):
        cls = t.get("class")
        if cls not in classes:
            continue
        size = fonts[cls]
        width = len(t.text) * (char_width or 0.6 * size)
        x, y = float(t.get("x")), float(t.get("y"))
        x0 = x - width / 2 if t.get("text-anchor") == "middle" else x
        boxes.append((x0, x0 + width, y - 0.75 * size, y))
    return boxes


@pytest.mark.parametrize(
    "args",
    [
        ("conv2d", (5, 5), 3),
        ("conv2dtranspose", (3, 3), 3, 2, "same"),
        ("conv1dtranspose", 3, 3, 2, ((3, 3),)),  # crops: every legend item
    ],
)
def test_legend_labels_stay_inside_the_picture(args):
    e = npconv.explain(*args)
    for svg in (render_svg(e, animate=True), render_svg(e)):
        root = ET.fromstring(svg)
        width = float(root.get("width"))
        assert width >= 560
        labels = _boxes(root, {"label"}, char_width=6.5)
        assert labels and max(x1 for _, x1, _, _ in labels) <= width
        assert max(y1 for _, _, _, y1 in labels) <= float(root.get("height"))


@pytest.mark.parametrize("size, kernel", [((3, 3), 3), ((2, 2), 4), (4, 2)])
def test_inserted_zero_marks_clear_the_tap_labels(size, kernel):
    layer = "conv2dtranspose" if isinstance(size, tuple) else "conv1dtranspose"
    e = npconv.explain(layer, size, kernel, 2, "same")
    root = ET.fromstring(render_svg(e, cell=30))
    zeros = _boxes(root, {"zero-text"})
    labels = _boxes(root, {"value", "value-miss"})
    assert zeros and labels
    for a in zeros:
        for b in labels:
            overlap = a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]
            assert not overlap, (a, b)
