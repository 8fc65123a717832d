"""Every convolution algorithm against the same oracles, forward and backward.

Each test forces one algorithm with ``dispatch.set_algorithm`` (where it does
not apply, the usual choice runs; ``dispatch.record`` tells which ran) and
compares with:

- the naive loop reference (tests/naive.py) for forward values, in float64;
- for gradients, a float64 reference (the plain im2col path, or scatter for
  transposed convs) that is itself checked against the naive forward through
  the adjoint identity <conv(x), dy> = <x, dx> = <kernel, dkernel>.

Cases cover groups, depthwise multipliers, dilation, strides, every padding
mode, asymmetric pads, odd sizes, 1-D and 3-D, and batch / row / tile chunk
boundaries (the workspace caps shrunk until every chunk is one row).
"""

import naive
import numpy as np
import pytest

from npconv.ops import depthwise, dispatch, kernels, winograd

CONV = dispatch.ALGORITHMS["conv"]
KERNEL_GRAD = dispatch.ALGORITHMS["kernel_grad"]
TRANSPOSE = dispatch.ALGORITHMS["conv_transpose"]
EVERY = dispatch.NAMES

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
    with dispatch.set_algorithm("im2col"):
        dx = kernels.conv_input_grad(dy, kernel, strides, pads, dilation, x.shape[1:-1], groups, mode)
        dk = kernels.conv_kernel_grad(x, dy, k_shape, strides, pads, dilation, groups, mode)
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
    with dispatch.set_algorithm(algorithm), dispatch.record() as seen:
        y = kernels.conv_forward(x, kernel, strides, pads, dilation, groups, mode)
    close(y, naive.conv(x, kernel, strides, pads, dilation, groups, mode))
    assert [op for op, _ in seen] == ["forward"]


@pytest.mark.parametrize("algorithm", sorted(set(CONV + KERNEL_GRAD + TRANSPOSE)))
@pytest.mark.parametrize("name", CASES)
def test_backward_matches_reference(algorithm, name):
    case = CASES[name]
    _, k_shape, strides, pads, dilation, groups, mode = case
    x, kernel = data(case)
    dy = np.random.default_rng(2).standard_normal(naive.conv(x, kernel, strides, pads, dilation, groups, mode).shape)
    dx_ref, dk_ref = reference_grads(case, x, kernel, dy)
    with dispatch.set_algorithm(algorithm):
        dx = kernels.conv_input_grad(dy, kernel, strides, pads, dilation, x.shape[1:-1], groups, mode)
        dk = kernels.conv_kernel_grad(x, dy, k_shape, strides, pads, dilation, groups, mode)
    close(dx, dx_ref)
    close(dk, dk_ref)


@pytest.mark.parametrize("name", CASES)
def test_kernel_grad_from_kept_columns(name):
    """A training step's kernel gradient reuses the forward's im2col columns;
    where it does (and where the forward kept none) it matches the reference."""
    case = CASES[name]
    _, k_shape, strides, pads, dilation, groups, mode = case
    x, kernel = data(case)
    keep = {}
    with dispatch.set_algorithm("im2col"):
        y = kernels.conv_forward(x, kernel, strides, pads, dilation, groups, mode, keep)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    _, dk_ref = reference_grads(case, x, kernel, dy)
    assert ("cols" in keep) == (groups == 1)  # im2col keeps them for groups 1 only
    with dispatch.record() as seen:
        dk = kernels.conv_kernel_grad(x, dy, k_shape, strides, pads, dilation, groups, mode, keep)
    close(dk, dk_ref)
    assert seen == [("kernel_grad", "im2col")] or groups > 1


