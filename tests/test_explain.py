"""npconv.explain against the real layers, against definitions, and on paper.

Expected values never come from npconv.geometry or npconv.explain. They come from

- the real layers, *probed*: a batch of one-hot inputs (one per input position),
  1 channel, no bias, no activation, float64, and a kernel whose entries encode
  their own index (``2**j`` along the first axis, ``3**j`` along the second,
  ``5**j`` along the third). Output value ``y[b, o]`` is then ``prod p_a**j_a``
  exactly when kernel tap ``j`` carries input ``b`` to output ``o``, and 0
  otherwise. That is the full read set of every output position with the
  kernel index each read uses, from which the pads follow by definition:

  - forward conv: ``o*s + j*d - pad_before = i``;
  - transposed conv (the scatter ``y[i*s + j*d - crop_before] += x[i]*w[j]``):
    ``crop_before = i*s + j*d - o`` and ``pad_before = k_eff - 1 - crop_before``
    on the zero-inserted input; ``pad_after`` then follows from the length.

  A forward conv's ``pad_after`` is only observable up to the stride (cells past
  the last window are never read), so the probe bounds it, and exact equality
  is checked against ``naive``'s written-out Keras rules. An all-ones probe
  (ones kernel) gives at every output the number of real taps of its window.
- ``tests/naive.py``: Keras's rules, written out from the definitions;
- numbers typed in by hand (snapshots, SVG cell counts).

The sweep draws ``N_CASES`` seeded configurations; the first ``N_DEFAULT`` run by
default and the rest are marked slow (``pytest -m slow`` or ``--run-slow``).
``UPDATE_SNAPSHOTS=1 pytest tests/test_explain.py`` rewrites tests/snapshots/.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import math
import os
import pathlib
import re
import xml.etree.ElementTree as ET
import zlib
from fractions import Fraction

import naive
import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.explain import explain_layer, explain_model, render_svg, render_text

SVG_NS = "{http://www.w3.org/2000/svg}"
SNAPSHOTS = pathlib.Path(__file__).parent / "snapshots"
PRIMES = (2, 3, 5)  # kernel-index encoding per spatial axis

# name -> (class name, family, rank); typed here, not imported from npconv.explain
KINDS = {
    "conv1d": ("Conv1D", "conv", 1),
    "conv2d": ("Conv2D", "conv", 2),
    "conv3d": ("Conv3D", "conv", 3),
    "conv1dtranspose": ("Conv1DTranspose", "transpose", 1),
    "conv2dtranspose": ("Conv2DTranspose", "transpose", 2),
    "conv3dtranspose": ("Conv3DTranspose", "transpose", 3),
    "depthwiseconv1d": ("DepthwiseConv1D", "depthwise", 1),
    "depthwiseconv2d": ("DepthwiseConv2D", "depthwise", 2),
    "separableconv1d": ("SeparableConv1D", "separable", 1),
    "separableconv2d": ("SeparableConv2D", "separable", 2),
}
MAX_INPUT = {1: 12, 2: 7, 3: 4}
PROBE_BUDGET = 3_000_000  # batch * output cells * kernel taps per probe call


# --------------------------------------------------------------------------
# random configurations
# --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    input_size: tuple
    kernel_size: tuple
    strides: tuple
    dilation_rate: tuple
    padding: object  # 'valid' | 'same' | 'full' | 'causal' | int | tuple
    output_padding: tuple | None = None
    output_shape: tuple | None = None
    padding_mode: str = "zeros"
    data_format: str = "channels_last"
    channels: int = 1
    filters: int = 1
    groups: int = 1
    depth_multiplier: int = 1
    shape_form: str = "spatial"  # how input_shape is handed to explain()

    @property
    def cls(self):
        return KINDS[self.name][0]

    @property
    def family(self):
        return KINDS[self.name][1]

    @property
    def rank(self):
        return KINDS[self.name][2]

    @property
    def transposed(self):
        return self.family == "transpose"

    def axis_padding(self, axis):
        """'valid' / 'same' / 'full' / 'causal' or a (before, after) pair, for one axis."""
        p = self.padding
        if isinstance(p, str):
            return p
        if isinstance(p, int):
            return (p, p)
        item = p[axis]
        return (item, item) if isinstance(item, int) else tuple(item)

    def __str__(self):
        fields = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)]
        return f"Case({', '.join(fields)})"


def _k_eff(k, d):
    return (k - 1) * d + 1


def oracle_forward(n, k, s, d, padding):
    """(pad_before, pad_after, output_length) from naive's Keras rules or the explicit pair."""
    pads = naive.keras_conv_pads(n, k, s, d, padding) if isinstance(padding, str) else padding
    return pads[0], pads[1], (n + pads[0] + pads[1] - _k_eff(k, d)) // s + 1


def oracle_transpose(n, k, s, d, padding, op):
    """(pad_before, pad_after, output_length); pads are on the zero-inserted input.

    Keras's modes from naive; 'full' and explicit pairs are PyTorch's crops of
    the full scatter output, then output_padding after."""
    ke = _k_eff(k, d)
    if padding in ("valid", "same"):
        crops = naive.keras_transpose_crops(n, k, s, d, padding, op)
        extra = 0
    else:
        crops = (ke - 1, ke - 1) if padding == "full" else padding
        extra = op or 0
    length = (n - 1) * s + ke - crops[0] - crops[1] + extra
    if padding == "valid" or padding == "same":
        assert length == naive.keras_transpose_length(n, k, s, d, padding, op)
    return ke - 1 - crops[0], ke - 1 - crops[1] + extra, length


def oracle(case, output_padding=None):
    """Per axis (pad_before, pad_after, output_length), or None when the layer must refuse."""
    rows = []
    for a in range(case.rank):
        args = (case.input_size[a], case.kernel_size[a], case.strides[a], case.dilation_rate[a], case.axis_padding(a))
        if case.transposed:
            op = None if output_padding is None else output_padding[a]
            rows.append(oracle_transpose(*args, op))
        else:
            rows.append(oracle_forward(*args))
    if any(length <= 0 for _, _, length in rows):
        return None
    if case.padding_mode != "zeros":
        limit = {"reflect": 1, "circular": 0, "replicate": None}[case.padding_mode]
        for n, (before, after, _) in zip(case.input_size, rows):
            if limit is not None and max(before, after) > n - limit:
                return None
    return rows


