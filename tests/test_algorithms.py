"""Every numpy convolution algorithm against independent oracles, forward and backward.

Each test forces one algorithm with ``set_algorithm`` on the cases it applies
to (by its own ``applies(spec)``), and ``record`` confirms that it ran, not a
fallback; a forced algorithm that does not apply has its own test. The oracles:

- forward values: the naive loop reference (tests/naive.py), in float64;
- gradients: naive's backward loops (``naive.conv_grads``), checked here
  against naive's forward through the adjoint identity
  <conv(u, kernel), dy> = <u, dx> and <conv(x, v), dy> = <v, dkernel>;
- transposed convs: naive's scatter definition.

Cases cover groups, depthwise multipliers, dilation, strides, every padding
mode, asymmetric pads, odd sizes, 1-D and 3-D, and batch / row chunk
boundaries (the workspace caps shrunk until every chunk is one row). The
whole file runs on the numpy backend; oneDNN has tests/test_backend_onednn.py.
"""

import functools
import threading

import naive
import numpy as np
import pytest
from helpers import close, conv_spec, seam_forward, seam_input_grad, seam_kernel_grad, seam_transpose, transpose_spec

from npconv import config
from npconv.ops import kernels, registry
from npconv.ops.backends import numpy as numpy_backend
from npconv.ops.backends.numpy import depthwise, im2col
from npconv.ops.spec import ConvSpec

PASSES = ("forward", "input_grad", "kernel_grad")
NUMPY = [a for a in registry.algorithms("numpy") if a.pass_ in PASSES]
CONV = tuple(a.name for a in NUMPY if a.pass_ == "forward")
TRANSPOSE = tuple(a.name for a in NUMPY if a.pass_ == "input_grad")
EXACT = dict(rtol=1e-10, atol=1e-10)


@pytest.fixture(autouse=True)
def numpy_only():
    previous = config.backend()
    config.set_backend("numpy")
    yield
    config.set_backend(previous)