def test_columns_are_kept_only_in_training():
    """Conv2D keeps its columns only when called in training; gradients agree either way."""
    from npconv import layers

    x = np.random.default_rng(0).standard_normal((3, 6, 5, 4)).astype(np.float32)
    layer = layers.Conv2D(5, 3, padding="same")
    dy = np.random.default_rng(1).standard_normal((3, 6, 5, 5)).astype(np.float32)
    grads = {}
    for training in (False, True):
        layer(x, training=training)
        kept = layer._last[-1]
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
    with dispatch.set_algorithm(algorithm), dispatch.record() as seen:
        y = kernels.conv_transpose_forward(x, kernel, strides, pads, dilation)
    close(y, expected)
    if algorithm == "scatter" or all(d == 1 for d in dilation):
        assert seen == [("conv_transpose", algorithm)]

    dy = np.random.default_rng(3).standard_normal(y.shape)
    with dispatch.set_algorithm(algorithm):
        dx = kernels.conv_transpose_input_grad(dy, kernel, strides, pads, dilation, x_shape[1:-1])
        dk = kernels.conv_transpose_kernel_grad(x, dy, k_shape, strides, pads, dilation)
    lhs = np.vdot(expected, dy)
    assert abs(np.vdot(x, dx) - lhs) <= 1e-9 * abs(lhs)
    assert abs(np.vdot(kernel, dk) - lhs) <= 1e-9 * abs(lhs)


@pytest.mark.parametrize("name", TRANSPOSED)
def test_transposed_algorithms_agree_with_each_other(name):
    x_shape, k_shape, strides, pads, dilation = TRANSPOSED[name]
    x, kernel = data(TRANSPOSED[name])
    results = []
    for algorithm in TRANSPOSE:
        with dispatch.set_algorithm(algorithm):
            results.append(kernels.conv_transpose_forward(x, kernel, strides, pads, dilation))
    for y in results[1:]:
        close(y, results[0])


def test_every_algorithm_runs_on_some_case():
    ran = set()
    for algorithm in EVERY:
        for case in CASES.values():
            _, k_shape, strides, pads, dilation, groups, mode = case
            x, kernel = data(case)
            with dispatch.set_algorithm(algorithm), dispatch.record() as seen:
                y = kernels.conv_forward(x, kernel, strides, pads, dilation, groups, mode)
                kernels.conv_input_grad(y, kernel, strides, pads, dilation, x.shape[1:-1], groups, mode)
                kernels.conv_kernel_grad(x, y, k_shape, strides, pads, dilation, groups, mode)
            ran.update(a for _, a in seen if a == algorithm)
    assert ran == set(EVERY)


# --------------------------------------------------------------------------
# float32 accuracy: Winograd within 1e-4 of the direct method
# --------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["winograd", "winograd2"])
@pytest.mark.parametrize("dilation", [(1, 1), (2, 2)])
def test_winograd_float32_accuracy(algorithm, dilation):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 30, 27, 48)).astype(np.float32)
    kernel = (rng.standard_normal((3, 3, 48, 40)) / np.sqrt(9 * 48)).astype(np.float32)
    pads = [(d, d) for d in dilation]
    y64 = naive_free_direct(x, kernel, pads, dilation)
    with dispatch.set_algorithm(algorithm), dispatch.record() as seen:
        y = kernels.conv_forward(x, kernel, (1, 1), pads, dilation)
    assert seen == [("forward", algorithm)]
    close(y.astype(np.float64), y64, rtol=1e-4)

    dy = rng.standard_normal(y.shape).astype(np.float32)
    with dispatch.set_algorithm("im2col"):
        dx64 = kernels.conv_input_grad(
            dy.astype(np.float64), kernel.astype(np.float64), (1, 1), pads, dilation, x.shape[1:-1]
        )
        dk64 = kernels.conv_kernel_grad(
            x.astype(np.float64), dy.astype(np.float64), kernel.shape, (1, 1), pads, dilation
        )
    with dispatch.set_algorithm(algorithm):
        dx = kernels.conv_input_grad(dy, kernel, (1, 1), pads, dilation, x.shape[1:-1])
        dk = kernels.conv_kernel_grad(x, dy, kernel.shape, (1, 1), pads, dilation)
    assert dx.dtype == dk.dtype == np.float32
    close(dx.astype(np.float64), dx64, rtol=1e-4)
    close(dk.astype(np.float64), dk64, rtol=1e-4)


def naive_free_direct(x, kernel, pads, dilation):
    """float64 direct conv by im2col (naive's loops are too slow at this size)."""
    with dispatch.set_algorithm("im2col"):
        return kernels.conv_forward(x.astype(np.float64), kernel.astype(np.float64), (1, 1), pads, dilation)