def oracle_output_padding(case):
    """The output_padding a transposed layer runs with: the argument, or the one
    that meets ``output_shape`` (None preferred; once an axis needs an integer,
    the None axes take the integer with None's length), as ("ok", output_padding);
    ("unreachable" | "mixed", None) when the layer must refuse ``output_shape``."""
    if case.output_shape is None:
        return "ok", case.output_padding
    chosen = []
    for a, target in enumerate(case.output_shape):
        options = [None, *range(case.strides[a])]
        lengths = [
            oracle_transpose(
                case.input_size[a],
                case.kernel_size[a],
                case.strides[a],
                case.dilation_rate[a],
                case.axis_padding(a),
                op,
            )[2]
            for op in options
        ]
        if target not in lengths:
            return "unreachable", None
        chosen.append((options[lengths.index(target)], lengths))
    if all(op is None for op, _ in chosen):
        return "ok", None
    resolved = []
    for op, lengths in chosen:
        if op is None:
            if lengths[0] not in lengths[1:]:
                return "mixed", None
            op = lengths[1:].index(lengths[0])
        resolved.append(op)
    return "ok", tuple(resolved)


def _draw_padding(rng, name, rank):
    modes = ["valid", "same", "full", "int", "pairs", "ints"] + (["causal"] if name == "conv1d" else [])
    weights = np.array([4, 4, 1, 1, 2, 1] + ([2] if name == "conv1d" else []), float)
    mode = modes[rng.choice(len(modes), p=weights / weights.sum())]
    if mode == "int":
        return int(rng.integers(0, 4))
    if mode == "pairs":
        return tuple((int(a), int(b)) for a, b in rng.integers(0, 4, (rank, 2)))
    if mode == "ints":
        return tuple(int(a) for a in rng.integers(0, 4, rank))
    return mode


def random_case(rng):
    name = list(KINDS)[rng.integers(len(KINDS))]
    _, family, rank = KINDS[name]

    def ints(low, high):
        return tuple(int(v) for v in rng.integers(low, high + 1, rank))

    kernel_size, strides, dilation = ints(1, 5), ints(1, 3), ints(1, 3)
    padding = _draw_padding(rng, name, rank)
    # Mostly inputs the kernel fits in (a tenth of the cases are left to fail).
    low = [1 if rng.random() < 0.1 else min(_k_eff(k, d), MAX_INPUT[rank]) for k, d in zip(kernel_size, dilation)]
    input_size = tuple(int(rng.integers(lo, MAX_INPUT[rank] + 1)) for lo in low)
    extra = {}
    if family == "transpose":
        u = rng.random()
        if u < 0.35:
            extra["output_padding"] = tuple(int(rng.integers(0, s)) for s in strides)
        elif u < 0.65:
            case = Case(name, input_size, kernel_size, strides, dilation, padding)
            ops = [None if rng.random() < 0.4 else int(rng.integers(0, s)) for s in strides]
            target = []
            for a, op in enumerate(ops):
                length = oracle_transpose(
                    input_size[a], kernel_size[a], strides[a], dilation[a], case.axis_padding(a), op
                )[2]
                target.append(max(length, 1))
            extra["output_shape"] = tuple(target)
    elif rng.random() < 0.15:
        extra["padding_mode"] = ("reflect", "replicate", "circular")[rng.integers(3)]
    channels = int(rng.integers(1, 4))
    filters = int(rng.integers(1, 4))
    if family == "conv" and rng.random() < 0.2:
        channels, filters = 2 * channels, 2 * filters
        extra["groups"] = 2
    if family in ("depthwise", "separable"):
        extra["depth_multiplier"] = int(rng.integers(1, 3))
    forms = ["spatial", "full", "nobatch"] + (["int"] if len(set(input_size)) == 1 else [])
    case = Case(
        name,
        input_size,
        kernel_size,
        strides,
        dilation,
        padding,
        data_format=("channels_last", "channels_first")[rng.integers(2)],
        channels=channels,
        filters=filters,
        shape_form=forms[rng.integers(len(forms))],
        **extra,
    )
    if case.padding_mode != "zeros" and oracle(case) is None:
        case = dataclasses.replace(case, padding_mode="zeros")  # refusals are tested apart
    return case


N_CASES = 1500
N_DEFAULT = 400
CASES = [random_case(np.random.default_rng([20240229, i])) for i in range(N_CASES)]
CASE_PARAMS = [
    pytest.param(case, id=f"{i:04d}-{case.name}", marks=() if i < N_DEFAULT else pytest.mark.slow)
    for i, case in enumerate(CASES)
]


# --------------------------------------------------------------------------
# building, calling and probing the real layers
# --------------------------------------------------------------------------
def layer_kwargs(case, probe):
    """Constructor arguments; a probe layer has 1 channel, 1 filter, float64, no bias."""
    kwargs = dict(
        kernel_size=case.kernel_size,
        strides=case.strides,
        padding=case.padding,
        dilation_rate=case.dilation_rate,
        data_format=case.data_format,
        use_bias=not probe,
    )
    if case.family in ("conv", "transpose", "separable"):
        kwargs["filters"] = 1 if probe else case.filters
    if case.family == "conv" and not probe:
        kwargs["groups"] = case.groups
    if case.family in ("depthwise", "separable") and not probe:
        kwargs["depth_multiplier"] = case.depth_multiplier
    if case.family != "transpose":
        kwargs["padding_mode"] = case.padding_mode
    if case.output_padding is not None:
        kwargs["output_padding"] = case.output_padding
    if case.output_shape is not None:
        kwargs["output_shape"] = case.output_shape
    if probe:
        kwargs["dtype"] = "float64"
    return kwargs


def make_layer(case, probe=True):
    return getattr(layers, case.cls)(**layer_kwargs(case, probe))


def full_shape(case, batch, channels):
    if case.data_format == "channels_last":
        return (batch, *case.input_size, channels)
    return (batch, channels, *case.input_size)


def run_probe(layer, case, x, kernel):
    """y[b, *out] for a 1-channel channels_last x of shape (b, *spatial) and kernel (*k)."""
    weights = layer.get_weights()
    weights[0] = kernel.reshape(weights[0].shape)
    layer.set_weights([weights[0]] + [np.ones_like(w) for w in weights[1:]])
    x = x[..., None] if case.data_format == "channels_last" else x[:, None]
    y = layer(x)
    return y[..., 0] if case.data_format == "channels_last" else y[:, 0]