# (x shape, kernel shape, strides, pads, dilation, groups, padding_mode)
CASES = {
    "3x3 same": ((2, 9, 8, 5), (3, 3, 5, 4), (1, 1), [(1, 1), (1, 1)], (1, 1), 1, "zeros"),
    "3x3 valid odd": ((1, 11, 7, 3), (3, 3, 3, 6), (1, 1), [(0, 0), (0, 0)], (1, 1), 1, "zeros"),
    "3x3 wide channels": ((2, 10, 9, 40), (3, 3, 40, 36), (1, 1), [(1, 1), (1, 1)], (1, 1), 1, "zeros"),
    "3x3 asymmetric pads": ((2, 7, 9, 4), (3, 3, 4, 3), (1, 1), [(2, 0), (0, 2)], (1, 1), 1, "zeros"),
    "3x3 dilated": ((2, 13, 11, 5), (3, 3, 5, 4), (1, 1), [(2, 2), (1, 3)], (2, 2), 1, "zeros"),
    "3x3 mixed dilation reflect": ((2, 13, 11, 5), (3, 3, 5, 4), (1, 1), [(2, 1), (1, 2)], (1, 2), 1, "reflect"),
    "3x3 replicate": ((1, 6, 7, 3), (3, 3, 3, 4), (1, 1), [(1, 1), (1, 1)], (1, 1), 1, "replicate"),
    "3x3 circular": ((2, 6, 5, 2), (3, 3, 2, 3), (1, 1), [(1, 1), (2, 0)], (1, 1), 1, "circular"),
    "3x3 stride 2": ((2, 9, 8, 6), (3, 3, 6, 4), (2, 2), [(0, 1), (1, 1)], (1, 1), 1, "zeros"),
    "stride and dilation": ((2, 13, 12, 3), (3, 2, 3, 4), (2, 3), [(1, 1), (0, 2)], (2, 1), 1, "zeros"),
    "grouped": ((2, 9, 8, 6), (3, 3, 3, 4), (2, 1), [(1, 1), (1, 1)], (1, 1), 2, "zeros"),
    "grouped stride 1": ((2, 7, 6, 6), (3, 3, 2, 6), (1, 1), [(1, 1), (1, 1)], (1, 1), 3, "zeros"),
    "1x1": ((2, 9, 8, 6), (1, 1, 6, 4), (1, 1), [(0, 0), (0, 0)], (1, 1), 1, "zeros"),
    "1x1 strided": ((2, 9, 8, 6), (1, 1, 6, 4), (2, 3), [(0, 0), (0, 0)], (1, 1), 1, "zeros"),
    "1x1 grouped": ((2, 5, 4, 6), (1, 1, 3, 4), (1, 1), [(0, 0), (0, 0)], (1, 1), 2, "zeros"),
    "1x1 padded": ((1, 4, 5, 3), (1, 1, 3, 2), (2, 1), [(1, 0), (0, 1)], (1, 1), 1, "zeros"),
    "depthwise": ((2, 9, 8, 6), (3, 3, 1, 6), (1, 1), [(1, 1), (1, 1)], (1, 1), 6, "zeros"),
    "depthwise multiplier": ((2, 9, 8, 3), (3, 3, 1, 6), (1, 1), [(1, 1), (1, 1)], (1, 1), 3, "zeros"),
    "depthwise strided circular": ((2, 9, 8, 6), (3, 3, 1, 12), (2, 1), [(1, 1), (1, 1)], (1, 1), 6, "circular"),
    "depthwise dilated": ((2, 9, 8, 4), (3, 2, 1, 4), (1, 2), [(1, 0), (0, 1)], (2, 1), 4, "zeros"),
    "1d same": ((3, 20, 4), (9, 4, 4), (1,), [(4, 4)], (1,), 1, "zeros"),
    "1d strided reflect": ((3, 23, 4), (5, 4, 3), (2,), [(1, 3)], (1,), 1, "reflect"),
    "1d stride above kernel": ((2, 23, 4), (3, 4, 3), (4,), [(0, 0)], (1,), 1, "zeros"),
    "1d wide output": ((2, 30, 3), (4, 3, 40), (1,), [(2, 1)], (1,), 1, "zeros"),
    "1d dilated": ((2, 17, 3), (3, 3, 2), (1,), [(2, 2)], (2,), 1, "zeros"),
    "1d depthwise": ((2, 15, 4), (5, 1, 4), (1,), [(2, 2)], (1,), 4, "replicate"),
    "3d": ((2, 7, 6, 5, 2), (2, 3, 2, 2, 3), (1, 2, 1), [(1, 0), (1, 1), (0, 0)], (1, 1, 2), 1, "zeros"),
    "article 5x5": ((1, 5, 5, 1), (3, 3, 1, 1), (1, 1), [(0, 0), (0, 0)], (1, 1), 1, "zeros"),
    "article strided same": ((1, 5, 5, 1), (3, 3, 1, 1), (2, 2), [(1, 1), (1, 1)], (1, 1), 1, "zeros"),
}

# (x shape, kernel shape (*k, filters, in), strides, pads on the zero-inserted input, dilation)
TRANSPOSED = {
    "k4 s2 same": ((2, 7, 6, 5), (4, 4, 3, 5), (2, 2), [(2, 2), (2, 2)], (1, 1)),
    "k3 s2 output_padding": ((2, 7, 6, 5), (3, 3, 3, 5), (2, 2), [(1, 2), (1, 1)], (1, 1)),
    "k3 s3x2 valid": ((2, 7, 6, 5), (3, 3, 3, 5), (3, 2), [(2, 2), (2, 3)], (1, 1)),
    "kernel below stride": ((2, 5, 6, 5), (2, 3, 3, 5), (3, 3), [(1, 2), (2, 3)], (1, 1)),
    "dilated": ((2, 7, 6, 5), (3, 3, 3, 5), (2, 2), [(3, 4), (2, 3)], (2, 1)),
    "many filters": ((2, 5, 4, 6), (3, 3, 40, 6), (2, 2), [(1, 2), (2, 2)], (1, 1)),
    "stride 1": ((2, 7, 6, 5), (3, 3, 3, 5), (1, 1), [(1, 1), (1, 1)], (1, 1)),
    "cropping pads": ((2, 7, 6, 5), (3, 3, 3, 5), (2, 2), [(0, 1), (4, 0)], (1, 1)),
    "1d": ((2, 9, 5), (5, 3, 5), (4,), [(3, 4)], (1,)),
    "3d": ((2, 4, 3, 5, 5), (3, 2, 3, 3, 5), (2, 1, 3), [(2, 3), (1, 1), (2, 4)], (1, 1, 1)),
}