# --------------------------------------------------------------------------
# chunk boundaries: the same numbers whatever the workspace
# --------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", sorted(set(CONV + KERNEL_GRAD)))
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
        with dispatch.set_algorithm(algorithm):
            return (
                kernels.conv_forward(x, kernel, strides, pads, dilation, groups, mode),
                kernels.conv_input_grad(dy, kernel, strides, pads, dilation, x.shape[1:-1], groups, mode),
                kernels.conv_kernel_grad(x, dy, k_shape, strides, pads, dilation, groups, mode),
            )

    whole = run()
    for cap in (1, 700, 5000):
        monkeypatch.setattr(kernels, "WORKSPACE_BYTES", cap)
        monkeypatch.setattr(winograd, "BLOCK_BYTES", cap)
        monkeypatch.setattr(depthwise, "BLOCK_BYTES", cap)
        for got, want in zip(run(), whole):
            close(got, want, rtol=1e-12)


@pytest.mark.parametrize("algorithm", TRANSPOSE)
def test_transposed_chunking_gives_the_same_result(monkeypatch, algorithm):
    x_shape, k_shape, strides, pads, dilation = TRANSPOSED["k4 s2 same"]
    x, kernel = data(TRANSPOSED["k4 s2 same"])
    x = np.concatenate([x, x[:1]])
    with dispatch.set_algorithm(algorithm):
        whole = kernels.conv_transpose_forward(x, kernel, strides, pads, dilation)
        monkeypatch.setattr(kernels, "WORKSPACE_BYTES", 1)
        close(kernels.conv_transpose_forward(x, kernel, strides, pads, dilation), whole, rtol=1e-12)


# --------------------------------------------------------------------------
# float32 in, float32 out, every path
# --------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", CONV)
@pytest.mark.parametrize("name", ["3x3 same", "1x1", "depthwise", "1d same", "article 5x5"])
def test_dtype_is_kept(algorithm, name):
    case = CASES[name]
    _, k_shape, strides, pads, dilation, groups, mode = case
    x, kernel = data(case, dtype=np.float32)
    with dispatch.set_algorithm(algorithm):
        y = kernels.conv_forward(x, kernel, strides, pads, dilation, groups, mode)
        dk = kernels.conv_kernel_grad(x, y, k_shape, strides, pads, dilation, groups, mode)
        dx = kernels.conv_input_grad(y, kernel, strides, pads, dilation, x.shape[1:-1], groups, mode)
    assert y.dtype == dk.dtype == dx.dtype == np.float32
    close(
        y.astype(np.float64),
        naive.conv(x.astype(np.float64), kernel.astype(np.float64), strides, pads, dilation, groups, mode),
        1e-5,
    )


def test_empty_batch_on_every_path():
    for algorithm in CONV:
        with dispatch.set_algorithm(algorithm):
            y = kernels.conv_forward(np.zeros((0, 9, 8, 6)), np.ones((3, 3, 6, 4)), (1, 1), [(1, 1), (1, 1)], (1, 1))
        assert y.shape == (0, 9, 8, 4)