def index_kernel(kernel_size):
    """kernel[j] = prod_a PRIMES[a] ** j[a]: every tap's value names its index."""
    kernel = np.ones(kernel_size)
    for a, k in enumerate(kernel_size):
        shape = [1] * len(kernel_size)
        shape[a] = k
        kernel = kernel * (PRIMES[a] ** np.arange(k, dtype=float)).reshape(shape)
    return kernel


def input_positions(case, output_size, rng):
    """Input positions to one-hot: all of them unless the probe would be too big;
    then the corners and a random subset."""
    positions = list(itertools.product(*[range(n) for n in case.input_size]))
    per_input = math.prod(output_size) * math.prod(case.kernel_size)
    budget = max(8, PROBE_BUDGET // max(per_input, 1))
    if len(positions) <= budget:
        return positions
    corners = set(itertools.product(*[sorted({0, n - 1}) for n in case.input_size]))
    rest = [p for p in positions if p not in corners]
    chosen = rng.choice(len(rest), size=min(len(rest), budget), replace=False)
    return sorted(corners | {rest[i] for i in chosen})


def expected_probe(e, positions):
    """What the one-hot probe must return according to the explanation's windows."""
    factors = []
    for a, dim in enumerate(e.dims):
        m = np.zeros((dim.input_length, dim.output_length))
        for window in dim.windows:
            for tap in window.taps:
                source = tap.input_index if tap.source == "input" else tap.fill
                if source is not None:
                    m[source, window.output_index] += PRIMES[a] ** tap.weight
        factors.append(m)
    expected = np.ones((len(positions), *e.output_size))
    for a, m in enumerate(factors):
        rows = m[[p[a] for p in positions]]  # (batch, out_a)
        shape = [len(positions)] + [1] * e.rank
        shape[1 + a] = rows.shape[1]
        expected = expected * rows.reshape(shape)
    return expected


def exponent(value, prime):
    count = 0
    while value % prime == 0:
        value //= prime
        count += 1
    return count


def probed_pads_before(case, y, positions):
    """pad_before per axis from the one-hot probe (None where no tap reads any input)."""
    found = [set() for _ in range(case.rank)]
    for b, *o in zip(*np.nonzero(y)):
        value = int(round(y[(b, *o)]))
        i = positions[b]
        for a in range(case.rank):
            j = exponent(value, PRIMES[a])
            s, d = case.strides[a], case.dilation_rate[a]
            if case.transposed:
                crop_before = i[a] * s + j * d - o[a]
                found[a].add(_k_eff(case.kernel_size[a], d) - 1 - crop_before)
            else:
                found[a].add(o[a] * s + j * d - i[a])
    for a, values in enumerate(found):
        assert len(values) <= 1, f"axis {a}: the probe is inconsistent with one pad_before: {values}"
    return [next(iter(v)) if v else None for v in found]


def real_tap_counts(e):
    """Ones-probe prediction: per output position, the number of real taps."""
    counts = np.ones(e.output_size)
    for a, dim in enumerate(e.dims):
        c = np.array([sum(t.source == "input" or t.fill is not None for t in w.taps) for w in dim.windows], dtype=float)
        shape = [1] * e.rank
        shape[a] = len(c)
        counts = counts * c.reshape(shape)
    return counts


# --------------------------------------------------------------------------
# formulas: a small exact evaluator
# --------------------------------------------------------------------------
_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}
_FUNCTIONS = {"floor": math.floor, "ceil": math.ceil, "max": max, "min": min}


def evaluate(expression, names=None):
    """Exact value of an arithmetic expression: ints, + - * / // %, floor, ceil,
    max, min, and the given names. Anything else raises ValueError."""
    names = names or {}

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return Fraction(node.value)
        if isinstance(node, ast.Name) and node.id in names:
            return Fraction(names[node.id])
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
            if node.keywords:
                raise ValueError(f"keyword arguments in {expression!r}")
            return Fraction(_FUNCTIONS[node.func.id](*[ev(arg) for arg in node.args]))
        raise ValueError(f"not plain arithmetic: {ast.dump(node)} in {expression!r}")

    return ev(ast.parse(expression, mode="eval"))


def formula_names(dim, padding):
    """Values for the names the symbolic formulas use."""
    names = {
        "n": dim.input_length,
        "k": dim.kernel_size,
        "s": dim.stride,
        "d": dim.dilation,
        "k_eff": _k_eff(dim.kernel_size, dim.dilation),
        "pad_before": dim.pad_before,
        "pad_after": dim.pad_after,
        "output_length": dim.output_length,
        "output_padding": dim.output_padding or 0,
    }
    if dim.transposed:
        names["zero_inserted_length"] = (dim.input_length - 1) * dim.stride + 1
        if padding == "full":
            names["crop_before"] = names["crop_after"] = names["k_eff"] - 1
        elif not isinstance(padding, str):
            names["crop_before"], names["crop_after"] = padding
    for f in dim.formulas:  # intermediate quantities: pad_len, total
        if f.name in ("pad_len", "total"):
            names[f.name] = f.value
    return names


def check_formulas(e, case):
    evaluated = 0
    for a, dim in enumerate(e.dims):
        names = formula_names(dim, case.axis_padding(a))
        by_name = {f.name: f.value for f in dim.formulas}
        for f in dim.formulas:
            if f.numbers is not None and f.value is not None:
                assert evaluate(f.numbers) == f.value, (f, case)
                assert evaluate(f.symbolic, names) == f.value, (f, names, case)
                evaluated += 1
        # the named quantities are the explanation's own numbers
        assert by_name.get("effective_kernel_size") == _k_eff(dim.kernel_size, dim.dilation)
        assert by_name.get("pad_before") == dim.pad_before
        assert by_name.get("pad_after") == dim.pad_after
        assert by_name.get("output_length") == dim.output_length
        if dim.transposed:
            assert by_name.get("zero_inserted_length") == dim.zero_inserted_length
    assert evaluated >= 2 * e.rank


# --------------------------------------------------------------------------
# 1. the sweep: explain() against the real layers and naive's rules
# --------------------------------------------------------------------------
def explain_case(case):
    if case.shape_form == "int":
        shape = case.input_size[0]
    elif case.shape_form == "spatial":
        shape = case.input_size
    elif case.shape_form == "full":
        shape = full_shape(case, 4, case.channels)
    else:
        shape = full_shape(case, 4, case.channels)[1:]
    kwargs = dict(
        kernel_size=case.kernel_size,
        strides=case.strides,
        padding=case.padding,
        dilation_rate=case.dilation_rate,
        data_format=case.data_format,
        padding_mode=case.padding_mode,
    )
    if case.family in ("conv", "transpose", "separable"):
        kwargs["filters"] = case.filters
    if case.family == "conv":
        kwargs["groups"] = case.groups
    if case.family in ("depthwise", "separable"):
        kwargs["depth_multiplier"] = case.depth_multiplier
    if case.transposed:
        kwargs.update(output_padding=case.output_padding, output_shape=case.output_shape)
    return npconv.explain(case.name, shape, **kwargs)


