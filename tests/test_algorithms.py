"""Every numpy convolution algorithm against the same oracles, forward and backward.

Each test forces one algorithm with ``set_algorithm`` (where it does not
apply, the usual choice runs; ``record`` tells which ran) and compares with:

- the naive loop reference (tests/naive.py) for forward values, in float64;
- for gradients, a float64 reference (the plain im2col and scatter paths)
  that is itself checked against the naive forward through the adjoint
  identity <conv(x), dy> = <x, dx> = <kernel, dkernel>.

Cases cover groups, depthwise multipliers, dilation, strides, every padding
mode, asymmetric pads, odd sizes, 1-D and 3-D, and batch / row chunk
boundaries (the workspace caps shrunk until every chunk is one row). The
whole file runs on the numpy backend; oneDNN has tests/test_backend_onednn.py.
"""

import threading

import naive
import numpy as np
import pytest

from npconv import config
from npconv.ops import convolution, kernels, registry
from npconv.ops.backends import numpy as numpy_backend
from npconv.ops.backends.numpy import depthwise, im2col
from npconv.ops.kernels import pad_spatial, pad_spatial_backward
from npconv.ops.spec import ConvSpec

NUMPY = registry.algorithms("numpy")
CONV = tuple(a.name for a in NUMPY if a.pass_ == "forward")
INPUT_GRAD = tuple(a.name for a in NUMPY if a.pass_ == "input_grad")
KERNEL_GRAD = tuple(a.name for a in NUMPY if a.pass_ == "kernel_grad")
TRANSPOSE = INPUT_GRAD
EVERY = tuple(dict.fromkeys(CONV + INPUT_GRAD + KERNEL_GRAD))


@pytest.fixture(autouse=True)
def numpy_only():
    previous = config.backend()
    config.set_backend("numpy")
    yield
    config.set_backend(previous)


def forward(x, kernel, strides, pads, dilation, groups=1, mode="zeros", keep=None):
    """The forward conv through the seam, pads given explicitly."""
    return convolution.conv_nd(x, kernel, strides, tuple(map(tuple, pads)), dilation, groups, mode, keep)


def input_grad(dy, kernel, strides, pads, dilation, input_size, groups=1, mode="zeros"):
    """dx through the seam, pads given explicitly."""
    x_shape = (dy.shape[0], *input_size, groups * kernel.shape[-2])
    dtype = np.result_type(dy.dtype, kernel.dtype)
    padding = tuple(map(tuple, pads))
    spec, pads = convolution._forward_spec(
        x_shape, kernel.shape, strides, padding, dilation, groups, mode, dtype, False, None, False
    )
    dx = kernels.conv_input_grad(spec, dy, kernel)
    return dx if mode == "zeros" else pad_spatial_backward(dx, pads, mode)


def kernel_grad(x, dy, kernel_shape, strides, pads, dilation, groups=1, mode="zeros", kept=None):
    """dkernel through the seam, pads given explicitly."""
    dtype = np.result_type(x.dtype, dy.dtype)
    padding = tuple(map(tuple, pads))
    spec, pads = convolution._forward_spec(
        x.shape, tuple(kernel_shape), strides, padding, dilation, groups, mode, dtype, False, None, False
    )
    xp = x if mode == "zeros" else pad_spatial(x, pads, mode)
    return kernels.conv_kernel_grad(spec, xp, dy, kept)[0]


def transpose_spec(x, kernel, strides, pads, dilation):
    """The seam's spec of a transposed conv whose zero-inserted input is padded by ``pads``."""
    k_eff = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:-2], dilation)]
    out = [(n - 1) * s + 1 + b + a - ke + 1 for n, s, (b, a), ke in zip(x.shape[1:-1], strides, pads, k_eff)]
    fwd = []
    for n, s, ke, (b, _), length in zip(x.shape[1:-1], strides, k_eff, pads, out):
        fwd.append((ke - 1 - b, (n - 1) * s + ke - length - (ke - 1 - b)))
    dtype = np.result_type(x.dtype, kernel.dtype).name
    return ConvSpec((x.shape[0], *out, kernel.shape[-2]), kernel.shape, strides, tuple(fwd), dilation, 1, dtype)


def conv_transpose(x, kernel, strides, pads, dilation):
    return kernels.conv_input_grad(transpose_spec(x, kernel, strides, pads, dilation), x, kernel)


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