# --------------------------------------------------------------------------
# dispatch: choice by shape, cache, forcing
# --------------------------------------------------------------------------
SUITE_SHAPES = {
    # (x shape, kernel shape, strides, pads, dilation, groups): expected default
    "resnet 3x3": (((8, 56, 56, 64), (3, 3, 64, 64), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "winograd"),
    "downsample 3x3": (((8, 56, 56, 64), (3, 3, 64, 128), (2, 2), ((0, 1), (0, 1)), (1, 1), 1), "im2col"),
    "bottleneck 1x1": (((8, 28, 28, 256), (1, 1, 256, 64), (1, 1), ((0, 0), (0, 0)), (1, 1), 1), "gemm"),
    "depthwise 3x3": (((8, 56, 56, 128), (3, 3, 1, 128), (1, 1), ((1, 1), (1, 1)), (1, 1), 128), "depthwise"),
    "dilated 3x3": (((8, 64, 64, 64), (3, 3, 64, 64), (1, 1), ((2, 2), (2, 2)), (2, 2), 1), "winograd"),
    "conv1d audio": (((16, 16000, 32), (9, 32, 32), (1,), ((4, 4),), (1,), 1), "window"),
    "article 5x5": (((1, 5, 5, 1), (3, 3, 1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1), "small"),
    "small image": (((8, 8, 8, 32), (3, 3, 32, 32), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "im2col"),
    "few channels": (((8, 32, 32, 16), (3, 3, 16, 16), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "im2col"),
    "mid image": (((8, 16, 16, 32), (3, 3, 32, 32), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "winograd"),
    "one channel": (((32, 8, 8, 1), (3, 3, 1, 32), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "small"),
    "one channel, large": (((4, 512, 512, 1), (3, 3, 1, 8), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "im2col"),
    "too few channels": (((8, 32, 32, 8), (3, 3, 8, 8), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), "im2col"),
}


@pytest.mark.parametrize("name", SUITE_SHAPES)
def test_default_choice_by_shape(name):
    (x_shape, k_shape, strides, pads, dilation, groups), expected = SUITE_SHAPES[name]
    padded = [n + b + a for n, (b, a) in zip(x_shape[1:-1], pads)]
    out = [(p - ((k - 1) * d + 1)) // s + 1 for p, k, s, d in zip(padded, k_shape[:-2], strides, dilation)]
    shape = kernels._describe(x_shape, k_shape, strides, pads, dilation, groups, "zeros", out)
    assert dispatch._default("conv", shape) == expected


def test_choice_is_cached_per_shape():
    dispatch.clear_cache()
    x, kernel = data(CASES["3x3 same"])
    kernels.conv_forward(x, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
    assert len(dispatch._cache) == 1
    kernels.conv_forward(x + 1, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
    assert len(dispatch._cache) == 1
    kernels.conv_forward(x[:1], kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
    assert len(dispatch._cache) == 2
    dispatch.clear_cache()
    assert not dispatch._cache


def test_set_algorithm_as_context_manager_restores():
    assert dispatch.get_algorithm() is None
    with dispatch.set_algorithm("im2col"):
        assert dispatch.get_algorithm() == "im2col"
        with dispatch.set_algorithm("winograd"):
            assert dispatch.get_algorithm() == "winograd"
        assert dispatch.get_algorithm() == "im2col"
    assert dispatch.get_algorithm() is None


def test_set_algorithm_as_a_call_persists_until_reset():
    try:
        dispatch.set_algorithm("im2col")
        x, kernel = data(CASES["1x1"])
        with dispatch.record() as seen:
            kernels.conv_forward(x, kernel, (1, 1), [(0, 0), (0, 0)], (1, 1))
        assert seen == [("forward", "im2col")]
    finally:
        dispatch.set_algorithm(None)
    assert dispatch.get_algorithm() is None


def test_forced_algorithm_that_does_not_apply_falls_back():
    x, kernel = data(((1, 8, 8, 2), (5, 5, 2, 3)))
    with dispatch.set_algorithm("winograd"), dispatch.record() as seen:
        kernels.conv_forward(x, kernel, (1, 1), [(2, 2), (2, 2)], (1, 1))
    assert seen == [("forward", "small")]


def test_unknown_algorithm_is_rejected_with_the_names():
    with pytest.raises(
        ValueError, match=r"Invalid value for argument `algorithm`\. Expected None or one of \["
    ) as error:
        dispatch.set_algorithm("fft")
    assert "Received: algorithm='fft'" in str(error.value)
    assert dispatch.get_algorithm() is None


def test_environment_variable_forces_an_algorithm(monkeypatch):
    monkeypatch.setenv("NPCONV_ALGORITHM", "im2col")
    assert dispatch._read_environment() == "im2col"
    monkeypatch.setenv("NPCONV_ALGORITHM", "auto")
    assert dispatch._read_environment() is None
    monkeypatch.setenv("NPCONV_ALGORITHM", "bogus")
    with pytest.warns(UserWarning, match="NPCONV_ALGORITHM='bogus'"):
        assert dispatch._read_environment() is None


def test_record_nests():
    x, kernel = data(CASES["3x3 same"])
    with dispatch.record() as outer:
        kernels.conv_forward(x, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
        with dispatch.record() as inner:
            kernels.conv_kernel_grad(x, x[..., :4], kernel.shape, (1, 1), [(1, 1), (1, 1)], (1, 1))
    assert [op for op, _ in inner] == ["kernel_grad"]
    assert [op for op, _ in outer] == ["forward", "kernel_grad"]