def expected_refusal(case):
    """None if the configuration is valid, else why the layer must refuse it."""
    if case.transposed:
        status, op = oracle_output_padding(case)
        if status != "ok":
            return status
        return None if oracle(case, op) is not None else "empty output"
    return None if oracle(case) is not None else "empty output or padding_mode limit"


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_explain_agrees_with_real_layer(case):
    rng = np.random.default_rng(zlib.crc32(str(case).encode()))
    refusal = expected_refusal(case)
    if refusal is not None:
        with pytest.raises(ValueError):
            explain_case(case)
        with pytest.raises(ValueError):
            layer = make_layer(case, probe=True)
            layer(np.zeros(full_shape(case, 1, 1)))
        return
    e = explain_case(case)
    _, output_padding = oracle_output_padding(case) if case.transposed else (None, None)
    rows = oracle(case, output_padding)

    # shapes and pads against naive's rules
    assert e.input_size == case.input_size
    assert e.output_size == tuple(length for _, _, length in rows), case
    assert [d.output_length for d in e.dims] == [length for _, _, length in rows], case
    assert e.pads == tuple((before, after) for before, after, _ in rows), case
    if case.transposed:
        for dim, n, s, op in zip(e.dims, case.input_size, case.strides, output_padding or (None,) * case.rank):
            assert dim.zero_inserted_length == (n - 1) * s + 1
            assert dim.inserted_zeros == s - 1
            assert dim.output_padding == op, case

    # full shapes and weights against a layer with the case's channels
    shaped = make_layer(case, probe=False)
    shape = full_shape(case, 4, case.channels)
    shaped.build(shape)
    if case.shape_form in ("full", "nobatch"):
        expected_shape = shaped.compute_output_shape(shape)
        if case.shape_form == "nobatch":
            expected_shape = (None, *expected_shape[1:])
        assert e.output_shape == expected_shape, case
        assert [s for _, s in e.weight_shapes] == [w.shape for w in shaped.get_weights()], case

    # one-hot probe: the reads (input and kernel index) of every output position
    probe = make_layer(case, probe=True)
    probe.build(full_shape(case, 1, 1))
    positions = input_positions(case, e.output_size, rng)
    x = np.zeros((len(positions), *case.input_size))
    for b, p in enumerate(positions):
        x[(b, *p)] = 1.0
    y = run_probe(probe, case, x, index_kernel(case.kernel_size))
    assert y.shape[1:] == e.output_size, case
    np.testing.assert_array_equal(y, expected_probe(e, positions), err_msg=str(case))

    # pads from the probe, by definition
    if case.padding_mode == "zeros":
        for a, (dim, before) in enumerate(zip(e.dims, probed_pads_before(case, y, positions))):
            if before is None:
                continue
            assert dim.pad_before == before, (a, case)
            n, s, ke, length = dim.input_length, dim.stride, dim.effective_kernel_size, dim.output_length
            if case.transposed:
                zero_inserted = (n - 1) * s + 1
                assert dim.pad_after == length - zero_inserted - before + ke - 1, (a, case)
            else:
                lowest = (length - 1) * s + ke - n - before  # the last window's last tap must fit
                assert lowest <= dim.pad_after <= lowest + s - 1, (a, case)
                if s == 1:
                    assert dim.pad_after == lowest, (a, case)

    # all-ones probe: the number of real taps under every window
    ones = run_probe(probe, case, np.ones((1, *case.input_size)), np.ones(case.kernel_size))
    np.testing.assert_array_equal(ones[0], real_tap_counts(e), err_msg=str(case))

    # every window, tap by tap, against the definition with naive's pads (equal to the probed ones)
    for a, dim in enumerate(e.dims):
        k, s, d, n = dim.kernel_size, dim.stride, dim.dilation, dim.input_length
        before = rows[a][0]
        assert [w.output_index for w in dim.windows] == list(range(dim.output_length))
        for w in dim.windows:
            assert [t.tap for t in w.taps] == list(range(k))
            for t in w.taps:
                if case.transposed:
                    u = w.output_index + t.tap * d - before
                    assert t.position == u and t.weight == k - 1 - t.tap
                    last = (n - 1) * s
                    source = "padding" if not 0 <= u <= last else ("zero" if u % s else "input")
                    assert (t.source, t.input_index) == (source, u // s if source == "input" else None)
                else:
                    p = w.output_index * s + t.tap * d - before
                    assert t.position == p and t.weight == t.tap
                    source = "input" if 0 <= p < n else "padding"
                    assert (t.source, t.input_index) == (source, p if source == "input" else None)
                    if case.padding_mode == "zeros" or source == "input":
                        assert t.fill is None
                    else:
                        assert t.fill == naive.source_index(p, n, case.padding_mode)
            assert len(w.inputs) + w.zero_count + w.padding_count == k
            assert (w.start, w.stop) == (w.taps[0].position, w.taps[-1].position + 1)

    check_formulas(e, case)
    check_renderings(e, case, rows)


KIND_ORDER = ("input", "zero", "pad", "crop")  # a 2-D cell is as empty as its emptiest axis


def canvas_kinds(case, axis, before, after):
    """Kind of every cell drawn along one axis: the whole padded (zero-inserted)
    input, cells a negative pad crops away included."""
    n, s = case.input_size[axis], case.strides[axis]
    length = (n - 1) * s + 1 if case.transposed else n
    kinds = []
    for p in range(min(-before, 0), max(length + after, length)):
        if p < -before or p >= length + after:
            kinds.append("crop")
        elif p < 0 or p >= length:
            kinds.append("pad")
        elif case.transposed and p % s:
            kinds.append("zero")
        else:
            kinds.append("input")
    return kinds


def check_renderings(e, case, rows):
    """render_text runs and states the shapes; render_svg parses and draws, per
    panel, every canvas cell of the right kind, every output cell and every tap."""
    text = render_text(e)
    shape = e.output_shape if e.output_shape is not None else e.output_size
    assert f" -> output {shape}" in text.splitlines()[0]
    counts = svg_cells(render_svg(e))[1]
    groups = [list(range(case.rank))] if case.rank <= 2 else [[a] for a in range(case.rank)]
    expected = dict.fromkeys(KIND_ORDER + ("out", "tap", "window"), 0)
    for axes in groups:
        lengths = [rows[a][2] for a in axes]
        panels = len(set(itertools.product(*[{0, n - 1} for n in lengths])))
        per_axis = [canvas_kinds(case, a, rows[a][0], rows[a][1]) for a in axes]
        for cell in itertools.product(*per_axis):
            expected[max(cell, key=KIND_ORDER.index)] += panels
        expected["out"] += panels * math.prod(lengths)
        expected["tap"] += panels * (math.prod(case.kernel_size[a] for a in axes) + 1)
        expected["window"] += panels
    legend = {"input": 1, "pad": 1, "out": 1, "tap": 1, "zero": int(case.transposed)}
    legend["crop"] = int(expected["crop"] > 0)
    for kind, count in expected.items():
        assert counts.get(kind, 0) == count + legend.get(kind, 0), (kind, case)


def test_sweep_covers_the_space():
    """The seeded sample reaches every layer, padding form and option it should."""
    sample = CASES[:N_DEFAULT]
    assert {c.name for c in sample} == set(KINDS)
    kinds = {c.padding if isinstance(c.padding, str) else type(c.padding).__name__ for c in sample}
    assert kinds >= {"valid", "same", "full", "causal", "int", "tuple"}
    assert any(c.output_padding is not None for c in sample)
    assert any(c.output_shape is not None for c in sample)
    assert any(c.padding_mode != "zeros" for c in sample)
    assert any(max(c.strides) > 1 and max(c.dilation_rate) > 1 for c in sample)
    refused = sum(expected_refusal(c) is not None for c in CASES)
    assert 0.03 * N_CASES < refused < 0.3 * N_CASES


# --------------------------------------------------------------------------
# 2. properties
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["conv1d", "conv2d", "depthwiseconv1d", "separableconv2d", "conv3d"])
def test_same_stride_1_keeps_the_length(name):
    rank = KINDS[name][2]
    for n, k, d in itertools.product(range(1, 11), range(1, 6), range(1, 4)):
        e = npconv.explain(name, n, k, 1, "same", d)
        assert e.output_size == (n,) * rank, (n, k, d)
        dim = e.dims[0]
        assert dim.pad_before + dim.pad_after == _k_eff(k, d) - 1
    layer = getattr(layers, KINDS[name][0])(
        **({} if "depthwise" in name else {"filters": 2}), kernel_size=4, padding="same"
    )
    assert layer(np.zeros((1, *(7,) * rank, 3))).shape[1:-1] == (7,) * rank