def data(case, seed=0, dtype=np.float64):
    x_shape, k_shape = case[0], case[1]
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(k_shape).astype(dtype)


def seam_spec(case):
    """The spec the seam hands an algorithm for a CASES entry (with a padding
    mode: the padded input, zero pads)."""
    return kernels._crop_of(conv_spec(*case)[0])[0]


def applying(pass_, names, specs):
    """pytest params (algorithm, case name): every numpy algorithm of ``pass_``
    on every case whose spec (``specs[name]``) it applies to."""
    return [
        pytest.param(a.name, name, id=f"{a.name}-{name}")
        for a in NUMPY
        if a.pass_ == pass_
        for name in names
        if a.applies(specs[name])
    ]


SPECS = {name: seam_spec(case) for name, case in CASES.items()}
TRANSPOSED_SPECS = {
    name: kernels._crop_of(transpose_spec(*data(case), *case[2:]))[0] for name, case in TRANSPOSED.items()
}
FORWARD_CASES = applying("forward", CASES, SPECS)
INPUT_GRAD_CASES = applying("input_grad", CASES, SPECS)
KERNEL_GRAD_CASES = applying("kernel_grad", CASES, SPECS)
TRANSPOSED_CASES = applying("input_grad", TRANSPOSED, TRANSPOSED_SPECS)


@functools.cache
def reference(name):
    """(x, kernel, y, dy, dx, dkernel) of a case in float64, every one from naive (read-only)."""
    case = CASES[name]
    _, _, strides, pads, dilation, groups, mode = case
    x, kernel = data(case)
    y = naive.conv(x, kernel, strides, pads, dilation, groups, mode)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    dx, dkernel = naive.conv_grads(x, kernel, dy, strides, pads, dilation, groups, mode)
    arrays = (x, kernel, y, dy, dx, dkernel)
    for array in arrays:
        array.flags.writeable = False
    return arrays


def run_pass(pass_, name, x, kernel, dy, keep=None):
    """One pass of a CASES entry through the seam: forward gives y, input_grad dx, kernel_grad dkernel."""
    _, k_shape, strides, pads, dilation, groups, mode = CASES[name]
    if pass_ == "forward":
        return seam_forward(x, kernel, strides, pads, dilation, groups, mode, keep)
    if pass_ == "input_grad":
        return seam_input_grad(dy, kernel, strides, pads, dilation, x.shape[1:-1], groups, mode)
    return seam_kernel_grad(x, dy, k_shape, strides, pads, dilation, groups, mode, keep)


def forced(pass_, algorithm, name, x, kernel, dy, keep=None):
    """Run one pass with ``algorithm`` forced; assert that it is the algorithm that ran."""
    with registry.set_algorithm(algorithm), registry.record() as seen:
        result = run_pass(pass_, name, x, kernel, dy, keep)
    assert seen == [(pass_, algorithm)], seen
    return result


# --------------------------------------------------------------------------
# the oracles
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_naive_gradients_are_the_adjoint_of_naive_conv(name):
    """naive.conv_grads against naive.conv alone: <conv(u, kernel), dy> = <u, dx>
    and <conv(x, v), dy> = <v, dkernel> for random probes u, v."""
    _, k_shape, strides, pads, dilation, groups, mode = CASES[name]
    x, kernel, _, dy, dx, dkernel = reference(name)
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(x.shape), rng.standard_normal(k_shape)
    lhs = np.vdot(naive.conv(u, kernel, strides, pads, dilation, groups, mode), dy)
    assert abs(lhs - np.vdot(u, dx)) <= 1e-9 * max(abs(lhs), 1.0)
    lhs = np.vdot(naive.conv(x, v, strides, pads, dilation, groups, mode), dy)
    assert abs(lhs - np.vdot(v, dkernel)) <= 1e-9 * max(abs(lhs), 1.0)


