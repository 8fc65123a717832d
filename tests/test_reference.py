"""Every beyond-Keras feature against the naive loop reference (tests/naive.py).

Keras has no 'full' or explicit padding, no padding_mode, no stride together
with dilation on its Conv layers and no output_shape target, so these are
checked against definitions instead: naive's loops, the adjoint identity,
float64, and NaN/Inf propagation. The naive reference is itself checked
against PyTorch where PyTorch is installed.
"""

import itertools

import naive
import numpy as np
import pytest
from helpers import close

from npconv import layers, ops

FORWARD = {
    1: [layers.Conv1D, layers.DepthwiseConv1D, layers.SeparableConv1D],
    2: [layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D],
    3: [layers.Conv3D],
}
TRANSPOSED = {1: layers.Conv1DTranspose, 2: layers.Conv2DTranspose, 3: layers.Conv3DTranspose}
SPATIAL = {1: (9,), 2: (7, 6), 3: (5, 4, 5)}


def pads_for(padding, spatial, kernel_size, strides, dilation):
    """Explicit (before, after) per dimension for any padding the layers accept,
    from the definitions (and Keras's formulas for valid/same/causal)."""
    rank = len(spatial)
    if isinstance(padding, str):
        return [
            naive.keras_conv_pads(n, k, s, d, padding) for n, k, s, d in zip(spatial, kernel_size, strides, dilation)
        ]
    if isinstance(padding, int):
        return [(padding, padding)] * rank
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def make_layer(cls, x, rng, **kwargs):
    """Build ``cls(**kwargs)`` for x, give it random weights, return (layer, weights)."""
    layer = cls(**kwargs)
    layer.build(x.shape)
    weights = [rng.standard_normal(w.shape).astype(layer.dtype) for w in layer.weights]
    layer.set_weights(weights)
    return layer, weights


def expected_forward(cls, x, weights, kernel_size, strides, padding, dilation, groups=1, padding_mode="zeros"):
    rank = x.ndim - 2
    kernel_size, strides, dilation = (
        naive.per_dim(kernel_size, rank),
        naive.per_dim(strides, rank),
        naive.per_dim(dilation, rank),
    )
    pads = pads_for(padding, x.shape[1:-1], kernel_size, strides, dilation)
    name = cls.__name__
    if name.startswith("Depthwise"):
        y = naive.depthwise_conv(x, weights[0], strides, pads, dilation, padding_mode)
    elif name.startswith("Separable"):
        y = naive.separable_conv(x, weights[0], weights[1], strides, pads, dilation, padding_mode)
    else:
        y = naive.conv(x, weights[0], strides, pads, dilation, groups, padding_mode)
    return y + weights[-1]


def forward_kwargs(cls, kernel_size, **kwargs):
    name = cls.__name__
    if name.startswith("Depthwise"):
        return {"kernel_size": kernel_size, "depth_multiplier": 2, **kwargs}
    return {"filters": 3, "kernel_size": kernel_size, **kwargs}


def all_forward():
    return [(rank, cls) for rank, classes in FORWARD.items() for cls in classes]


def ids(case):
    return case[1].__name__


# --------------------------------------------------------------------------
# the naive reference itself, against PyTorch
# --------------------------------------------------------------------------
def test_naive_conv_matches_torch(rng):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    for mode in ("zeros", "reflect", "replicate", "circular"):
        x = rng.standard_normal((2, 7, 6, 4))
        kernel = rng.standard_normal((3, 2, 2, 6))  # groups = 2
        pads = [(2, 1), (1, 2)]
        y = naive.conv(x, kernel, (2, 1), pads, (1, 2), groups=2, padding_mode=mode)
        xt = torch.from_numpy(np.moveaxis(x, -1, 1))
        torch_mode = "constant" if mode == "zeros" else mode
        xt = functional.pad(xt, (1, 2, 2, 1), mode=torch_mode)
        wt = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        expected = functional.conv2d(xt, wt, stride=(2, 1), dilation=(1, 2), groups=2).numpy()
        np.testing.assert_allclose(y, np.moveaxis(expected, 1, -1), rtol=1e-12, atol=1e-12)