@pytest.mark.parametrize("name", ["conv1dtranspose", "conv2dtranspose"])
def test_transposed_same_multiplies_by_the_stride(name):
    """Keras's 'same' transposed with output_padding=None gives n*s (stride 1: n)."""
    rank = KINDS[name][2]
    for n, k, s, d in itertools.product(range(1, 8), range(1, 6), range(1, 4), range(1, 3)):
        e = npconv.explain(name, n, k, s, "same", d)
        assert e.output_size == (n * s,) * rank, (n, k, s, d)


def test_explicit_padding_equals_the_int_and_the_pair_forms():
    a = npconv.explain("conv2d", (6, 7), 3, 2, 1)
    b = npconv.explain("conv2d", (6, 7), 3, 2, (1, 1))
    c = npconv.explain("conv2d", (6, 7), 3, 2, ((1, 1), (1, 1)))
    assert a == b == c
    assert a.pads == ((1, 1), (1, 1))


def small_model():
    return npconv.Sequential(
        [
            npconv.Input((13, 11, 3)),
            layers.Conv2D(4, 3, strides=2, padding="same"),
            layers.DepthwiseConv2D((2, 3), depth_multiplier=2, padding=((1, 0), (0, 2))),
            layers.MaxPooling2D(2),
            layers.SeparableConv2D(5, 3, dilation_rate=2, padding="full"),
            layers.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=(0, 1)),
            layers.Conv2DTranspose(2, 4, strides=3, padding="valid", output_shape=(41, 44)),
            layers.Conv2D(2, (5, 1), strides=(3, 1), padding="valid", dilation_rate=(1, 1)),
            layers.Flatten(),
        ]
    )


def layer_arguments(layer):
    """The geometry arguments of an npconv conv layer, for npconv.explain()."""
    kwargs = dict(
        kernel_size=layer.kernel_size,
        strides=layer.strides,
        padding=layer.padding,
        dilation_rate=layer.dilation_rate,
        data_format=layer.data_format,
    )
    for name in ("filters", "groups", "depth_multiplier", "padding_mode", "output_padding", "output_shape"):
        if hasattr(layer, name):
            kwargs[name] = getattr(layer, name)
    return kwargs


def test_explain_layer_and_model_match_explain_and_compute_output_shape():
    model = small_model()
    m = explain_model(model)
    assert m.input_shape == (None, 13, 11, 3)
    assert [s.name for s in m.steps] == [layer.name for layer in model.layers]
    x = np.random.default_rng(0).normal(size=(2, 13, 11, 3))
    shape = (None, 13, 11, 3)
    conv_steps = 0
    for layer, step in zip(model.layers, m.steps):
        assert step.input_shape == shape
        shape = layer.compute_output_shape(shape)
        assert step.output_shape == shape
        x = layer(x)
        assert x.shape[1:] == shape[1:], layer.name
        if step.layer.lower() not in KINDS:
            assert step.explanation is None
            continue
        conv_steps += 1
        direct = npconv.explain(step.layer.lower(), step.input_shape, **layer_arguments(layer))
        assert dataclasses.replace(step.explanation, name=None) == direct, layer.name
        assert explain_layer(layer, step.input_shape) == step.explanation
        assert direct.output_shape == shape
        assert direct.output_size == x.shape[1:-1]
    assert conv_steps == 6
    assert m.output_shape == (None, x.shape[1]) == (None, 13 * 44 * 2)
    assert model.compute_output_shape((None, 13, 11, 3)) == m.output_shape