def test_every_algorithm_has_cases_it_applies_to():
    """The forced-algorithm tests below cover every numpy algorithm of every pass."""
    for pass_, params in (
        ("forward", FORWARD_CASES),
        ("input_grad", INPUT_GRAD_CASES),
        ("kernel_grad", KERNEL_GRAD_CASES),
    ):
        covered = {p.values[0] for p in params}
        assert covered == {a.name for a in NUMPY if a.pass_ == pass_}, (pass_, covered)
    # A transposed conv has groups 1: every input-gradient algorithm but depthwise.
    assert {p.values[0] for p in TRANSPOSED_CASES} == set(TRANSPOSE) - {"depthwise"}


# --------------------------------------------------------------------------
# each algorithm, forced where it applies
# --------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm, name", FORWARD_CASES)
def test_forward_matches_naive(algorithm, name):
    x, kernel, y, dy, _, _ = reference(name)
    close(forced("forward", algorithm, name, x, kernel, dy), y, **EXACT)


@pytest.mark.parametrize("algorithm, name", INPUT_GRAD_CASES)
def test_input_grad_matches_naive(algorithm, name):
    x, kernel, _, dy, dx, _ = reference(name)
    close(forced("input_grad", algorithm, name, x, kernel, dy), dx, **EXACT)


@pytest.mark.parametrize("algorithm, name", KERNEL_GRAD_CASES)
def test_kernel_grad_matches_naive(algorithm, name):
    x, kernel, _, dy, _, dkernel = reference(name)
    close(forced("kernel_grad", algorithm, name, x, kernel, dy), dkernel, **EXACT)


@pytest.mark.parametrize("name", CASES)
def test_kernel_grad_from_kept_columns(name, monkeypatch):
    """A training step's kernel gradient reuses the forward's im2col columns;
    where it does (and where the forward kept none) it matches naive."""
    x, kernel, _, dy, _, dkernel = reference(name)
    groups = CASES[name][5]
    keep = {}
    forced("forward", "im2col", name, x, kernel, dy, keep)
    assert ("cols" in keep) == (groups == 1)  # im2col keeps them for groups 1 only
    used = []
    original = im2col.kernel_grad_from_columns
    monkeypatch.setattr(im2col, "kernel_grad_from_columns", lambda *a: used.append(1) or original(*a))
    close(run_pass("kernel_grad", name, x, kernel, dy, keep), dkernel, **EXACT)
    assert bool(used) == (groups == 1)