def close(actual, expected, rtol=1e-10):
    assert actual.shape == expected.shape
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-300)
    error = float(np.max(np.abs(actual - expected), initial=0.0)) / scale
    assert error <= rtol, f"relative error {error:.2e} > {rtol:.0e}"


def data(case, seed=0, dtype=np.float64):
    x_shape, k_shape = case[0], case[1]
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(k_shape).astype(dtype)


def reference_grads(case, x, kernel, dy):
    """dx, dkernel in float64 by im2col, checked here against naive's forward
    with the adjoint identity on random probes."""
    _, k_shape, strides, pads, dilation, groups, mode = case
    with registry.set_algorithm("im2col"):
        dx = input_grad(dy, kernel, strides, pads, dilation, x.shape[1:-1], groups, mode)
        dk = kernel_grad(x, dy, k_shape, strides, pads, dilation, groups, mode)
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(x.shape), rng.standard_normal(k_shape)
    lhs = np.vdot(naive.conv(u, kernel, strides, pads, dilation, groups, mode), dy)
    assert abs(lhs - np.vdot(u, dx)) <= 1e-9 * max(abs(lhs), 1.0)
    lhs = np.vdot(naive.conv(x, v, strides, pads, dilation, groups, mode), dy)
    assert abs(lhs - np.vdot(v, dk)) <= 1e-9 * max(abs(lhs), 1.0)
    return dx, dk


@pytest.mark.parametrize("algorithm", CONV)
@pytest.mark.parametrize("name", CASES)
def test_forward_matches_naive(algorithm, name):
    case = CASES[name]
    _, _, strides, pads, dilation, groups, mode = case
    x, kernel = data(case)
    with registry.set_algorithm(algorithm), registry.record() as seen:
        y = forward(x, kernel, strides, pads, dilation, groups, mode)
    close(y, naive.conv(x, kernel, strides, pads, dilation, groups, mode))
    assert [op for op, _ in seen] == ["forward"]


@pytest.mark.parametrize("algorithm", EVERY)
@pytest.mark.parametrize("name", CASES)
def test_backward_matches_reference(algorithm, name):
    case = CASES[name]
    _, k_shape, strides, pads, dilation, groups, mode = case
    x, kernel = data(case)
    dy = np.random.default_rng(2).standard_normal(naive.conv(x, kernel, strides, pads, dilation, groups, mode).shape)
    dx_ref, dk_ref = reference_grads(case, x, kernel, dy)
    with registry.set_algorithm(algorithm):
        dx = input_grad(dy, kernel, strides, pads, dilation, x.shape[1:-1], groups, mode)
        dk = kernel_grad(x, dy, k_shape, strides, pads, dilation, groups, mode)
    close(dx, dx_ref)
    close(dk, dk_ref)


@pytest.mark.parametrize("name", CASES)
def test_kernel_grad_from_kept_columns(name, monkeypatch):
    """A training step's kernel gradient reuses the forward's im2col columns;
    where it does (and where the forward kept none) it matches the reference."""
    case = CASES[name]
    _, k_shape, strides, pads, dilation, groups, mode = case
    x, kernel = data(case)
    keep = {}
    with registry.set_algorithm("im2col"):
        y = forward(x, kernel, strides, pads, dilation, groups, mode, keep)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    _, dk_ref = reference_grads(case, x, kernel, dy)
    assert ("cols" in keep) == (groups == 1)  # im2col keeps them for groups 1 only
    used = []
    original = im2col.kernel_grad_from_columns
    monkeypatch.setattr(im2col, "kernel_grad_from_columns", lambda *a: used.append(1) or original(*a))
    dk = kernel_grad(x, dy, k_shape, strides, pads, dilation, groups, mode, keep)
    close(dk, dk_ref)
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