def test_explain_output_shape_with_an_unknown_size_matches_the_layer():
    layer = layers.Conv2DTranspose(1, 3, strides=2, output_shape=(9, 12))
    shape = (None, None, 5, 1)
    assert layer.compute_output_shape(shape) == (None, 9, 12, 1)
    assert layer(np.zeros((1, 4, 5, 1))).shape == (1, 9, 12, 1)  # width 12 needs output_padding=1
    e = npconv.explain("conv2dtranspose", shape, 3, 2, output_shape=(9, 12), filters=1)
    assert explain_layer(layer, shape) == dataclasses.replace(e, name=layer.name)
    assert e.output_shape == (None, 9, 12, 1)  # explain says (None, None, 11, 1)
    assert e.dims[1].output_length == 12


def test_explain_of_a_layer_object_uses_the_layer():
    layer = layers.Conv1DTranspose(2, 3, strides=2, padding="same", output_shape=(9,))
    by_object = npconv.explain(layer, (5, 4))
    assert by_object == explain_layer(layer, (5, 4))
    assert by_object.output_size == (9,) and by_object.output_shape == (None, 9, 2)
    assert by_object.dims[0].output_padding == 0  # 9 = (5 - 1)*2 + 1 + 0
    assert layer(np.zeros((1, 5, 4))).shape == (1, 9, 2)


def test_explain_of_layer_objects_and_the_model_explain_method():
    model = small_model()
    assert model.explain() == explain_model(model)
    for layer, step in zip(model.layers, model.explain().steps):
        if step.explanation is not None:
            assert npconv.explain(layer, step.input_shape) == step.explanation
    layer = layers.Conv2D(4, 3, strides=2, padding="same", input_shape=(9, 9, 3))
    direct = npconv.explain("conv2d", (None, 9, 9, 3), 3, 2, "same", filters=4)
    assert npconv.explain(layer) == dataclasses.replace(direct, name=layer.name)  # the input_shape= argument


# --------------------------------------------------------------------------
# 3. text snapshots
# --------------------------------------------------------------------------
SNAPSHOT_CASES = {
    "conv2d_5x5_k3_s2_same": dict(layer="conv2d", input_shape=(5, 5), kernel_size=3, strides=2, padding="same"),
    "conv2dtranspose_5_k3_s2_same_op1": dict(
        layer="conv2dtranspose", input_shape=(5, 5), kernel_size=3, strides=2, padding="same", output_padding=1
    ),
    "conv1d_8_k3_causal_d2": dict(layer="conv1d", input_shape=8, kernel_size=3, padding="causal", dilation_rate=2),
    "conv1dtranspose_3_k2_s3_valid": dict(
        layer="conv1dtranspose", input_shape=3, kernel_size=2, strides=3, padding="valid"
    ),
}


@pytest.mark.parametrize("key", sorted(SNAPSHOT_CASES))
def test_render_text_snapshot(key):
    text = render_text(npconv.explain(**SNAPSHOT_CASES[key]))
    path = SNAPSHOTS / f"{key}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing snapshot {path}: run UPDATE_SNAPSHOTS=1 pytest {__file__}"
    assert text == path.read_text()


def test_render_text_of_a_model_lists_every_layer():
    model = small_model()
    text = render_text(explain_model(model))
    for layer in model.layers:
        assert f"{layer.name} ({type(layer).__name__})" in text
    assert "(None, 13, 11, 3)" in text
    detailed = render_text(explain_model(model), detail=True)
    assert detailed.count("why these pads:") >= 6


# --------------------------------------------------------------------------
# 4. SVG
# --------------------------------------------------------------------------
def svg_cells(document):
    root = ET.fromstring(document)
    assert root.tag == f"{SVG_NS}svg"
    counts = {}
    for rect in root.iter(f"{SVG_NS}rect"):
        classes = rect.get("class", "").split()
        if "cell" in classes:
            kind = next(c for c in classes if c != "cell")
            counts[kind] = counts.get(kind, 0) + 1
        elif classes:
            counts[classes[0]] = counts.get(classes[0], 0) + 1
    return root, counts


SVG_CASES = [
    # (explain arguments, per axis (input, zero, pad) cells on the canvas, output cells, kernel taps)
    # conv2d 5x5 k3 s2 same: pads (1, 1): canvas 7x7, 25 inputs; output 3x3
    (dict(layer="conv2d", input_shape=(5, 5), kernel_size=3, strides=2, padding="same"), 49, 25, 0, 9, 9),
    # conv2d 6x4 k(3,2) valid: canvas 6x4 = inputs; output 4x3
    (dict(layer="conv2d", input_shape=(6, 4), kernel_size=(3, 2)), 24, 24, 0, 12, 6),
    # conv1d 8 causal k3 d2: pads (4, 0): 12 cells, 8 inputs; output 8
    (dict(layer="conv1d", input_shape=8, kernel_size=3, padding="causal", dilation_rate=2), 12, 8, 0, 8, 3),
    # conv2dtranspose 5x5 k3 s2 same op1: zero-inserted 9x9 (25 inputs, 56 zeros), pads (2, 1): 12x12; out 10x10
    (
        dict(layer="conv2dtranspose", input_shape=(5, 5), kernel_size=3, strides=2, padding="same", output_padding=1),
        144,
        25,
        56,
        100,
        9,
    ),
    # conv1dtranspose 3 k2 s3 valid: zero-inserted 7 (3 inputs, 4 zeros), pads (1, 2): 10 cells; output 9
    (dict(layer="conv1dtranspose", input_shape=3, kernel_size=2, strides=3, padding="valid"), 10, 3, 4, 9, 2),
]


@pytest.mark.parametrize("args, canvas, inputs, zeros, outputs, taps", SVG_CASES)
def test_render_svg_draws_every_cell(args, canvas, inputs, zeros, outputs, taps):
    e = npconv.explain(**args)
    panels = len(set(itertools.product(*[{0, n - 1} for n in e.output_size])))
    root, counts = svg_cells(render_svg(e))
    legend = 1  # the legend draws one swatch per kind
    assert counts.get("input", 0) == panels * inputs + legend
    assert counts.get("zero", 0) == panels * zeros + (legend if e.transposed else 0)
    assert counts.get("pad", 0) == panels * (canvas - inputs - zeros) + legend
    assert counts.get("crop", 0) == 0
    assert counts.get("out", 0) == panels * outputs + legend
    assert counts.get("tap", 0) == panels * (taps + 1) + legend  # the window's taps and its output cell
    assert counts.get("window", 0) == panels
    one = svg_cells(render_svg(e, positions=[(0,) * e.rank]))[1]
    assert one.get("window") == 1 and one.get("input") == inputs + legend