def test_columns_are_kept_only_in_training():
    """Conv2D keeps its columns only when called in training; gradients agree either way."""
    from npconv import layers

    x = np.random.default_rng(0).standard_normal((3, 6, 5, 4)).astype(np.float32)
    layer = layers.Conv2D(5, 3, padding="same")
    dy = np.random.default_rng(1).standard_normal((3, 6, 5, 5)).astype(np.float32)
    grads = {}
    for training in (False, True):
        layer(x, training=training)
        kept = layer._last[3]
        assert ("cols" in kept) if training else kept is None
        layer.kernel.grad = None
        dx = layer.backward(dy)
        grads[training] = (dx, layer.kernel.grad)
    np.testing.assert_allclose(grads[True][0], grads[False][0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grads[True][1], grads[False][1], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("algorithm, name", TRANSPOSED_CASES)
def test_transposed_matches_naive(algorithm, name):
    _, k_shape, strides, pads, dilation = TRANSPOSED[name]
    x, kernel = data(TRANSPOSED[name])
    k_eff = [(k - 1) * d + 1 for k, d in zip(k_shape[:-2], dilation)]
    crops = [(ke - 1 - b, ke - 1 - a) for ke, (b, a) in zip(k_eff, pads)]
    expected = naive.conv_transpose(x, kernel, strides, crops, dilation)
    with registry.set_algorithm(algorithm), registry.record() as seen:
        y = seam_transpose(x, kernel, strides, pads, dilation)
    assert seen == [("input_grad", algorithm)]
    close(y, expected, **EXACT)


@pytest.mark.parametrize("name", TRANSPOSED)
def test_transposed_gradients_are_its_adjoint(name):
    """A transposed conv's gradients are its forward twin's forward and kernel
    gradient (the default algorithms): <y, dy> = <x, dx> = <kernel, dkernel>,
    with y from naive's scatter definition."""
    _, k_shape, strides, pads, dilation = TRANSPOSED[name]
    x, kernel = data(TRANSPOSED[name])
    k_eff = [(k - 1) * d + 1 for k, d in zip(k_shape[:-2], dilation)]
    expected = naive.conv_transpose(
        x, kernel, strides, [(ke - 1 - b, ke - 1 - a) for ke, (b, a) in zip(k_eff, pads)], dilation
    )
    dy = np.random.default_rng(3).standard_normal(expected.shape)
    spec = transpose_spec(x, kernel, strides, pads, dilation)
    dx = kernels.conv_forward(spec, dy, kernel)
    dk = kernels.conv_kernel_grad(spec, dy, x)[0]
    lhs = np.vdot(expected, dy)
    assert abs(np.vdot(x, dx) - lhs) <= 1e-9 * abs(lhs)
    assert abs(np.vdot(kernel, dk) - lhs) <= 1e-9 * abs(lhs)


# --------------------------------------------------------------------------
# chunk boundaries: the same numbers whatever the workspace
# --------------------------------------------------------------------------
CHUNKED = ["3x3 same", "3x3 dilated", "3x3 mixed dilation reflect", "grouped", "depthwise", "1d same", "3d"]


@pytest.mark.parametrize(
    "pass_, algorithm, name",
    [pytest.param(pass_, *p.values, id=f"{pass_}-{p.id}") for pass_ in PASSES for p in applying(pass_, CHUNKED, SPECS)],
)
def test_chunking_gives_the_same_result(monkeypatch, pass_, algorithm, name):
    x, kernel, _, dy, _, _ = reference(name)
    x = np.concatenate([x, x[:1] * 0.5])  # an odd batch
    dy = np.concatenate([dy, dy[:1] * -2.0])
    whole = forced(pass_, algorithm, name, x, kernel, dy)
    for cap in (1, 700, 5000):
        monkeypatch.setattr(numpy_backend, "WORKSPACE_BYTES", cap)
        monkeypatch.setattr(im2col, "BLOCK_BYTES", cap)
        monkeypatch.setattr(depthwise, "BLOCK_BYTES", cap)
        close(forced(pass_, algorithm, name, x, kernel, dy), whole, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("algorithm, name", applying("input_grad", ["k4 s2 same", "stride 1"], TRANSPOSED_SPECS))
def test_transposed_chunking_gives_the_same_result(monkeypatch, algorithm, name):
    _, _, strides, pads, dilation = TRANSPOSED[name]
    x, kernel = data(TRANSPOSED[name])
    x = np.concatenate([x, x[:1]])
    with registry.set_algorithm(algorithm), registry.record() as seen:
        whole = seam_transpose(x, kernel, strides, pads, dilation)
        monkeypatch.setattr(numpy_backend, "WORKSPACE_BYTES", 1)
        close(seam_transpose(x, kernel, strides, pads, dilation), whole, rtol=1e-12, atol=1e-12)
    assert seen == [("input_grad", algorithm)] * 2


# --------------------------------------------------------------------------
# float32 in, float32 out, every path
# --------------------------------------------------------------------------
KEPT = ["3x3 same", "1x1", "depthwise", "1d same", "article 5x5"]


@pytest.mark.parametrize(
    "pass_, algorithm, name",
    [pytest.param(pass_, *p.values, id=f"{pass_}-{p.id}") for pass_ in PASSES for p in applying(pass_, KEPT, SPECS)],
)
def test_dtype_is_kept(pass_, algorithm, name):
    x, kernel, y, dy, dx, dkernel = reference(name)
    expected = {"forward": y, "input_grad": dx, "kernel_grad": dkernel}[pass_]
    x, kernel, dy = (a.astype(np.float32) for a in (x, kernel, dy))
    got = forced(pass_, algorithm, name, x, kernel, dy)
    assert got.dtype == np.float32
    close(got.astype(np.float64), expected, rtol=1e-5, atol=1e-5)


def test_an_empty_batch_runs_no_kernel():
    """An empty batch gives zeros of the right shapes without calling any algorithm."""
    x, kernel = np.zeros((0, 9, 8, 6)), np.ones((3, 3, 6, 4))
    with registry.record() as seen:
        y = seam_forward(x, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
        dx = seam_input_grad(y, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1), (9, 8))
        dk = seam_kernel_grad(x, y, kernel.shape, (1, 1), [(1, 1), (1, 1)], (1, 1))
    assert seen == []
    assert y.shape == (0, 9, 8, 4) and dx.shape == x.shape
    np.testing.assert_array_equal(dk, np.zeros(kernel.shape))


# --------------------------------------------------------------------------
# dispatch: choice by shape, cache, forcing
# --------------------------------------------------------------------------
SUITE_SHAPES = {
    # (x shape, kernel shape, strides, pads, dilation, groups): expected default
    "resnet 3x3": (((8, 56, 56, 64), (3, 3, 64, 64), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "im2col"),
    "downsample 3x3": (((8, 56, 56, 64), (3, 3, 64, 128), (2, 2), ((0, 1), (0, 1)), (1, 1), 1), "im2col"),
    "bottleneck 1x1": (((8, 28, 28, 256), (1, 1, 256, 64), (1, 1), ((0, 0), (0, 0)), (1, 1), 1), "gemm"),
    "depthwise 3x3": (((8, 56, 56, 128), (3, 3, 1, 128), (1, 1), ((1, 1), (1, 1)), (1, 1), 128), "depthwise"),
    "dilated 3x3": (((8, 64, 64, 64), (3, 3, 64, 64), (1, 1), ((2, 2), (2, 2)), (2, 2), 1), "im2col"),
    "conv1d audio": (((16, 16000, 32), (9, 32, 32), (1,), ((4, 4),), (1,), 1), "im2col"),
    "article 5x5": (((1, 5, 5, 1), (3, 3, 1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1), "small"),
    "small image": (((8, 8, 8, 32), (3, 3, 32, 32), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "im2col"),
    "few channels": (((8, 32, 32, 16), (3, 3, 16, 16), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "im2col"),
    "mid image": (((8, 16, 16, 32), (3, 3, 32, 32), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "im2col"),
    "one channel": (((32, 8, 8, 1), (3, 3, 1, 32), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "small"),
    "one channel, large": (((4, 512, 512, 1), (3, 3, 1, 8), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "im2col"),
    "too few channels": (((8, 32, 32, 8), (3, 3, 8, 8), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "im2col"),
}


@pytest.mark.parametrize("name", SUITE_SHAPES)
def test_default_choice_by_shape(name):
    (x_shape, k_shape, strides, pads, dilation, groups), expected = SUITE_SHAPES[name]
    padded = [n + b + a for n, (b, a) in zip(x_shape[1:-1], pads)]
    out = [(p - ((k - 1) * d + 1)) // s + 1 for p, k, s, d in zip(padded, k_shape[:-2], strides, dilation)]
    assert out  # the shapes are valid convs
    spec = ConvSpec(x_shape, k_shape, strides, pads, dilation, groups, "float32")
    assert numpy_backend.default("forward", spec).name == expected


def test_choice_is_cached_per_shape():
    registry.clear_cache()
    x, kernel = data(CASES["3x3 same"])
    seam_forward(x, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
    assert len(registry._cache) == 1
    seam_forward(x + 1, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
    assert len(registry._cache) == 1
    seam_forward(x[:1], kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
    assert len(registry._cache) == 2
    registry.clear_cache()
    assert not registry._cache


def test_set_algorithm_as_context_manager_restores():
    assert registry.get_algorithm() is None
    with registry.set_algorithm("im2col"):
        assert registry.get_algorithm() == "im2col"
        with registry.set_algorithm("gemm"):
            assert registry.get_algorithm() == "gemm"
        assert registry.get_algorithm() == "im2col"
    assert registry.get_algorithm() is None


def test_set_algorithm_as_a_call_persists_until_reset():
    try:
        registry.set_algorithm("im2col")
        x, kernel = data(CASES["1x1"])
        with registry.record() as seen:
            seam_forward(x, kernel, (1, 1), [(0, 0), (0, 0)], (1, 1))
        assert seen == [("forward", "im2col")]
    finally:
        registry.set_algorithm(None)
    assert registry.get_algorithm() is None


def test_forced_algorithm_that_does_not_apply_falls_back():
    x, kernel = data(((1, 8, 8, 2), (5, 5, 2, 3)))
    with registry.set_algorithm("depthwise"), registry.record() as seen:
        seam_forward(x, kernel, (1, 1), [(2, 2), (2, 2)], (1, 1))
    assert seen == [("forward", "small")]


def test_unknown_algorithm_is_rejected_with_the_names():
    with pytest.raises(
        ValueError, match=r"Invalid value for argument `algorithm`\. Expected None or one of \["
    ) as error:
        registry.set_algorithm("fft")
    assert "Received: algorithm='fft'" in str(error.value)
    assert registry.get_algorithm() is None


def test_environment_variable_forces_an_algorithm(monkeypatch):
    monkeypatch.setenv("NPCONV_ALGORITHM", "im2col")
    assert registry._read_environment() == "im2col"
    monkeypatch.setenv("NPCONV_ALGORITHM", "auto")
    assert registry._read_environment() is None
    monkeypatch.setenv("NPCONV_ALGORITHM", "bogus")
    with pytest.warns(UserWarning, match="NPCONV_ALGORITHM='bogus'"):
        assert registry._read_environment() is None


def test_record_nests():
    x, kernel = data(CASES["3x3 same"])
    with registry.record() as outer:
        seam_forward(x, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
        with registry.record() as inner:
            seam_kernel_grad(x, x[..., :4], kernel.shape, (1, 1), [(1, 1), (1, 1)], (1, 1))
    assert [op for op, _ in inner] == ["kernel_grad"]
    assert [op for op, _ in outer] == ["forward", "kernel_grad"]


def test_set_algorithm_does_not_leak_into_other_threads():
    """A forced algorithm is this thread's setting: another thread, running at
    the same time, keeps the automatic choice."""
    x, kernel = data(CASES["1x1"])
    forced_in, other_ready, results = threading.Event(), threading.Event(), {}

    def forcing():
        with registry.set_algorithm("im2col"), registry.record() as seen:
            forced_in.set()
            other_ready.wait(10)
            seam_forward(x, kernel, (1, 1), [(0, 0), (0, 0)], (1, 1))
        results["forcing"] = seen

    def other():
        forced_in.wait(10)
        with registry.record() as seen:
            seam_forward(x, kernel, (1, 1), [(0, 0), (0, 0)], (1, 1))
        results["other"] = (seen, registry.get_algorithm())
        other_ready.set()

    threads = [threading.Thread(target=forcing), threading.Thread(target=other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert results["forcing"] == [("forward", "im2col")]
    assert results["other"] == ([("forward", "small")], None)  # the automatic choice, not im2col
    assert registry.get_algorithm() is None


# --------------------------------------------------------------------------
# non-finite inputs: a NaN or Inf reaches exactly the outputs the definition says
# --------------------------------------------------------------------------
def nonfinite_cases(shape, filters):
    """A 'same' 3x3 conv, its 1x1 form and its depthwise form, for the algorithms
    that apply only to one of them."""
    return {
        "3x3 same": (shape, (3, 3, shape[-1], filters), (1, 1), [(1, 1), (1, 1)], (1, 1), 1, "zeros"),
        "1x1": (shape, (1, 1, shape[-1], filters), (1, 1), [(0, 0), (0, 0)], (1, 1), 1, "zeros"),
        "depthwise": (shape, (3, 3, 1, shape[-1]), (1, 1), [(1, 1), (1, 1)], (1, 1), shape[-1], "zeros"),
    }


def first_case(pass_, cases):
    """(algorithm, the first case it applies to) for each algorithm of ``pass_``."""
    chosen = {}
    for param in applying(pass_, cases, {name: seam_spec(case) for name, case in cases.items()}):
        chosen.setdefault(param.values[0], param.values[1])
    return list(chosen.items())


NAN_CASES = nonfinite_cases((1, 40, 40, 64), 64)
# The outputs a NaN at pixel (17, 23), channel 5, reaches: every window that
# holds it, in every filter that reads channel 5 (576 for the 3x3, as in Keras).
NAN_REACHES = {
    "3x3 same": (0, slice(16, 19), slice(22, 25), slice(None)),
    "1x1": (0, 17, 23, slice(None)),
    "depthwise": (0, slice(16, 19), slice(22, 25), 5),
}


@pytest.mark.parametrize("algorithm, name", first_case("forward", NAN_CASES))
def test_one_nan_pixel_reaches_only_its_windows(algorithm, name):
    _, _, strides, pads, dilation, groups, mode = case = NAN_CASES[name]
    x, kernel = data(case, seed=6, dtype=np.float32)
    x[0, 17, 23, 5] = np.nan
    with registry.set_algorithm(algorithm), registry.record() as seen:
        y = seam_forward(x, kernel, strides, pads, dilation, groups, mode)
    assert seen == [("forward", algorithm)]
    expected = np.zeros(y.shape, bool)
    expected[NAN_REACHES[name]] = True
    np.testing.assert_array_equal(~np.isfinite(y), expected)


INF_CASES = nonfinite_cases((2, 12, 11, 4), 5)


@pytest.mark.parametrize(
    "pass_, algorithm, name",
    [(pass_, *chosen) for pass_ in ("input_grad", "kernel_grad") for chosen in first_case(pass_, INF_CASES)],
)
def test_an_infinite_gradient_reaches_only_what_it_touches(pass_, algorithm, name):
    """An Inf in dy spreads to the dx pixels under its window and, through the
    kernel gradient, to every tap of its filter: where naive's loops put it."""
    _, k_shape, strides, pads, dilation, groups, mode = case = INF_CASES[name]
    x, kernel = data(case, seed=7)
    dy = np.random.default_rng(8).standard_normal((2, 12, 11, k_shape[-1]))
    dy[1, 6, 4, 2] = np.inf
    expected = naive.conv_grads(x, kernel, dy, strides, pads, dilation, groups, mode)[pass_ == "kernel_grad"]
    with registry.set_algorithm(algorithm), registry.record() as seen:
        if pass_ == "input_grad":
            got = seam_input_grad(dy, kernel, strides, pads, dilation, x.shape[1:-1], groups, mode)
        else:
            got = seam_kernel_grad(x, dy, k_shape, strides, pads, dilation, groups, mode)
    assert seen == [(pass_, algorithm)]
    assert (~np.isfinite(expected)).any() and np.isfinite(expected).any()
    np.testing.assert_array_equal(~np.isfinite(got), ~np.isfinite(expected))


def test_docs_table_is_generated_from_the_registry():
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "performance.md")
    with open(path) as handle:
        text = handle.read()
    table = text.split("<!-- registry table: start -->\n")[1].split("\n<!-- registry table: end -->")[0]
    assert table == registry.markdown_table(), "regenerate it: python -m npconv.ops.registry"