def test_naive_conv_transpose_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 4, 5, 3))
    kernel = rng.standard_normal((3, 2, 5, 3))  # (*k, filters, in)
    # torch: padding p crops p from both ends, output_padding adds after.
    y = naive.conv_transpose(x, kernel, (2, 3), [(1, 1 - 1), (2, 2 - 2)], (2, 1))
    wt = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    xt = torch.from_numpy(np.moveaxis(x, -1, 1))
    expected = torch.nn.functional.conv_transpose2d(
        xt, wt, stride=(2, 3), padding=(1, 2), output_padding=(1, 2), dilation=(2, 1)
    ).numpy()
    np.testing.assert_allclose(y, np.moveaxis(expected, 1, -1), rtol=1e-12, atol=1e-12)


def test_naive_depthwise_and_separable_match_grouped_conv(rng):
    x = rng.standard_normal((2, 6, 5, 3))
    depthwise = rng.standard_normal((2, 3, 3, 2))
    pointwise = rng.standard_normal((1, 1, 6, 4))
    pads = [(1, 0), (0, 2)]
    grouped = depthwise.reshape(2, 3, 1, 6)  # channel c*2 + m reads input c
    dw = naive.depthwise_conv(x, depthwise, 2, pads, 1)
    np.testing.assert_allclose(dw, naive.conv(x, grouped, 2, pads, 1, groups=3), rtol=1e-12)
    sep = naive.separable_conv(x, depthwise, pointwise, 2, pads, 1)
    np.testing.assert_allclose(sep, dw @ pointwise[0, 0], rtol=1e-12)