def test_render_svg_marks_cropped_cells():
    # conv1dtranspose 3 k2 s2, crop (2, 0): pads (-1, 1) on the zero-inserted input 0 z 1 z 2:
    # canvas 0..5 = crop(x0) z x1 z x2 pad; output (3-1)*2 + 2 - 2 = 4.
    e = npconv.explain("conv1dtranspose", 3, 2, 2, ((2, 0),))
    assert e.pads == ((-1, 1),) and e.output_size == (4,)
    counts = svg_cells(render_svg(e, positions=[0]))[1]
    assert (counts["crop"], counts["zero"], counts["input"], counts["pad"], counts["out"]) == (2, 3, 3, 2, 5)


def test_render_svg_3d_draws_one_strip_per_axis():
    e = npconv.explain("conv3d", (4, 5, 6), 3, padding="same")
    counts = svg_cells(render_svg(e))[1]
    # per axis two panels (first and last output), canvas n + 2, n inputs, n outputs
    assert counts["input"] == 2 * (4 + 5 + 6) + 1
    assert counts["pad"] == 2 * 2 * 3 + 1
    assert counts["out"] == 2 * (4 + 5 + 6) + 1


@pytest.mark.parametrize(
    "args",
    [
        dict(layer="conv2d", input_shape=(5, 5), kernel_size=3, strides=2, padding="same"),
        dict(layer="conv1dtranspose", input_shape=4, kernel_size=3, strides=2, padding="same", output_padding=0),
        dict(layer="conv3dtranspose", input_shape=(2, 3, 2), kernel_size=2, strides=(1, 2, 3)),
    ],
)
def test_render_svg_animated(args):
    e = npconv.explain(**args)
    document = render_svg(e, animate=True)
    root = ET.fromstring(document)
    animations = list(root.iter(f"{SVG_NS}animate")) + list(root.iter(f"{SVG_NS}set"))
    groups = [e.output_size] if e.rank <= 2 else [(n,) for n in e.output_size]
    assert len(animations) == sum(math.prod(g) for g in groups)
    for animation in animations:
        times = [float(t) for t in animation.get("keyTimes").split(";")]
        assert times[0] == 0 and times == sorted(times) and times[-1] <= 1
        assert len(times) == len(animation.get("values").split(";"))
    counts = svg_cells(document)[1]
    assert counts["window"] == len(animations)


def test_render_svg_rejects_positions_outside_the_output():
    e = npconv.explain("conv2d", (5, 5), 3)
    with pytest.raises(ValueError, match="`positions`"):
        render_svg(e, positions=[(3, 0)])


def test_renderers_with_an_unknown_size():
    e = npconv.explain("conv2d", (None, 6, 3), 3, 2, "same", filters=4)
    assert e.output_size == (None, 3) and e.output_shape == (None, None, 3, 4)
    assert e.output_shape == layers.Conv2D(4, 3, 2, "same").compute_output_shape((None, None, 6, 3))
    text = render_text(e)
    assert text.splitlines()[0] == "Conv2D: input (None, None, 6, 3) -> output (None, None, 3, 4)"
    assert "(no diagram: the input length is unknown)" in text
    with pytest.raises(ValueError, match="every spatial size must be known"):
        render_svg(e)
    assert e.text() == render_text(e) == str(e)
    known = npconv.explain("conv1d", 6, 3)
    assert known.svg() == render_svg(known)


def test_render_svg_refuses_huge_pictures():
    with pytest.raises(ValueError, match="more than 128"):
        render_svg(npconv.explain("conv1d", 200, 3))
    with pytest.raises(ValueError, match="at most 400"):
        render_svg(npconv.explain("conv2d", (30, 30), 3, padding="same"), animate=True)


def test_render_svg_position_swatch_has_the_panel_colour():
    root = ET.fromstring(render_svg(npconv.explain("conv2d", (5, 5), 3, 2, "same")))
    css = "".join(style.text for style in root.iter(f"{SVG_NS}style"))
    rules = dict(re.findall(r"\.([\w-]+)\s*\{([^}]*)\}", css))
    swatches = [t for t in root.iter(f"{SVG_NS}text") if t.text == "\u25a0"]
    assert len(swatches) == 4
    for swatch in swatches:
        css_fill = any("fill:" in rules.get(c, "") for c in swatch.get("class", "").split())
        style_fill = "fill:" in (swatch.get("style") or "")
        assert style_fill or not css_fill, "the class's CSS fill overrides fill=" + swatch.get("fill")


def test_render_svg_to_png(tmp_path):
    """Rasterises where rsvg-convert is installed (look at /tmp/explain.png by eye)."""
    import shutil
    import subprocess

    tool = shutil.which("rsvg-convert")
    if tool is None:
        pytest.skip("rsvg-convert not installed")
    e = npconv.explain("conv2dtranspose", (3, 3), 3, 2, "same", output_padding=1)
    source = tmp_path / "explain.svg"
    source.write_text(render_svg(e))
    target = tmp_path / "explain.png"
    subprocess.run([tool, str(source), "-o", str(target)], check=True, capture_output=True)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------
