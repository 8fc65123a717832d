"""The onednn backend against the numpy backend (the exact reference).

- a seeded differential fuzz over random specs (ranks 1-3, groups, depthwise,
  strides, dilation, asymmetric pads, both layouts, fused bias + activation),
  with NaN and Inf in the inputs: non-finite outputs exactly where numpy has
  them, the finite ones within float32 rounding;
- float64 and refused specs run on numpy, and the record says so;
- the library made unloadable (in a subprocess): numpy runs, and asking for
  onednn by name is an error that says why;
- predict from 4 threads at once equals predict run sequentially;
- the primitive cache stays within its bound;
- the ctypes constants and signatures agree with the official headers.
"""

import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from helpers import on_backend

import npconv
from npconv import config, layers
from npconv.ops import convolution, kernels, registry
from npconv.ops.backends import onednn
from npconv.ops.backends.onednn import binding
from npconv.ops.backends.onednn import conv as onednn_conv
from npconv.ops.backends.onednn import library as L
from npconv.ops.spec import ConvSpec

pytestmark = pytest.mark.skipif(not onednn.available()[0], reason=f"oneDNN not loadable: {onednn.available()[1]}")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def random_case(rng):
    """(x, kernel, bias, strides, padding, dilation, groups, activation, channels_first) of a random conv."""
    rank = int(rng.integers(1, 4))
    kind = rng.choice(["plain", "grouped", "depthwise"])
    channels = int(rng.integers(1, 7))
    groups = 1
    if kind == "grouped":
        groups = int(rng.integers(2, 4))
        channels = groups * int(rng.integers(1, 4))
    elif kind == "depthwise":
        groups = channels = int(rng.integers(2, 6))
    filters = groups * int(rng.integers(1, 4))
    kernel_size = tuple(int(k) for k in rng.integers(1, 4, rank))
    strides = tuple(int(s) for s in rng.integers(1, 3, rank))
    dilation = tuple(int(d) for d in rng.integers(1, 3, rank))
    pads = tuple((int(b), int(a)) for b, a in rng.integers(0, 3, (rank, 2)))
    size = [int(rng.integers(3, 10 if rank < 3 else 7)) for _ in range(rank)]
    size = [max(n, (k - 1) * d + 1) for n, k, d in zip(size, kernel_size, dilation)]
    batch = int(rng.integers(1, 4))
    x = rng.standard_normal((batch, *size, channels)).astype(np.float32)
    kernel = rng.standard_normal((*kernel_size, channels // groups, filters)).astype(np.float32)
    bias = rng.standard_normal(filters).astype(np.float32) if rng.random() < 0.6 else None
    activation = rng.choice([None, "relu", "sigmoid", "tanh", "elu", "gelu", "silu"])
    channels_first = bool(rng.random() < 0.3)
    # Non-finite inputs: a few NaNs and infinities in some cases.
    if rng.random() < 0.5:
        for value in (np.nan, np.inf, -np.inf)[: int(rng.integers(1, 4))]:
            x[tuple(int(rng.integers(0, n)) for n in x.shape)] = value
    return x, kernel, bias, strides, pads, dilation, groups, activation, channels_first


def as_layout(x, channels_first):
    """x (channels_last values) stored channels_first if asked (a channels_last view)."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(x, -1, 1)), 1, -1) if channels_first else x


def run_all(case, backend):
    """Every pass of the case on one backend (on onednn, forced wherever it applies:
    tiny forward passes would otherwise run on numpy)."""
    x, kernel, bias, strides, pads, dilation, groups, activation, channels_first = case
    x = as_layout(x, channels_first)
    forced = "onednn" if backend == "onednn" else None
    with on_backend(backend), registry.set_algorithm(forced), registry.record() as seen:
        y = convolution.conv_nd(x, kernel, strides, pads, dilation, groups, "zeros", None, bias, activation)
        dy = np.cos(np.arange(y.size, dtype=np.float32)).reshape(y.shape)
        dy = as_layout(dy, channels_first)
        dx, dkernel, dbias = convolution.conv_nd_backward(
            x, kernel, dy, strides, pads, dilation, groups, "zeros", True, None, bias is not None
        )
    return (y, dx, dkernel, dbias), seen


def assert_ran_on_onednn(seen, what):
    """Every conv pass in ``seen`` ran on oneDNN, except passes for which oneDNN
    offered only a reference implementation (refused, so numpy ran them; a 3-D
    channels_first conv on AVX2, for one). Activations have their own rule."""
    reference_only = {
        key[0]
        for key, p in binding._cache.items()
        if isinstance(p, binding.Refusal) and p.reason.startswith("reference")
    }
    for pass_, name in seen:
        if not pass_.startswith("eltwise"):
            assert name == "onednn" or pass_ in reference_only, (what, seen)


def assert_same(actual, expected, what):
    assert actual.shape == expected.shape, what
    bad_a, bad_e = ~np.isfinite(actual), ~np.isfinite(expected)
    assert np.array_equal(bad_a, bad_e), f"{what}: non-finite at different places"
    scale = max(float(np.max(np.abs(expected[~bad_e]), initial=0.0)), 1.0)
    error = float(np.max(np.abs(actual[~bad_a] - expected[~bad_e]), initial=0.0))
    assert error <= 2e-5 * scale * max(1, expected.size // 10_000), f"{what}: error {error:.3g}, scale {scale:.3g}"


FUZZ_SEEDS = range(60)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("seed", FUZZ_SEEDS)
def test_differential_fuzz_against_numpy(seed):
    case = random_case(np.random.default_rng([20260, seed]))
    expected, numpy_ran = run_all(case, "numpy")
    onednn.clear_cache()
    actual, onednn_ran = run_all(case, "onednn")
    assert {name for _, name in numpy_ran} <= {a.name for a in registry.algorithms("numpy")}
    assert_ran_on_onednn(onednn_ran, case[3:])
    for name, a, e in zip(("y", "dx", "dkernel", "dbias"), actual, expected):
        if e is None:
            assert a is None
            continue
        assert a.dtype == np.float32
        assert_same(a, e, f"{name} of {case[3:]}")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("seed", range(60, 600))
def test_differential_fuzz_long(seed):
    test_differential_fuzz_against_numpy(seed)


def test_layers_run_on_onednn_and_match_numpy():
    """Every conv layer family, forward and backward, on both backends; the
    record says oneDNN ran every pass."""
    rng = np.random.default_rng(3)
    cases = [
        (layers.Conv2D, dict(filters=8, kernel_size=3, padding="same", activation="relu"), (2, 9, 9, 4)),
        (layers.Conv1D, dict(filters=5, kernel_size=3, dilation_rate=2, padding="causal"), (2, 11, 3)),
        (layers.Conv3D, dict(filters=4, kernel_size=2, data_format="channels_first"), (2, 3, 5, 5, 5)),
        (
            layers.Conv2DTranspose,
            dict(filters=5, kernel_size=3, strides=2, padding="same", output_padding=1),
            (2, 5, 5, 4),
        ),
        (layers.Conv1DTranspose, dict(filters=5, kernel_size=2, strides=3), (2, 5, 4)),
        (
            layers.DepthwiseConv2D,
            dict(kernel_size=3, depth_multiplier=2, padding="same", activation="sigmoid"),
            (2, 7, 7, 4),
        ),
        (layers.SeparableConv2D, dict(filters=6, kernel_size=3, activation="tanh"), (2, 7, 7, 4)),
        (layers.Conv2D, dict(filters=6, kernel_size=3, padding="same", padding_mode="reflect", groups=2), (2, 6, 6, 4)),
    ]
    for cls, kwargs, shape in cases:
        layer = cls(**kwargs)
        x = rng.standard_normal(shape).astype(np.float32)
        results = {}
        onednn.clear_cache()  # so that the refusals seen are this case's
        for backend in ("numpy", "onednn"):
            forced = "onednn" if backend == "onednn" else None
            with on_backend(backend), registry.set_algorithm(forced), registry.record() as seen:
                y = layer(x, training=True)
                dy = np.sin(np.arange(y.size, dtype=np.float32)).reshape(y.shape)
                for weight in layer.weights:
                    weight.grad = None
                dx = layer.backward(dy)
            results[backend] = (y, dx, *[w.grad.copy() for w in layer.weights])
            if backend == "onednn":
                assert_ran_on_onednn(seen, cls.__name__)
        for got, want in zip(results["onednn"], results["numpy"]):
            assert_same(got, want, cls.__name__)


def test_tiny_forward_passes_run_on_numpy_unless_forced():
    """The article's layer: numpy's one gather and matrix product beats a primitive call."""
    x = np.ones((1, 5, 5, 1), np.float32)
    layer = layers.Conv2D(1, 3)
    layer.build(x.shape)
    # positive weights: no cancellation, so the two summation orders agree to rtol 1e-6
    layer.set_weights([np.arange(1, 10, dtype=np.float32).reshape(3, 3, 1, 1) / 10, np.ones(1, np.float32)])
    with on_backend("onednn"):
        with registry.record() as seen:
            y = layer(x)
        with registry.set_algorithm("onednn"), registry.record() as forced:
            np.testing.assert_allclose(layer(x), y, rtol=1e-6)
    assert seen == [("forward", "small")]
    assert forced == [("forward", "onednn")]


def test_float64_runs_on_numpy():
    x = np.ones((1, 6, 6, 2))
    kernel = np.ones((3, 3, 2, 3))
    with on_backend("onednn"), registry.record() as seen:
        y = convolution.conv_nd(x, kernel, (1, 1), "same", (1, 1))
    assert y.dtype == np.float64
    assert seen == [("forward", "small")]


def test_primitive_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(binding, "CACHE_SIZE", 3)
    onednn.clear_cache()
    rng = np.random.default_rng(4)
    kernel = rng.standard_normal((3, 3, 2, 4)).astype(np.float32)
    with on_backend("onednn"):
        for size in range(5, 12):
            x = rng.standard_normal((1, size, size, 2)).astype(np.float32)
            y = convolution.conv_nd(x, kernel, (1, 1), "valid", (1, 1))
            with on_backend("numpy"):
                want = convolution.conv_nd(x, kernel, (1, 1), "valid", (1, 1))
            assert_same(y, want, f"size {size}")
            assert len(binding._cache) <= 3
    onednn.clear_cache()


def test_primitive_names_its_implementation():
    spec = npconv.ops.spec.make_spec((2, 16, 16, 8), (3, 3, 8, 8), (1, 1), ((1, 1), (1, 1)), (1, 1))
    x = np.ones(spec.x_shape, np.float32)
    kernel = np.ones(spec.kernel_shape, np.float32)
    with on_backend("onednn"):
        y = kernels.conv_forward(spec, x, kernel)
    assert y.shape == spec.y_shape and np.all(y[:, 1:-1, 1:-1] == 72)
    primitive = binding._cache[("forward", spec, x.strides, kernel.strides)]
    assert primitive.implementation  # e.g. "brgconv:avx512_core"


def test_predict_from_four_threads_equals_sequential():
    rng = np.random.default_rng(5)
    model = npconv.Sequential(
        [
            npconv.Input((10, 10, 3)),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.Conv2D(4, 3, strides=2, activation="tanh"),
            layers.Flatten(),
            layers.Dense(5),
        ]
    )
    inputs = [rng.standard_normal((6, 10, 10, 3)).astype(np.float32) for _ in range(4)]
    with on_backend("onednn"):
        sequential = [model.predict(x, verbose=0) for x in inputs]
        parallel = [None] * 4
        start = threading.Barrier(4)

        def work(i):
            start.wait()
            for _ in range(5):
                parallel[i] = model.predict(inputs[i], verbose=0)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    for got, want in zip(parallel, sequential):
        np.testing.assert_array_equal(got, want)


def _run_python(code, **env):
    environment = {**os.environ, "PYTHONPATH": ROOT, **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=environment, timeout=120
    )


def test_unloadable_library_falls_back_to_numpy():
    result = _run_python(
        """
        import numpy as np
        from npconv import config, layers
        from npconv.ops import record
        with record() as seen:
            y = layers.Conv2D(3, 3)(np.ones((1, 5, 5, 2), np.float32))
        print(config.backend(), seen)
        """,
        NPCONV_ONEDNN_LIBRARY="/nonexistent/libdnnl.so.3",
        NPCONV_BACKEND="",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy [('forward', 'small')]"


def test_asking_for_onednn_when_it_cannot_load_says_why():
    result = _run_python(
        "import numpy as np\nfrom npconv import layers\nlayers.Conv2D(3, 3)(np.ones((1, 5, 5, 2), np.float32))",
        NPCONV_ONEDNN_LIBRARY="/nonexistent/libdnnl.so.3",
        NPCONV_BACKEND="onednn",
    )
    assert result.returncode != 0
    assert "NPCONV_BACKEND='onednn'" in result.stderr
    assert "/nonexistent/libdnnl.so.3 does not exist" in result.stderr


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match=r"Expected one of \['numpy', 'onednn'\]\. Received: name='mkl'"):
        config.set_backend("mkl")


# --------------------------------------------------------------------------
# the binding against the official headers (onednn-devel-cpu-gomp)
# --------------------------------------------------------------------------
HEADERS = os.path.join(sys.prefix, "include")
HEADER = os.path.join(HEADERS, "oneapi", "dnnl", "dnnl.h")


@pytest.mark.skipif(not os.path.exists(HEADER), reason="oneDNN headers (onednn-devel-cpu-gomp) not installed")
def test_constants_match_the_headers(tmp_path):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to read the headers' enum values")
    lines = [f'printf("{name} %ld\\n", (long)({name}));' for name in L.CONSTANTS]
    lines += [f'printf("isa {value} %ld\\n", (long)(dnnl_cpu_isa_{name}));' for value, name in L.CPU_ISA_NAMES.items()]
    source = tmp_path / "constants.c"
    source.write_text(
        '#include <stdio.h>\n#include "oneapi/dnnl/dnnl.h"\nint main(void) {\n' + "\n".join(lines) + "\nreturn 0;\n}\n"
    )
    binary = tmp_path / "constants"
    subprocess.run([compiler, f"-I{HEADERS}", str(source), "-o", str(binary)], check=True, capture_output=True)
    output = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout.split("\n")
    for line in filter(None, output):
        if line.startswith("isa "):
            _, ours, theirs = line.split()
            assert int(ours) == int(theirs), line
            continue
        name, value = line.split()
        assert L.CONSTANTS[name] == int(value), name


@pytest.mark.skipif(not os.path.exists(HEADER), reason="oneDNN headers (onednn-devel-cpu-gomp) not installed")
def test_signatures_match_the_headers():
    text = ""
    for name in ("dnnl.h", "dnnl_common.h"):
        with open(os.path.join(HEADERS, "oneapi", "dnnl", name)) as handle:
            text += handle.read()
    for function, (_, argtypes) in L.SIGNATURES.items():
        match = re.search(r"DNNL_API\s*\*?\s*" + function + r"\s*\(([^;]*?)\)\s*;", text)
        assert match, f"{function} is not declared in the headers"
        parameters = match.group(1).strip()
        count = 0 if parameters in ("", "void") else parameters.count(",") + 1
        assert count == len(argtypes), f"{function}: {count} parameters in the header, {len(argtypes)} in the binding"


def test_info_reports_the_library():
    library, path = L.load()
    assert os.path.exists(path)
    assert re.fullmatch(r"\d+\.\d+\.\d+", library.version())
    assert library.cpu_isa() in L.CPU_ISA_NAMES.values()


def test_packed_weights_follow_in_place_updates(monkeypatch):
    """Where the primitive takes its weights in its own layout, the packed copy
    is reused while the kernel is unchanged and redone when it changes in place
    (as an optimizer updates it)."""
    monkeypatch.setattr(onednn_conv, "PACK_MIN_MACS", 0)
    onednn.clear_cache()
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 12, 12, 16)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 16, 24)).astype(np.float32)
    outputs = []
    with on_backend("onednn"):
        for step in range(3):
            outputs.append(convolution.conv_nd(x, kernel, (1, 1), "same", (1, 1)))
            with on_backend("numpy"):
                assert_same(outputs[-1], convolution.conv_nd(x, kernel, (1, 1), "same", (1, 1)), f"step {step}")
            if step == 1:
                kernel[1, 1] += 1.0  # in place
    (primitive,) = [p for key, p in binding._cache.items() if key[0] == "forward" and key[1].x_shape == x.shape]
    onednn.clear_cache()
    if primitive.packing is None:
        pytest.skip("the primitive prefers Keras's own kernel layout here")
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert not np.array_equal(outputs[1], outputs[2])


@pytest.mark.parametrize(
    "x_shape, kernel_shape, strides, pads, groups",
    [
        ((2, 12, 12, 16), (3, 3, 16, 24), (1, 1), ((1, 1), (1, 1)), 1),
        ((2, 13, 11, 16), (3, 3, 16, 24), (2, 2), ((0, 1), (1, 0)), 1),
        ((2, 12, 12, 16), (1, 1, 16, 32), (1, 1), ((0, 0), (0, 0)), 1),
        ((2, 12, 12, 16), (3, 3, 4, 32), (1, 1), ((1, 1), (1, 1)), 4),
        ((2, 40, 16), (5, 16, 8), (1,), ((2, 2),), 1),
    ],
)
def test_backward_passes_in_the_preferred_weights_layout(monkeypatch, x_shape, kernel_shape, strides, pads, groups):
    """From PACK_MIN_MACS the backward passes take (dx) or write (dkernel) the
    weights in the primitive's own layout; both reorders are checked here
    against numpy, over two steps with the kernel changed in place between."""
    monkeypatch.setattr(onednn_conv, "PACK_MIN_MACS", 0)
    onednn.clear_cache()
    rng = np.random.default_rng(9)
    rank = len(strides)
    spec = ConvSpec(x_shape, kernel_shape, strides, pads, (1,) * rank, groups, "float32", bias=True)
    x = rng.standard_normal(x_shape).astype(np.float32)
    dy = rng.standard_normal(spec.y_shape).astype(np.float32)
    kernel = rng.standard_normal(kernel_shape).astype(np.float32)
    for step in range(2):
        with on_backend("onednn"), registry.record() as seen:
            dx = kernels.conv_input_grad(spec, dy, kernel)
            dkernel, dbias = kernels.conv_kernel_grad(spec, x, dy)
        assert seen == [("input_grad", "onednn"), ("kernel_grad", "onednn")]
        with on_backend("numpy"):
            assert_same(dx, kernels.conv_input_grad(spec, dy, kernel), f"dx, step {step}")
            expected_dkernel, expected_dbias = kernels.conv_kernel_grad(spec, x, dy)
        assert_same(dkernel, expected_dkernel, f"dkernel, step {step}")
        assert_same(dbias, expected_dbias, f"dbias, step {step}")
        kernel[..., 0, :] += 1.0  # in place, as an optimizer does
    made = {key[0]: p for key, p in binding._cache.items() if key[1] == spec}
    onednn.clear_cache()
    if made["input_grad"].packing is None and made["kernel_grad"].unpacking is None:
        pytest.skip("the backward primitives prefer Keras's own kernel layout here")


def test_reference_implementations_are_refused():
    """A depthwise conv stored channels_first gets only oneDNN's reference loops
    (``ref:any``, 10x to 35x slower than numpy here): numpy runs it, with the
    same numbers."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 32, 20, 20)).astype(np.float32)
    layer = layers.DepthwiseConv2D(3, padding="same", data_format="channels_first")
    with on_backend("onednn"), registry.record() as seen:
        y = layer(x, training=True)
        dx = layer.backward(np.ones_like(y))
    refused = [p for key, p in binding._cache.items() if not isinstance(p, binding.Refusal) and binding.is_reference(p)]
    assert not refused
    assert seen and all(name != "onednn" for _, name in seen), seen
    with on_backend("numpy"):
        assert_same(y, layer(x, training=True), "y")
        assert_same(dx, layer.backward(np.ones_like(y)), "dx")


def test_tiny_calls_run_on_one_thread_and_put_the_count_back():
    library, _ = L.load()
    if library.gomp is None:
        pytest.skip("no GNU OpenMP runtime found")
    x = np.ones((1, 5, 5, 1), np.float32)
    with on_backend("onednn"), registry.set_algorithm("onednn"):
        layers.Conv2D(1, 3)(x)
    (primitive,) = [p for key, p in binding._cache.items() if key[0] == "forward" and key[1].x_shape == x.shape][:1]
    assert primitive.threads == 1
    assert library.gomp.omp_get_max_threads() == library.threads