def test_naive_reflect_index_map():
    row = [naive.source_index(p, 4, "reflect") for p in range(-3, 7)]
    assert row == [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
    assert [naive.source_index(p, 3, "circular") for p in range(-2, 5)] == [1, 2, 0, 1, 2, 0, 1]
    assert [naive.source_index(p, 3, "replicate") for p in range(-2, 5)] == [0, 0, 0, 1, 2, 2, 2]


# --------------------------------------------------------------------------
# padding beyond 'valid'/'same': 'full', ints, per-dimension ints, pairs
# --------------------------------------------------------------------------
def explicit_paddings(rank):
    per_dim_ints = tuple(range(1, rank + 1))
    pairs = tuple((i % 3, (i + 2) % 4) for i in range(rank))
    return ["full", 2, per_dim_ints, pairs]


@pytest.mark.parametrize("case", all_forward(), ids=ids)
def test_forward_explicit_padding(case, rng):
    rank, cls = case
    x = rng.standard_normal((2, *SPATIAL[rank], 4)).astype("float32")
    for padding, (strides, dilation) in itertools.product(explicit_paddings(rank), [(1, 1), (2, 1), (1, 2)]):
        kwargs = forward_kwargs(cls, 3, strides=strides, dilation_rate=dilation, padding=padding)
        layer, weights = make_layer(cls, x, rng, **kwargs)
        expected = expected_forward(cls, x, weights, 3, strides, padding, dilation)
        close(layer(x), expected)
        assert layer.compute_output_shape(x.shape) == expected.shape


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_transposed_explicit_padding(rank, rng):
    """An explicit pair crops the full scatter output (PyTorch's convention),
    then output_padding extends after."""
    cls = TRANSPOSED[rank]
    x = rng.standard_normal((2, *(3, 4, 5)[:rank], 2)).astype("float32")
    ksize, strides, dilation = (3, 2, 3)[:rank], (2, 3, 1)[:rank], (1, 1, 2)[:rank]
    for padding in explicit_paddings(rank) + [0]:
        for output_padding in (None, tuple(s - 1 for s in strides)):
            layer, weights = make_layer(
                cls,
                x,
                rng,
                filters=3,
                kernel_size=ksize,
                strides=strides,
                padding=padding,
                output_padding=output_padding,
                dilation_rate=dilation,
            )
            if padding == "full":
                pads = [((k - 1) * d, (k - 1) * d) for k, d in zip(ksize, dilation)]
            else:
                pads = pads_for(padding, x.shape[1:-1], ksize, strides, dilation)
            ops_ = output_padding or (0,) * rank
            crops = [(before, after - op) for (before, after), op in zip(pads, ops_)]
            expected = naive.conv_transpose(x, weights[0], strides, crops, dilation) + weights[1]
            close(layer(x), expected)
            assert layer.compute_output_shape(x.shape) == expected.shape


# --------------------------------------------------------------------------
# padding_mode
# --------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("case", all_forward(), ids=ids)
def test_padding_mode(case, mode, rng):
    rank, cls = case
    x = rng.standard_normal((2, *SPATIAL[rank], 3)).astype("float32")
    paddings = ["same", "full", tuple((1, 2) for _ in range(rank))]
    if cls is layers.Conv1D:
        paddings.append("causal")
    for padding, strides in itertools.product(paddings, [1, 2]):
        kwargs = forward_kwargs(cls, 3, strides=strides, padding=padding, padding_mode=mode)
        layer, weights = make_layer(cls, x, rng, **kwargs)
        expected = expected_forward(cls, x, weights, 3, strides, padding, 1, padding_mode=mode)
        close(layer(x), expected)


def test_padding_mode_in_config():
    layer = layers.Conv2D(2, 3, padding="same", padding_mode="Reflect")
    assert layer.get_config()["padding_mode"] == "reflect"
    assert layers.Conv2D(2, 3).get_config()["padding_mode"] == "zeros"


def test_padding_mode_with_dilation_and_groups(rng):
    x = rng.standard_normal((1, 8, 9, 4)).astype("float32")
    for mode in ("reflect", "replicate", "circular"):
        layer, weights = make_layer(
            layers.Conv2D,
            x,
            rng,
            filters=6,
            kernel_size=3,
            padding="same",
            dilation_rate=2,
            groups=2,
            padding_mode=mode,
        )
        close(layer(x), expected_forward(layers.Conv2D, x, weights, 3, 1, "same", 2, groups=2, padding_mode=mode))


# --------------------------------------------------------------------------
# strides > 1 together with dilation > 1
# --------------------------------------------------------------------------
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("case", all_forward(), ids=ids)
def test_forward_stride_with_dilation(case, padding, rng):
    rank, cls = case
    x = rng.standard_normal((2, *[s + 4 for s in SPATIAL[rank]], 3)).astype("float32")
    strides, dilation = (2, 3, 2)[:rank], (2, 2, 3)[:rank]
    layer, weights = make_layer(
        cls, x, rng, **forward_kwargs(cls, 2, strides=strides, dilation_rate=dilation, padding=padding)
    )
    expected = expected_forward(cls, x, weights, 2, strides, padding, dilation)
    close(layer(x), expected)
    assert layer.compute_output_shape(x.shape) == expected.shape


def test_causal_stride_with_dilation(rng):
    x = rng.standard_normal((2, 13, 3)).astype("float32")
    layer, weights = make_layer(
        layers.Conv1D, x, rng, filters=2, kernel_size=3, strides=2, dilation_rate=3, padding="causal"
    )
    close(layer(x), expected_forward(layers.Conv1D, x, weights, 3, 2, "causal", 3))


def transposed_crops(spatial, ksize, strides, dilation, padding, output_padding):
    ops_ = output_padding or (None,) * len(spatial)
    return [
        naive.keras_transpose_crops(n, k, s, d, padding, op)
        for n, k, s, d, op in zip(spatial, ksize, strides, dilation, ops_)
    ]


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_transposed_stride_with_dilation(rank, padding, rng):
    cls = TRANSPOSED[rank]
    x = rng.standard_normal((2, *[3] * rank, 2)).astype("float32")
    ksize, strides, dilation = (3, 2, 2)[:rank], (2, 3, 2)[:rank], (2, 2, 3)[:rank]
    for output_padding in (None, (1, 2, 1)[:rank], (0,) * rank):
        kwargs = {"filters": 3, "kernel_size": ksize, "strides": strides, "dilation_rate": dilation}
        layer, weights = make_layer(cls, x, rng, padding=padding, output_padding=output_padding, **kwargs)
        crops = transposed_crops(x.shape[1:-1], ksize, strides, dilation, padding, output_padding)
        expected = naive.conv_transpose(x, weights[0], strides, crops, dilation) + weights[1]
        close(layer(x), expected)
        assert layer.compute_output_shape(x.shape) == expected.shape


@pytest.mark.parametrize("k", [2, 4])
def test_transposed_same_zero_output_padding_even_kernel(k, rng):
    """TF rejects this at run time; npconv runs it with Keras's formulas: (n-1)*s."""
    x = rng.standard_normal((1, 5, 4, 2)).astype("float32")
    layer, weights = make_layer(
        layers.Conv2DTranspose, x, rng, filters=2, kernel_size=k, strides=2, padding="same", output_padding=0
    )
    crops = transposed_crops((5, 4), (k, k), (2, 2), (1, 1), "same", (0, 0))
    expected = naive.conv_transpose(x, weights[0], 2, crops, 1) + weights[1]
    assert expected.shape == (1, 8, 6, 2)
    close(layer(x), expected)


# --------------------------------------------------------------------------
# transposed output_shape= target
# --------------------------------------------------------------------------
def crops_for_target(n, k, s, d, padding, target):
    """Keras's crops for whichever output_padding (None first) reaches target."""
    for op in (None, *range(s)):
        if naive.keras_transpose_length(n, k, s, d, padding, op) == target:
            return naive.keras_transpose_crops(n, k, s, d, padding, op)
    raise AssertionError("test asked for an unreachable target")


@pytest.mark.parametrize(
    "spatial, ksize, strides, dilation, padding, target",
    [
        ((12,), (3,), (2,), (1,), "same", (23,)),
        ((12,), (3,), (2,), (1,), "same", (24,)),
        ((12, 12), (3, 3), (2, 2), (1, 1), "same", (23, 24)),
        ((5, 4), (1, 3), (3, 2), (1, 1), "valid", (13, 9)),
        ((5, 4), (1, 3), (3, 2), (1, 1), "valid", (15, 10)),
        ((3, 4, 2), (2, 3, 2), (2, 2, 3), (2, 1, 1), "same", (6, 7, 5)),
        ((4,), (4,), (3,), (1,), "same", (11,)),
    ],
)
def test_transposed_output_shape_target(spatial, ksize, strides, dilation, padding, target, rng):
    rank = len(spatial)
    cls = TRANSPOSED[rank]
    x = rng.standard_normal((2, *spatial, 2)).astype("float32")
    layer, weights = make_layer(
        cls,
        x,
        rng,
        filters=3,
        kernel_size=ksize,
        strides=strides,
        dilation_rate=dilation,
        padding=padding,
        output_shape=target,
    )
    assert layer.compute_output_shape(x.shape) == (2, *target, 3)
    assert layer.compute_output_shape((None, *[None] * rank, 2)) == (None, *target, 3)
    crops = [crops_for_target(*args, padding, t) for args, t in zip(zip(spatial, ksize, strides, dilation), target)]
    expected = naive.conv_transpose(x, weights[0], strides, crops, dilation) + weights[1]
    assert expected.shape == (2, *target, 3)
    close(layer(x), expected)


def test_transposed_output_shape_with_explicit_padding(rng):
    x = rng.standard_normal((1, 4, 2)).astype("float32")
    layer, weights = make_layer(
        layers.Conv1DTranspose, x, rng, filters=2, kernel_size=3, strides=3, padding=((1, 2),), output_shape=11
    )
    # full length (4-1)*3 + 3 = 12; crop 1 before and 2 after gives 9; target 11 needs output_padding 2.
    expected = naive.conv_transpose(x, weights[0], 3, [(1, 2 - 2)], 1) + weights[1]
    assert expected.shape == (1, 11, 2)
    close(layer(x), expected)


@pytest.mark.parametrize("target", [(25,), (22,), (1,)])
def test_transposed_output_shape_unreachable(target, rng):
    layer = layers.Conv1DTranspose(2, 3, strides=2, padding="same", output_shape=target)
    x = rng.standard_normal((1, 12, 2)).astype("float32")
    pattern = rf"`output_shape`.*\[23, 24\].*target length {target[0]}"
    with pytest.raises(ValueError, match=pattern):
        layer.compute_output_shape(x.shape)
    with pytest.raises(ValueError, match=pattern):
        layer(x)


# --------------------------------------------------------------------------
# groups
# --------------------------------------------------------------------------
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("groups", [2, 3, 6])
def test_grouped_conv(rank, groups, rng):
    cls = FORWARD[rank][0]
    x = rng.standard_normal((2, *SPATIAL[rank], 6)).astype("float32")
    for padding, strides in (("valid", 1), ("same", 2), ("full", 1)):
        layer, weights = make_layer(
            cls, x, rng, filters=12, kernel_size=2, groups=groups, padding=padding, strides=strides
        )
        assert weights[0].shape == (*[2] * rank, 6 // groups, 12)
        close(layer(x), expected_forward(cls, x, weights, 2, strides, padding, 1, groups=groups))


def test_grouped_conv_op(rng):
    x = rng.standard_normal((2, 7, 6)).astype("float32")
    kernel = rng.standard_normal((3, 2, 9)).astype("float32")  # groups = 3
    close(
        ops.conv(x, kernel, strides=2, padding="same"),
        naive.conv(x, kernel, 2, [naive.keras_conv_pads(7, 3, 2, 1, "same")], 1, groups=3),
    )


# --------------------------------------------------------------------------
# float64
# --------------------------------------------------------------------------
@pytest.mark.parametrize("case", all_forward() + [(r, c) for r, c in TRANSPOSED.items()], ids=ids)
def test_float64(case, rng):
    rank, cls = case
    x = rng.standard_normal((2, *SPATIAL[rank], 3))
    transposed = cls in TRANSPOSED.values()
    kwargs = {"filters": 2, "kernel_size": 3} if transposed else forward_kwargs(cls, 3)
    layer, weights = make_layer(cls, x, rng, dtype="float64", strides=2, padding="same", **kwargs)
    assert all(w.dtype == np.float64 for w in layer.weights)
    y = layer(x)
    assert y.dtype == np.float64
    if transposed:
        crops = transposed_crops(x.shape[1:-1], (3,) * rank, (2,) * rank, (1,) * rank, "same", None)
        expected = naive.conv_transpose(x, weights[0], 2, crops, 1) + weights[1]
    else:
        expected = expected_forward(cls, x, weights, 3, 2, "same", 1)
    close(y, expected, rtol=1e-12, atol=1e-12)
    # float32 inputs are cast to the layer's dtype.
    assert layer(x.astype("float32")).dtype == np.float64


def test_float64_ops(rng):
    x = rng.standard_normal((1, 6, 5, 2))
    kernel = rng.standard_normal((2, 3, 2, 4))
    y = ops.conv(x, kernel, strides=(2, 1), padding=((1, 0), (2, 2)), dilation_rate=(1, 2))
    assert y.dtype == np.float64
    close(y, naive.conv(x, kernel, (2, 1), [(1, 0), (2, 2)], (1, 2)), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# NaN and Inf
# --------------------------------------------------------------------------
def nonzero_weights(layer, rng):
    weights = [
        (rng.uniform(0.5, 1.5, w.shape) * rng.choice([-1, 1], w.shape)).astype(layer.dtype) for w in layer.weights
    ]
    layer.set_weights(weights)
    return weights


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (layers.Conv2D, {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}),
        (
            layers.Conv2D,
            {"filters": 2, "kernel_size": 2, "dilation_rate": 2, "padding": "full", "padding_mode": "zeros"},
        ),
        (layers.Conv2D, {"filters": 1, "kernel_size": 3, "padding": "same", "padding_mode": "reflect"}),
        (layers.DepthwiseConv2D, {"kernel_size": 3, "padding": "same", "padding_mode": "circular"}),
        (layers.SeparableConv2D, {"filters": 1, "kernel_size": 3, "padding": "valid"}),
        (layers.Conv2DTranspose, {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_nan_and_inf_propagate(cls, kwargs, bad, rng):
    x = rng.standard_normal((1, 6, 7, 1))
    x[0, 2, 3, 0] = bad
    layer = cls(dtype="float64", **kwargs)
    layer.build(x.shape)
    weights = nonzero_weights(layer, rng)
    with np.errstate(invalid="ignore", over="ignore"):
        y = layer(x)
    name = cls.__name__
    rank = 2
    ksize = naive.per_dim(kwargs["kernel_size"], rank)
    strides = naive.per_dim(kwargs.get("strides", 1), rank)
    dilation = naive.per_dim(kwargs.get("dilation_rate", 1), rank)
    padding = kwargs["padding"]
    with np.errstate(invalid="ignore", over="ignore"):
        if name.endswith("Transpose"):
            crops = transposed_crops(x.shape[1:-1], ksize, strides, dilation, padding, None)
            expected = naive.conv_transpose(x, weights[0], strides, crops, dilation) + weights[1]
        else:
            expected = expected_forward(
                cls, x, weights, ksize, strides, padding, dilation, padding_mode=kwargs.get("padding_mode", "zeros")
            )
    assert y.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(y), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(y), np.isneginf(expected))
    assert (~np.isfinite(y)).any(), "the bad pixel reached no output"
    assert np.isfinite(y).any(), "the bad pixel reached every output"
    finite = np.isfinite(expected)
    close(y[finite], expected[finite], rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# the adjoint identity <conv(x, k), y> = <x, conv_transpose(y, k)>
# --------------------------------------------------------------------------
def forward_length(n, k, s, d, padding):
    if isinstance(padding, str):
        return naive.keras_conv_length(n, k, s, d, padding)
    return (n + padding[0] + padding[1] - naive.k_eff(k, d)) // s + 1


def matching_output_padding(n, k, s, d, padding):
    """The output_padding that makes conv_transpose map the forward length back
    to n; None where only the default (n == m*s under 'same') reaches it."""
    m = forward_length(n, k, s, d, padding)
    ke = naive.k_eff(k, d)
    if padding == "valid":
        return n - ke - (m - 1) * s
    if padding == "same":
        op = n - (m - 1) * s - ke % 2
        return None if op == s else op
    return n + padding[0] + padding[1] - ke - (m - 1) * s


def adjoint_output_padding(spatial, ksize, strides, dilation, padding):
    """One output_padding for every dimension, or False when a mix of the
    default and integers cannot be written as integers."""
    rank = len(spatial)
    per_dim_padding = [padding] * rank if isinstance(padding, str) else list(padding)
    ops_ = [matching_output_padding(*args) for args in zip(spatial, ksize, strides, dilation, per_dim_padding)]
    if all(op is None for op in ops_):
        return None
    # The default under 'same' gives n*s; the integer s - k_eff % 2 gives it too when it is < s.
    ops_ = [s - naive.k_eff(k, d) % 2 if op is None else op for op, k, s, d in zip(ops_, ksize, strides, dilation)]
    return tuple(ops_) if all(op < s for op, s in zip(ops_, strides)) else False


def adjoint_cases(seed, count):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        rank = int(rng.integers(1, 4))
        ksize = tuple(int(v) for v in rng.integers(1, 4, rank))
        strides = tuple(int(v) for v in rng.integers(1, 4, rank))
        dilation = tuple(int(v) for v in rng.integers(1, 3, rank))
        spatial = tuple(int(v) for v in rng.integers(3, 9 if rank < 3 else 6, rank))
        kind = ["valid", "same", "pairs"][len(cases) % 3]
        padding = tuple((int(a), int(b)) for a, b in rng.integers(0, 4, (rank, 2))) if kind == "pairs" else kind
        per_dim_padding = [padding] * rank if isinstance(padding, str) else list(padding)
        if any(forward_length(*args) <= 0 for args in zip(spatial, ksize, strides, dilation, per_dim_padding)):
            continue
        output_padding = adjoint_output_padding(spatial, ksize, strides, dilation, padding)
        if output_padding is False:
            continue
        channels = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        cases.append((rank, spatial, ksize, strides, dilation, padding, output_padding, channels))
    return cases


@pytest.mark.parametrize("index, case", list(enumerate(adjoint_cases(7, 40))))
def test_adjoint_identity(index, case):
    rank, spatial, ksize, strides, dilation, padding, output_padding, (cin, cout) = case
    rng = np.random.default_rng(index)
    x = rng.standard_normal((2, *spatial, cin))
    kernel = rng.standard_normal((*ksize, cin, cout))
    y = ops.conv(x, kernel, strides=strides, padding=padding, dilation_rate=dilation)
    dy = rng.standard_normal(y.shape)
    dx = ops.conv_transpose(
        dy, kernel, strides=strides, padding=padding, output_padding=output_padding, dilation_rate=dilation
    )
    assert dx.shape == x.shape
    assert float(np.sum(y * dy)) == pytest.approx(float(np.sum(x * dx)), rel=1e-10, abs=1e-10)


def test_adjoint_identity_against_naive_transpose():
    """The same identity with naive's transpose, to pin down npconv's forward conv."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 9, 8, 2))
    kernel = rng.standard_normal((3, 2, 2, 3))
    pads = [(2, 1), (0, 3)]
    y = ops.conv(x, kernel, strides=(2, 3), padding=pads, dilation_rate=(2, 1))
    dy = rng.standard_normal(y.shape)
    full = [(y.shape[1] - 1) * 2 + 5, (y.shape[2] - 1) * 3 + 2]
    crops = [(2, full[0] - 2 - 9), (0, full[1] - 8)]
    dx = naive.conv_transpose(dy, kernel, (2, 3), crops, (2, 1))
    assert dx.shape == x.shape
    assert np.sum(y * dy) == pytest.approx(np.sum(x * dx), rel=1e-10)


# --------------------------------------------------------------------------
# memory layouts, chunking, empty batches, channels_first with padding_mode
# --------------------------------------------------------------------------
@pytest.mark.parametrize("case", all_forward(), ids=ids)
def test_non_contiguous_and_fortran_inputs(case, rng):
    rank, cls = case
    base = rng.standard_normal((4, *[2 * s for s in SPATIAL[rank]], 6)).astype("float32")
    views = {
        "strided": base[(slice(None, None, 2),) * (rank + 1) + (slice(None, None, 2),)],
        "fortran": np.asfortranarray(base[:2]),
        "reversed": base[:2, ::-1],
    }
    for name, x in views.items():
        layer, weights = make_layer(
            cls, x, rng, **forward_kwargs(cls, 2, strides=2, padding="same", padding_mode="reflect")
        )
        expected = expected_forward(cls, np.ascontiguousarray(x), weights, 2, 2, "same", 1, padding_mode="reflect")
        np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5, err_msg=name)


def test_non_contiguous_transposed_input(rng):
    base = rng.standard_normal((2, 8, 6, 4)).astype("float32")
    x = base[:, ::2, ::-1, 1:]
    layer, weights = make_layer(layers.Conv2DTranspose, x, rng, filters=2, kernel_size=3, strides=2, padding="same")
    crops = transposed_crops(x.shape[1:-1], (3, 3), (2, 2), (1, 1), "same", None)
    close(layer(x), naive.conv_transpose(np.ascontiguousarray(x), weights[0], 2, crops, 1) + weights[1])


def test_chunked_workspace_gives_the_same_result(rng, monkeypatch):
    """The batch is split into chunks when the im2col workspace is large; force it."""
    from npconv.ops.backends import numpy as kernels

    x = rng.standard_normal((5, 7, 6, 4)).astype("float32")
    conv, weights = make_layer(layers.Conv2D, x, rng, filters=6, kernel_size=3, strides=2, padding="same", groups=2)
    sep, sep_weights = make_layer(layers.SeparableConv2D, x, rng, filters=3, kernel_size=2, depth_multiplier=2)
    whole = conv(x), sep(x)
    monkeypatch.setattr(kernels, "WORKSPACE_BYTES", 1)
    chunked = conv(x), sep(x)
    for a, b in zip(whole, chunked):
        np.testing.assert_array_equal(a, b)
    close(chunked[0], expected_forward(layers.Conv2D, x, weights, 3, 2, "same", 1, groups=2))
    close(chunked[1], expected_forward(layers.SeparableConv2D, x, sep_weights, 2, 1, "valid", 1))


@pytest.mark.parametrize(
    "cls",
    [layers.Conv2D, layers.Conv2DTranspose, layers.DepthwiseConv2D, layers.SeparableConv2D],
    ids=lambda c: c.__name__,
)
def test_empty_batch(cls, rng):
    x = np.zeros((0, 5, 6, 3), "float32")
    kwargs = {"kernel_size": 3} if cls is layers.DepthwiseConv2D else {"filters": 2, "kernel_size": 3}
    layer = cls(strides=2, **kwargs)
    y = layer(x)
    assert y.shape == layer.compute_output_shape(x.shape) and y.shape[0] == 0
    assert y.shape[1:3] == ((11, 13) if cls is layers.Conv2DTranspose else (2, 2))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "cls", [layers.Conv1D, layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv1D], ids=lambda c: c.__name__
)
def test_padding_mode_channels_first(cls, mode, rng):
    rank = 1 if cls.__name__.endswith("1D") else 2
    x_first = rng.standard_normal((2, 3, *SPATIAL[rank])).astype("float32")
    x_last = np.moveaxis(x_first, 1, -1)
    kwargs = forward_kwargs(cls, 3, strides=2, padding=((2, 1),) * rank, padding_mode=mode)
    layer = cls(data_format="channels_first", **kwargs)
    layer.build(x_first.shape)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in layer.weights]
    layer.set_weights(weights)
    expected = expected_forward(cls, x_last, weights, 3, 2, ((2, 1),) * rank, 1, padding_mode=mode)
    close(layer(x_first), np.moveaxis(expected, -1, 1))


# Every test here runs once per kernel backend (conftest.py).
pytestmark = pytest.mark.usefixtures("npconv_backend")