@pytest.mark.parametrize("algorithm", TRANSPOSE)
@pytest.mark.parametrize("name", TRANSPOSED)
def test_transposed_matches_naive(algorithm, name):
    x_shape, k_shape, strides, pads, dilation = TRANSPOSED[name]
    x, kernel = data(TRANSPOSED[name])
    k_eff = [(k - 1) * d + 1 for k, d in zip(k_shape[:-2], dilation)]
    crops = [(ke - 1 - b, ke - 1 - a) for ke, (b, a) in zip(k_eff, pads)]
    expected = naive.conv_transpose(x, kernel, strides, crops, dilation)
    with registry.set_algorithm(algorithm), registry.record() as seen:
        y = conv_transpose(x, kernel, strides, pads, dilation)
    close(y, expected)
    spec = transpose_spec(x, kernel, strides, pads, dilation)
    (chosen,) = [a for a in NUMPY if a.name == algorithm and a.pass_ == "input_grad"]
    if chosen.applies(spec._replace(pads=tuple((max(b, 0), max(a, 0)) for b, a in spec.pads))):
        assert seen == [("input_grad", algorithm)]
    else:
        assert seen == [("input_grad", numpy_backend.default("input_grad", spec).name)]

    dy = np.random.default_rng(3).standard_normal(y.shape)
    with registry.set_algorithm(algorithm):
        dx = kernels.conv_forward(transpose_spec(x, kernel, strides, pads, dilation), dy, kernel)
        dk = kernels.conv_kernel_grad(transpose_spec(x, kernel, strides, pads, dilation), dy, x)[0]
    lhs = np.vdot(expected, dy)
    assert abs(np.vdot(x, dx) - lhs) <= 1e-9 * abs(lhs)
    assert abs(np.vdot(kernel, dk) - lhs) <= 1e-9 * abs(lhs)


@pytest.mark.parametrize("name", TRANSPOSED)
def test_transposed_algorithms_agree_with_each_other(name):
    x_shape, k_shape, strides, pads, dilation = TRANSPOSED[name]
    x, kernel = data(TRANSPOSED[name])
    results = []
    for algorithm in TRANSPOSE:
        with registry.set_algorithm(algorithm):
            results.append(conv_transpose(x, kernel, strides, pads, dilation))
    for y in results[1:]:
        close(y, results[0])


def test_every_algorithm_runs_on_some_case():
    ran = set()
    for algorithm in EVERY:
        for case in CASES.values():
            _, k_shape, strides, pads, dilation, groups, mode = case
            x, kernel = data(case)
            with registry.set_algorithm(algorithm), registry.record() as seen:
                y = forward(x, kernel, strides, pads, dilation, groups, mode)
                input_grad(y, kernel, strides, pads, dilation, x.shape[1:-1], groups, mode)
                kernel_grad(x, y, k_shape, strides, pads, dilation, groups, mode)
            ran.update(a for _, a in seen if a == algorithm)
    assert ran == set(EVERY)


# --------------------------------------------------------------------------
# chunk boundaries: the same numbers whatever the workspace
# --------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", EVERY)
@pytest.mark.parametrize(
    "name", ["3x3 same", "3x3 dilated", "3x3 mixed dilation reflect", "grouped", "depthwise", "1d same", "3d"]
)
def test_chunking_gives_the_same_result(monkeypatch, algorithm, name):
    case = CASES[name]
    x_shape, k_shape, strides, pads, dilation, groups, mode = case
    x, kernel = data(case)
    x = np.concatenate([x, x[:1] * 0.5])  # an odd batch
    dy = np.random.default_rng(5).standard_normal(naive.conv(x, kernel, strides, pads, dilation, groups, mode).shape)

    def run():
        with registry.set_algorithm(algorithm):
            return (
                forward(x, kernel, strides, pads, dilation, groups, mode),
                input_grad(dy, kernel, strides, pads, dilation, x.shape[1:-1], groups, mode),
                kernel_grad(x, dy, k_shape, strides, pads, dilation, groups, mode),
            )

    whole = run()
    for cap in (1, 700, 5000):
        monkeypatch.setattr(numpy_backend, "WORKSPACE_BYTES", cap)
        monkeypatch.setattr(im2col, "BLOCK_BYTES", cap)
        monkeypatch.setattr(depthwise, "BLOCK_BYTES", cap)
        for got, want in zip(run(), whole):
            close(got, want, rtol=1e-12)


@pytest.mark.parametrize("algorithm", TRANSPOSE)
def test_transposed_chunking_gives_the_same_result(monkeypatch, algorithm):
    x_shape, k_shape, strides, pads, dilation = TRANSPOSED["k4 s2 same"]
    x, kernel = data(TRANSPOSED["k4 s2 same"])
    x = np.concatenate([x, x[:1]])
    with registry.set_algorithm(algorithm):
        whole = conv_transpose(x, kernel, strides, pads, dilation)
        monkeypatch.setattr(numpy_backend, "WORKSPACE_BYTES", 1)
        close(conv_transpose(x, kernel, strides, pads, dilation), whole, rtol=1e-12)