# 5. errors
# --------------------------------------------------------------------------
ERROR_CASES = [
    (dict(layer="conv4d", input_shape=5, kernel_size=3), ValueError, "`layer`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=0), ValueError, "`kernel_size`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=(3, 0)), ValueError, "`kernel_size`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=None), ValueError, "`kernel_size`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=3.0), TypeError, "`kernel_size`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=3, strides=0), ValueError, "`strides`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=3, dilation_rate=(1, 2, 3)), ValueError, "`dilation_rate`"),
    (
        dict(layer="conv2dtranspose", input_shape=5, kernel_size=3, strides=2, output_padding=2),
        ValueError,
        "`output_padding`",
    ),
    (
        dict(layer="conv1dtranspose", input_shape=5, kernel_size=3, strides=1, output_padding=1),
        ValueError,
        "`output_padding`",
    ),
    (
        dict(layer="conv2dtranspose", input_shape=5, kernel_size=3, strides=2, output_padding=-1),
        ValueError,
        "`output_padding`",
    ),
    (dict(layer="conv2d", input_shape=5, kernel_size=3, output_padding=1), ValueError, "`output_padding`"),
    (
        dict(layer="conv2dtranspose", input_shape=5, kernel_size=3, strides=2, output_shape=(7, 11)),
        ValueError,
        "`output_shape`",
    ),
    (
        dict(layer="conv2dtranspose", input_shape=5, kernel_size=3, strides=2, output_shape=(11, 11), output_padding=0),
        ValueError,
        "`output_shape`",
    ),
    # height (k=2) needs output_padding=None for 8, width (k=3) needs 0 for 7; no integer gives 8 on height.
    (
        dict(
            layer="conv2dtranspose", input_shape=4, kernel_size=(2, 3), strides=2, padding="same", output_shape=(8, 7)
        ),
        ValueError,
        "`output_shape`",
    ),
    (dict(layer="conv2d", input_shape=5, kernel_size=3, output_shape=(5, 5)), ValueError, "`output_shape`"),
    (dict(layer="conv2d", input_shape=(2, 9), kernel_size=3), ValueError, "kernel_size=\\[3, 3\\]"),
    (dict(layer="conv1d", input_shape=4, kernel_size=3, dilation_rate=2), ValueError, "dilation_rate=\\[2\\]"),
    (dict(layer="conv2d", input_shape=5, kernel_size=3, padding="causal"), ValueError, "`padding`"),
    (dict(layer="separableconv1d", input_shape=5, kernel_size=3, padding="causal"), ValueError, "`padding`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=3, padding="bogus"), ValueError, "`padding`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=3, padding=-1), ValueError, "`padding`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=3, padding=((1, 2, 3), 1)), ValueError, "`padding`"),
    (dict(layer="conv2d", input_shape=(5, 0), kernel_size=3), ValueError, "`input_shape`"),
    (dict(layer="conv2d", input_shape=(5, 5, 5, 5, 5), kernel_size=3), ValueError, "`input_shape`"),
    (dict(layer="conv2d", input_shape="5x5", kernel_size=3), ValueError, "`input_shape`"),
    (dict(layer="conv2dtranspose", input_shape=5, kernel_size=3, padding_mode="reflect"), ValueError, "`padding_mode`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=3, padding_mode="mirror"), ValueError, "`padding_mode`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=3, data_format="nhwc"), ValueError, "`data_format`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=3, groups=0), ValueError, "`groups`"),
    (dict(layer="depthwiseconv2d", input_shape=5, kernel_size=3, depth_multiplier=0), ValueError, "`depth_multiplier`"),
    (dict(layer="conv2d", input_shape=5, kernel_size=3, filters=0), ValueError, "`filters`"),
    (
        dict(layer="conv1dtranspose", input_shape=1, kernel_size=1, padding=((2, 2),)),
        ValueError,
        "output_size=\\[-3\\]",
    ),
]


@pytest.mark.parametrize("kwargs, error, pattern", ERROR_CASES, ids=[f"{i:02d}" for i in range(len(ERROR_CASES))])
def test_explain_rejects_bad_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        npconv.explain(**kwargs)
    message = str(info.value)
    assert "array(" not in message and "np." not in message  # plain Python values only


def _layer_can_take(kwargs, pattern):
    """Whether the real layer constructor takes these arguments at all (and so can
    refuse the same value): it has no `layer`/`input_shape`, forward layers no
    output_padding/output_shape/filters-for-depthwise, transposed no padding_mode."""
    family = KINDS.get(kwargs["layer"], (None, None))[1]
    if family is None or "`input_shape`" in pattern:
        return False
    if family != "transpose" and ("output_padding" in kwargs or "output_shape" in kwargs):
        return False
    if family == "transpose" and "padding_mode" in kwargs:
        return False  # the layer has no such keyword: TypeError for any value
    if kwargs.get("kernel_size", 1) is None:
        return False  # a required argument passed as None: TypeError in the layer
    return not (family == "depthwise" and "filters" in kwargs)


LAYER_ERROR_CASES = [case for case in ERROR_CASES if _layer_can_take(case[0], case[2])]


@pytest.mark.parametrize("kwargs, error, pattern", LAYER_ERROR_CASES)
def test_explain_refuses_what_the_layer_refuses(kwargs, error, pattern):
    """The real layer refuses the same arguments with the same exception type."""
    kwargs = dict(kwargs)
    name, input_shape = kwargs.pop("layer"), kwargs.pop("input_shape")
    cls, family, rank = KINDS[name]
    if family in ("conv", "transpose", "separable"):
        kwargs.setdefault("filters", 1)
    with pytest.raises(error):
        layer = getattr(layers, cls)(**kwargs)
        spatial = (input_shape,) * rank if isinstance(input_shape, int) else input_shape
        layer(np.zeros((1, *spatial, 1)))


def test_most_error_cases_are_checked_against_the_layer():
    assert len(LAYER_ERROR_CASES) >= len(ERROR_CASES) - 8


def test_explain_rejects_a_non_layer_object():
    with pytest.raises(TypeError, match="`layer`"):
        npconv.explain(3, 5, 3)
    with pytest.raises(TypeError, match="`layer`"):
        npconv.explain(layers.Dense(3), (4,))


def test_explain_refuses_reflect_pads_longer_than_the_input():
    layer = layers.Conv1D(1, 5, padding="same", padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode"):
        layer(np.zeros((1, 2, 1)))
    with pytest.raises(ValueError, match="padding_mode"):
        npconv.explain("conv1d", 2, 5, padding="same", padding_mode="reflect")


def test_explain_refuses_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match="`groups`"):
        layers.Conv2D(4, 3, groups=2).build((None, 8, 8, 3))
    with pytest.raises(ValueError, match="`groups`"):
        layers.Conv2D(3, 3, groups=2)
    with pytest.raises(ValueError, match="`groups`"):  # explain gives kernel (3, 3, 1, 4)
        npconv.explain("conv2d", (8, 8, 3), 3, filters=4, groups=2)
    with pytest.raises(ValueError, match="`groups`"):  # explain gives kernel (3, 3, 2, 3)
        npconv.explain("conv2d", (8, 8, 4), 3, filters=3, groups=2)


def test_article_rules_are_reachable_from_explain():
    import npconv.explain

    assert npconv.explain.article_rules()
    assert "article" in npconv.explain.render_article(diagram=False)


def test_layer_names_accept_keras_spellings():
    for spelling in ("Conv2DTranspose", "conv2d_transpose", "Deconvolution2D", "conv-2d-transpose"):
        assert npconv.explain(spelling, 4, 3).layer == "Conv2DTranspose"
    assert re.search(r"Received: layer='Conv5D'", _message(lambda: npconv.explain("Conv5D", 4, 3)))


def _message(fn):
    with pytest.raises(ValueError) as info:
        fn()
    return str(info.value)
