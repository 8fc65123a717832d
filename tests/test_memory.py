"""The workspace cap: no convolution kernel materialises an unbounded im2col.

``tracemalloc`` sees every NumPy buffer. Each test measures the peak of
traced memory during one call and subtracts the result itself; what is left
(padded blocks, columns, transform tiles) must stay within
``WORKSPACE_BYTES`` of the numpy backend plus a small allowance for per-call
constants (index plans). A padding mode other than zeros pads the input once
before the kernels run; that copy is counted separately.
"""

import tracemalloc

import numpy as np
import pytest
from helpers import seam_forward, seam_input_grad, seam_kernel_grad, transpose_spec

from npconv import config
from npconv.ops import kernels, registry
from npconv.ops.backends import numpy as numpy_backend

MiB = 2**20
ALLOWANCE = 1 * MiB


@pytest.fixture(autouse=True)
def numpy_only():
    previous = config.backend()
    config.set_backend("numpy")
    yield
    config.set_backend(previous)


def peak_extra(fn):
    """(result, peak traced bytes during fn beyond the result's own size)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return result, peak - result.nbytes


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 512, 384, 16), dtype=np.float32)
    kernel = rng.standard_normal((3, 3, 16, 16), dtype=np.float32)
    return x, kernel


@pytest.fixture
def cap(monkeypatch):
    monkeypatch.setattr(numpy_backend, "WORKSPACE_BYTES", 4 * MiB)
    return 4 * MiB


@pytest.mark.parametrize("algorithm", ["im2col"])
def test_forward_stays_under_the_cap(image, cap, algorithm):
    x, kernel = image
    with registry.set_algorithm(algorithm), registry.record() as seen:
        y, extra = peak_extra(lambda: seam_forward(x, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1)))
    assert seen == [("forward", algorithm)]
    assert y.shape == (1, 512, 384, 16)
    assert extra <= cap + ALLOWANCE, f"{extra / MiB:.1f} MiB of temporaries"


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
def test_im2col_without_the_cap_would_need_more(image, cap, padding_mode):
    """The same call's im2col matrix alone is 9x the input: the cap is what bounds it."""
    x, kernel = image
    columns = x.nbytes * 9
    assert columns > 8 * cap
    with registry.set_algorithm("im2col"), registry.record() as seen:
        _, extra = peak_extra(lambda: seam_forward(x, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1), 1, padding_mode))
    assert seen == [("forward", "im2col")]
    padded_copy = x.nbytes * (514 * 386) / (512 * 384) if padding_mode != "zeros" else 0
    assert extra <= cap + ALLOWANCE + padded_copy


@pytest.mark.parametrize(
    "pass_, algorithm", [("input_grad", "flip"), ("input_grad", "scatter"), ("kernel_grad", "im2col")]
)
def test_backward_stays_under_the_cap(image, cap, pass_, algorithm):
    x, kernel = image
    dy = np.ones_like(x)
    with registry.set_algorithm(algorithm), registry.record() as seen:
        if pass_ == "input_grad":
            _, extra = peak_extra(lambda: seam_input_grad(dy, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1), x.shape[1:-1]))
        else:
            _, extra = peak_extra(lambda: seam_kernel_grad(x, dy, kernel.shape, (1, 1), [(1, 1), (1, 1)], (1, 1)))
    assert seen == [(pass_, algorithm)]
    assert extra <= cap + ALLOWANCE


def test_strided_conv_and_its_gradients_stay_under_the_cap(image, cap):
    x, kernel = image
    y, extra = peak_extra(lambda: seam_forward(x, kernel, (2, 2), [(0, 1), (0, 1)], (1, 1)))
    assert extra <= cap + ALLOWANCE
    _, extra = peak_extra(lambda: seam_kernel_grad(x, y, kernel.shape, (2, 2), [(0, 1), (0, 1)], (1, 1)))
    assert extra <= cap + ALLOWANCE


def test_depthwise_stays_under_the_cap(image, cap):
    x, _ = image
    kernel = np.ones((3, 3, 1, 16), dtype=np.float32)
    with registry.record() as seen:
        y, extra = peak_extra(lambda: seam_forward(x, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1), 16))
        _, grad_extra = peak_extra(lambda: seam_kernel_grad(x, y, kernel.shape, (1, 1), [(1, 1), (1, 1)], (1, 1), 16))
    assert [a for _, a in seen] == ["depthwise", "depthwise"]
    assert extra <= cap + ALLOWANCE
    assert grad_extra <= cap + ALLOWANCE


@pytest.mark.parametrize("algorithm", ["scatter", "subpixel"])
def test_transposed_stays_under_the_cap(cap, algorithm):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 96, 96, 32), dtype=np.float32)
    kernel = rng.standard_normal((4, 4, 16, 32), dtype=np.float32)
    assert x.nbytes // 32 * 16 * 16 > 4 * cap  # all the tap products at once would not fit
    with registry.set_algorithm(algorithm), registry.record() as seen:
        _, extra = peak_extra(
            lambda: kernels.conv_input_grad(transpose_spec(x, kernel, (2, 2), [(2, 2), (2, 2)], (1, 1)), x, kernel)
        )
    assert seen == [("input_grad", algorithm)]
    assert extra <= cap + ALLOWANCE


@pytest.mark.parametrize("size", [1024, pytest.param(2048, marks=pytest.mark.slow)])
def test_a_large_image_runs_in_bounded_memory(size):
    """1 x size x size x 16 -> 16 channels, 3x3 'same', with the default cap:
    im2col's columns would be 9x the input (576 MiB at 1024, 2.3 GiB at 2048)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, size, size, 16), dtype=np.float32)
    kernel = rng.standard_normal((3, 3, 16, 16), dtype=np.float32)
    with registry.record() as seen:
        y, extra = peak_extra(lambda: seam_forward(x, kernel, (1, 1), [(1, 1), (1, 1)], (1, 1)))
    assert seen == [("forward", "im2col")]
    assert y.shape == (1, size, size, 16)
    assert extra <= numpy_backend.WORKSPACE_BYTES + ALLOWANCE
    assert extra < x.nbytes / 4  # far below even one padded copy of the input
    window = seam_forward(x[:, :9, :9], kernel, (1, 1), [(1, 1), (1, 1)], (1, 1))
    np.testing.assert_allclose(y[:, :8, :8], window[:, :8, :8], rtol=1e-4, atol=1e-4)