# --------------------------------------------------------------------------
# float32 in, float32 out, every path
# --------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", CONV)
@pytest.mark.parametrize("name", ["3x3 same", "1x1", "depthwise", "1d same", "article 5x5"])
def test_dtype_is_kept(algorithm, name):
    case = CASES[name]
    _, k_shape, strides, pads, dilation, groups, mode = case
    x, kernel = data(case, dtype=np.float32)
    with registry.set_algorithm(algorithm):
        y = forward(x, kernel, strides, pads, dilation, groups, mode)
        dk = kernel_grad(x, y, k_shape, strides, pads, dilation, groups, mode)
        dx = input_grad(y, kernel, strides, pads, dilation, x.shape[1:-1], groups, mode)
    assert y.dtype == dk.dtype == dx.dtype == np.float32
    close(
        y.astype(np.float64),
        naive.conv(x.astype(np.float64), kernel.astype(np.float64), strides, pads, dilation, groups, mode),
        1e-5,
    )


def test_empty_batch_on_every_path():
    for algorithm in CONV:
        with registry.set_algorithm(algorithm):
            y = forward(np.zeros((0, 9, 8, 6)), np.ones((3, 3, 6, 4)), (1, 1), [(1, 1), (1, 1)], (1, 1))
        assert y.shape == (0, 9, 8, 4)


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
    forward(x, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
    assert len(registry._cache) == 1
    forward(x + 1, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
    assert len(registry._cache) == 1
    forward(x[:1], kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
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
            forward(x, kernel, (1, 1), [(0, 0), (0, 0)], (1, 1))
        assert seen == [("forward", "im2col")]
    finally:
        registry.set_algorithm(None)
    assert registry.get_algorithm() is None


def test_forced_algorithm_that_does_not_apply_falls_back():
    x, kernel = data(((1, 8, 8, 2), (5, 5, 2, 3)))
    with registry.set_algorithm("depthwise"), registry.record() as seen:
        forward(x, kernel, (1, 1), [(2, 2), (2, 2)], (1, 1))
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
        forward(x, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
        with registry.record() as inner:
            kernel_grad(x, x[..., :4], kernel.shape, (1, 1), [(1, 1), (1, 1)], (1, 1))
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
            forward(x, kernel, (1, 1), [(0, 0), (0, 0)], (1, 1))
        results["forcing"] = seen

    def other():
        forced_in.wait(10)
        with registry.record() as seen:
            forward(x, kernel, (1, 1), [(0, 0), (0, 0)], (1, 1))
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
# non-finite inputs: a NaN reaches only the outputs whose windows hold it
# --------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", CONV)
def test_one_nan_pixel_reaches_only_its_windows(algorithm):
    """40x40x64 'same' 3x3 with one NaN pixel: the 3x3 outputs around it, in
    all 64 filters, are NaN (576, as in Keras); every other output is finite."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 40, 40, 64)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 64, 64)).astype(np.float32)
    x[0, 17, 23, 5] = np.nan
    with registry.set_algorithm(algorithm), registry.record() as seen:
        y = forward(x, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
    bad = ~np.isfinite(y)
    assert bad.sum() == 576
    assert bad[0, 16:19, 22:25, :].all()
    ran = seen[0][1]
    assert ran == algorithm or algorithm in ("gemm", "depthwise", "small")


@pytest.mark.parametrize("algorithm", INPUT_GRAD + KERNEL_GRAD)
def test_an_infinite_gradient_reaches_only_what_it_touches(algorithm):
    """An Inf in dy spreads to the dx pixels under its window and, through
    the kernel gradient, to every tap (as the definition says), nothing more."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 12, 11, 4))
    kernel = rng.standard_normal((3, 3, 4, 5))
    dy = rng.standard_normal((2, 12, 11, 5))
    dy[1, 6, 4, 2] = np.inf
    with registry.set_algorithm(algorithm):
        dx = input_grad(dy, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1), x.shape[1:-1])
        dk = kernel_grad(x, dy, kernel.shape, (1, 1), [(1, 1), (1, 1)], (1, 1))
    bad = ~np.isfinite(dx)
    assert bad[1, 5:8, 3:6, :].all() and bad.sum() == 9 * 4
    assert (~np.isfinite(dk[..., 2])).all() and np.isfinite(dk[..., [0, 1, 3, 4]]).all()


def test_docs_table_is_generated_from_the_registry():
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "performance.md")
    with open(path) as handle:
        text = handle.read()
    table = text.split("<!-- registry table: start -->\n")[1].split("\n<!-- registry table: end -->")[0]
    assert table == registry.markdown_table(), "regenerate it: python -m npconv.ops.registry"
