"""npconv against TensorFlow, PyTorch, JAX and ONNX Runtime, side by side.

    python -m npconv.bench                  # the full suite: BENCHMARKS.md, benchmarks/bench.png, benchmarks/results.json
    python -m npconv.bench --quick          # tiny shapes, a few seconds (what the smoke test runs)
    python -m npconv.bench --cases resnet --peers torch,tf

Every library computes the same function (conv + bias, then for the training
step the gradients of ``sum(y * dy)`` with respect to x, kernel and bias) on
the same float32 data; each peer's result is checked against npconv's before
it is timed. Timings are interleaved: every repeat round runs each library
once, in a rotating order, so background load hits them alike; the table shows
medians after warm-up. Peers are imported only here, never by ``npconv``.

Peer settings: torch runs 2 threads (``torch.set_num_threads(2)``, set here
only); TensorFlow, XLA, ONNX Runtime and OpenBLAS use their defaults (all
cores). npconv sets no thread count: it uses what NumPy's BLAS uses.

The "digits epoch" case (issue 3, in ``npconv.bench_fit``) times one epoch of
``model.fit`` of the digits example CNN against Keras 3 on TensorFlow, PyTorch
and JAX; ``--cases digits`` runs it alone.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field

import numpy as np

PEERS = ("tf", "torch", "jax", "ort")
LABELS = {
    "npconv": "npconv",
    "tf": "TF (tf.nn, tf.function)",
    "torch": "torch NCHW",
    "torch_cl": "torch channels_last",
    "jax": "JAX (jit)",
    "ort": "ONNX Runtime",
}
SHORT = {"npconv": "npconv", "tf": "TF", "torch": "torch", "torch_cl": "torch CL", "jax": "JAX", "ort": "ORT"}
_MODULES = {"tf": "tensorflow", "torch": "torch", "jax": "jax", "ort": "onnxruntime"}


# --------------------------------------------------------------------------
# the suite
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One benchmark case, Keras layouts: x (batch, *spatial, cin)."""

    name: str
    kind: str  # "conv" | "depthwise" | "transpose"
    batch: int
    spatial: tuple
    kernel_size: tuple
    strides: tuple
    cin: int
    cout: int
    padding: str
    dilation: tuple = None
    latency: bool = False

    @property
    def rank(self):
        return len(self.spatial)

    @property
    def dilation_rate(self):
        return self.dilation or (1,) * self.rank

    def kernel_shape(self):
        if self.kind == "conv":
            return (*self.kernel_size, self.cin, self.cout)
        if self.kind == "depthwise":
            return (*self.kernel_size, self.cin, self.cout // self.cin)
        return (*self.kernel_size, self.cout, self.cin)


def _case(name, kind, batch, spatial, k, s, cin, cout, padding, d=1, latency=False):
    rank = len(spatial)
    tup = lambda v: tuple(v) if isinstance(v, tuple) else (v,) * rank  # noqa: E731
    return Case(name, kind, batch, tuple(spatial), tup(k), tup(s), cin, cout, padding, tup(d), latency)


SUITE = [
    _case("resnet 3x3", "conv", 8, (56, 56), 3, 1, 64, 64, "same"),
    _case("downsample 3x3", "conv", 8, (56, 56), 3, 2, 64, 128, "same"),
    _case("bottleneck 1x1", "conv", 8, (28, 28), 1, 1, 256, 64, "valid"),
    _case("stem 7x7", "conv", 8, (224, 224), 7, 2, 3, 64, "same"),
    _case("decoder transposed", "transpose", 8, (28, 28), 4, 2, 128, 64, "same"),
    _case("depthwise 3x3", "depthwise", 8, (56, 56), 3, 1, 128, 128, "same"),
    _case("dilated 3x3", "conv", 8, (64, 64), 3, 1, 64, 64, "same", d=2),
    _case("conv1d audio", "conv", 16, (16000,), 9, 1, 32, 32, "same"),
    _case("article 5x5", "conv", 1, (5, 5), 3, 1, 1, 1, "valid", latency=True),
]

QUICK = [
    _case("resnet 3x3", "conv", 2, (10, 10), 3, 1, 8, 8, "same"),
    _case("downsample 3x3", "conv", 2, (10, 10), 3, 2, 8, 16, "same"),
    _case("bottleneck 1x1", "conv", 2, (6, 6), 1, 1, 16, 8, "valid"),
    _case("stem 7x7", "conv", 2, (20, 20), 7, 2, 3, 8, "same"),
    _case("decoder transposed", "transpose", 2, (6, 6), 4, 2, 8, 4, "same"),
    _case("depthwise 3x3", "depthwise", 2, (10, 10), 3, 1, 8, 8, "same"),
    _case("dilated 3x3", "conv", 2, (12, 12), 3, 1, 8, 8, "same", d=2),
    _case("conv1d audio", "conv", 2, (200,), 9, 1, 4, 4, "same"),
    _case("article 5x5", "conv", 1, (5, 5), 3, 1, 1, 1, "valid", latency=True),
]


@dataclass
class Data:
    x: np.ndarray
    kernel: np.ndarray
    bias: np.ndarray
    dy: np.ndarray
    expected: dict = field(default_factory=dict)  # npconv's y, dx, dkernel, dbias


def output_shape(case: Case) -> tuple:
    from npconv.ops import convolution as C

    if case.kind == "transpose":
        size = C.conv_transpose_output_size(
            case.spatial, case.kernel_size, case.strides, case.padding, None, case.dilation_rate
        )
    else:
        size = C.conv_output_size(case.spatial, case.kernel_size, case.strides, case.padding, case.dilation_rate)
    return (case.batch, *size, case.cout)


def make_data(case: Case, seed: int = 0) -> Data:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case.batch, *case.spatial, case.cin), dtype=np.float32)
    fan_in = case.cin * int(np.prod(case.kernel_size))
    kernel = (rng.standard_normal(case.kernel_shape(), dtype=np.float32) / np.float32(np.sqrt(fan_in))).astype(
        np.float32
    )
    bias = rng.standard_normal(case.cout, dtype=np.float32)
    dy = rng.standard_normal(output_shape(case), dtype=np.float32)
    return Data(x, kernel, bias, dy)


def flops(case: Case, out_shape) -> float:
    """Multiply-adds x 2 of the forward pass (the training step counts 3 of them)."""
    taps = int(np.prod(case.kernel_size))
    if case.kind == "transpose":
        return 2.0 * case.batch * np.prod(case.spatial) * case.cin * taps * case.cout
    per_output = taps * (1 if case.kind == "depthwise" else case.cin)
    return 2.0 * np.prod(out_shape) * per_output


# --------------------------------------------------------------------------
# npconv
# --------------------------------------------------------------------------
def _npconv_fns(case: Case):
    """(forward(x, kernel, bias) -> y, train(x, kernel, bias, dy) -> (y, dx, dkernel, dbias))."""
    from npconv.ops import convolution as C
    from npconv.ops import kernels

    s, p, d = case.strides, case.padding, case.dilation_rate
    # The training step is what a layer does in training: the forward may keep
    # what the backward reuses (Conv's im2col columns, when they fit one block).
    if case.kind == "conv":
        op = lambda x, k, b, keep=None: C.conv_nd(x, k, s, p, d, keep=keep, bias=b)  # noqa: E731
        grad = lambda x, k, dy, kept: C.conv_nd_backward(x, k, dy, s, p, d, kept=kept, bias=True)  # noqa: E731
    elif case.kind == "depthwise":
        op = lambda x, k, b, keep=None: C.depthwise_conv_nd(x, k, s, p, d, bias=b)  # noqa: E731
        grad = lambda x, k, dy, kept: C.depthwise_conv_nd_backward(x, k, dy, s, p, d, bias=True)  # noqa: E731
    else:
        op = lambda x, k, b, keep=None: C.conv_transpose_nd(x, k, s, p, None, d) + b  # noqa: E731
        grad = lambda x, k, dy, kept: (*C.conv_transpose_nd_backward(x, k, dy, s, p, None, d), None)  # noqa: E731

    def forward(x, kernel, bias, keep=None):
        return op(x, kernel, bias, keep)

    def train(x, kernel, bias, dy):
        kept = {}
        y = forward(x, kernel, bias, kept)
        dx, dkernel, dbias = grad(x, kernel, dy, kept)
        return y, dx, dkernel, kernels.bias_grad(dy) if dbias is None else dbias

    return forward, train


def build_npconv(case, data):
    forward, train = _npconv_fns(case)
    x, k, b, dy = data.x, data.kernel, data.bias, data.dy
    return {
        "forward": lambda: forward(x, k, b),
        "train": lambda: train(x, k, b, dy),
        "check_forward": lambda: forward(x, k, b),
        "check_train": lambda: train(x, k, b, dy),
    }


def _pads(case):
    from npconv.ops import convolution as C

    if case.kind == "transpose":
        return C.conv_transpose_pads(
            case.spatial, case.kernel_size, case.strides, case.padding, None, case.dilation_rate
        )
    return C.conv_pads(case.spatial, case.kernel_size, case.strides, case.padding, case.dilation_rate)


# --------------------------------------------------------------------------
# TensorFlow
# --------------------------------------------------------------------------
def build_tf(case, data):
    import tensorflow as tf

    x, k, b, dy = (tf.constant(a) for a in (data.x, data.kernel, data.bias, data.dy))
    s, d, pad = list(case.strides), list(case.dilation_rate), case.padding.upper()
    if case.kind == "conv":

        def op(x, k):
            return tf.nn.convolution(x, k, strides=s, padding=pad, dilations=d)

    elif case.kind == "depthwise":

        def op(x, k):
            return tf.nn.depthwise_conv2d(x, k, strides=[1, *s, 1], padding=pad, dilations=d)

    else:
        out_shape = data.dy.shape

        def op(x, k):
            return tf.nn.conv_transpose(x, k, out_shape, strides=s, padding=pad, dilations=d)

    @tf.function
    def forward(x, k, b):
        return tf.nn.bias_add(op(x, k), b)

    @tf.function
    def train(x, k, b, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, k, b])
            y = tf.nn.bias_add(op(x, k), b)
        return (y, *tape.gradient(y, [x, k, b], output_gradients=dy))

    return {
        "forward": lambda: forward(x, k, b),
        "train": lambda: train(x, k, b, dy),
        "check_forward": lambda: forward(x, k, b).numpy(),
        "check_train": lambda: [t.numpy() for t in train(x, k, b, dy)],
    }


# --------------------------------------------------------------------------
# PyTorch (NCHW and channels_last)
# --------------------------------------------------------------------------
def _to_torch_kernel(case, kernel):
    r = case.rank
    if case.kind == "conv":  # (*k, in, out) -> (out, in, *k)
        return np.ascontiguousarray(kernel.transpose(r + 1, r, *range(r)))
    if case.kind == "depthwise":  # (*k, C, m) -> (C*m, 1, *k)
        w = kernel.reshape(*case.kernel_size, 1, -1)
        return np.ascontiguousarray(w.transpose(r + 1, r, *range(r)))
    return np.ascontiguousarray(kernel.transpose(r + 1, r, *range(r)))  # (*k, out, in) -> (in, out, *k)


def _from_torch_kernel(case, w):
    r = case.rank
    back = w.transpose(*range(2, 2 + r), 1, 0)
    return back.reshape(case.kernel_shape())


def build_torch(case, data, channels_last=False):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    r = case.rank
    if channels_last and r != 2:
        raise NotImplementedError("channels_last is a 4-d (2-D conv) layout in torch")
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def tensor(a, grad=False):
        t = torch.from_numpy(np.ascontiguousarray(a))
        if t.dim() == 4:
            t = t.contiguous(memory_format=fmt)
        return t.requires_grad_(grad)

    to_nc = lambda a: np.moveaxis(a, -1, 1)  # noqa: E731
    x, k, b, dy = (
        tensor(to_nc(data.x)),
        tensor(_to_torch_kernel(case, data.kernel)),
        tensor(data.bias),
        tensor(to_nc(data.dy)),
    )
    xg, kg, bg = tensor(to_nc(data.x), True), tensor(_to_torch_kernel(case, data.kernel), True), tensor(data.bias, True)
    pads = _pads(case)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[r]
    if case.kind == "transpose":
        k_eff = [(kk - 1) * dd + 1 for kk, dd in zip(case.kernel_size, case.dilation_rate)]
        crop = [ke - 1 - before for ke, (before, _) in zip(k_eff, pads)]
        extra = [after - before for before, after in pads]
        if min(crop) < 0 or any(not 0 <= e < max(s, dd) for e, s, dd in zip(extra, case.strides, case.dilation_rate)):
            raise NotImplementedError("padding not expressible in torch")
        tconv = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[r]

        def op(x, k, b):
            return tconv(x, k, b, stride=case.strides, padding=crop, output_padding=extra, dilation=case.dilation_rate)

    else:
        groups = case.cin if case.kind == "depthwise" else 1
        symmetric = all(before == after for before, after in pads)
        flat = [p for before, after in reversed(pads) for p in (before, after)]

        def op(x, k, b):
            if not symmetric:
                x = F.pad(x, flat)
            padding = [before for before, _ in pads] if symmetric else 0
            return conv(x, k, b, stride=case.strides, padding=padding, dilation=case.dilation_rate, groups=groups)

    def train():
        y = op(xg, kg, bg)
        return (y, *torch.autograd.grad(y, (xg, kg, bg), dy))

    def check_train():
        y, dx, dk, db = (t.detach().numpy() for t in train())
        return np.moveaxis(y, 1, -1), np.moveaxis(dx, 1, -1), _from_torch_kernel(case, dk), db

    return {
        "forward": lambda: op(x, k, b),
        "train": train,
        "check_forward": lambda: np.moveaxis(op(x, k, b).numpy(), 1, -1),
        "check_train": check_train,
    }


# --------------------------------------------------------------------------
# JAX
# --------------------------------------------------------------------------
def build_jax(case, data):
    import jax
    import jax.numpy as jnp
    from jax import lax

    specs = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}[case.rank]
    pads = [tuple(p) for p in _pads(case)]
    s, d = case.strides, case.dilation_rate
    if case.kind == "conv":

        def op(x, k):
            return lax.conv_general_dilated(x, k, s, pads, rhs_dilation=d, dimension_numbers=specs)

    elif case.kind == "depthwise":

        def op(x, k):
            w = k.reshape(*case.kernel_size, 1, -1)
            return lax.conv_general_dilated(
                x, w, s, pads, rhs_dilation=d, dimension_numbers=specs, feature_group_count=case.cin
            )

    else:
        spatial = tuple(range(case.rank))

        def op(x, k):
            w = jnp.flip(k, spatial).swapaxes(-1, -2)
            return lax.conv_general_dilated(
                x, w, (1,) * case.rank, pads, lhs_dilation=s, rhs_dilation=d, dimension_numbers=specs
            )

    def f(x, k, b):
        return op(x, k) + b

    forward = jax.jit(f)

    @jax.jit
    def train(x, k, b, dy):
        y, vjp = jax.vjp(f, x, k, b)
        return (y, *vjp(dy))

    x, k, b, dy = (jnp.asarray(a) for a in (data.x, data.kernel, data.bias, data.dy))
    return {
        "forward": lambda: forward(x, k, b).block_until_ready(),
        "train": lambda: jax.block_until_ready(train(x, k, b, dy)),
        "check_forward": lambda: np.asarray(forward(x, k, b)),
        "check_train": lambda: [np.asarray(t) for t in train(x, k, b, dy)],
    }


# --------------------------------------------------------------------------
# ONNX Runtime (inference only)
# --------------------------------------------------------------------------
def _onnx_model(case, data):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    pads = _pads(case)
    k_eff = [(kk - 1) * dd + 1 for kk, dd in zip(case.kernel_size, case.dilation_rate)]
    attrs = {
        "kernel_shape": list(case.kernel_size),
        "strides": list(case.strides),
        "dilations": list(case.dilation_rate),
    }
    if case.kind == "transpose":
        crop = [(ke - 1 - before, ke - 1 - after) for ke, (before, after) in zip(k_eff, pads)]
        if min(min(c) for c in crop) < 0:
            raise NotImplementedError("padding not expressible in ONNX")
        attrs["pads"] = [c[0] for c in crop] + [c[1] for c in crop]
        op_type = "ConvTranspose"
    else:
        attrs["pads"] = [p[0] for p in pads] + [p[1] for p in pads]
        attrs["group"] = case.cin if case.kind == "depthwise" else 1
        op_type = "Conv"
    y_shape = np.moveaxis(data.dy, -1, 1).shape
    graph = helper.make_graph(
        [helper.make_node(op_type, ["X", "W", "B"], ["Y"], **attrs)],
        "conv",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(np.moveaxis(data.x, -1, 1).shape))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list(y_shape))],
        [numpy_helper.from_array(_to_torch_kernel(case, data.kernel), "W"), numpy_helper.from_array(data.bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


def build_ort(case, data, arena=True):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = arena
    options.log_severity_level = 3
    session = ort.InferenceSession(_onnx_model(case, data), options, providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(np.moveaxis(data.x, -1, 1))
    feed = {"X": x}
    return {
        "forward": lambda: session.run(None, feed),
        "check_forward": lambda: np.moveaxis(session.run(None, feed)[0], 1, -1),
    }


BUILDERS = {
    "npconv": build_npconv,
    "tf": build_tf,
    "torch": build_torch,
    "torch_cl": lambda case, data: build_torch(case, data, channels_last=True),
    "jax": build_jax,
    "ort": build_ort,
}


# --------------------------------------------------------------------------
# measuring: one worker process per library, driven in turn by the parent
# --------------------------------------------------------------------------
def available_peers(requested=PEERS):
    return [name for name in requested if importlib.util.find_spec(_MODULES[name]) is not None]


def _close(actual, expected, rtol):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return f"shape {actual.shape} != {expected.shape}"
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    error = float(np.max(np.abs(actual - expected), initial=0.0)) / scale
    return None if error <= rtol else f"max error {error:.2e} of max |value|"


def compare(outputs, expected, mode, rtol=2e-3):
    """None when a peer's outputs agree with npconv's, else a message."""
    names = ("y",) if mode == "forward" else ("y", "dx", "dkernel", "dbias")
    for name, actual in zip(names, outputs):
        problem = _close(actual, expected[name], rtol)
        if problem:
            return f"{name}: {problem}"
    return None


def _status():
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                key, value = line.split(":")
                values[key] = int(value.split()[0]) * 1024
    return values


def rss_extra(fn):
    """Peak resident bytes above the resident size before one call of fn, or None.

    Linux only: glibc first returns its free pages to the OS (malloc_trim), the
    high-water mark is reset through /proc/self/clear_refs, and VmHWM is read
    after the call, so every page the call touches anew counts.
    """
    try:
        gc.collect()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        base = _status()["VmRSS"]
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        result = fn()
        peak = _status()["VmHWM"]
        del result
        return max(peak - base, 0)
    except (OSError, KeyError):
        return None


def traced_extra(fn):
    """Peak bytes NumPy (and Python) allocated during one call of fn, outputs included."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return peak - base


def npconv_algorithms(case, data):
    """The algorithm npconv's dispatcher picks for each kernel of this case."""
    try:
        from npconv.ops import registry as dispatch
    except ImportError:
        return {}
    forward, train = _npconv_fns(case)
    with dispatch.record() as seen:
        forward(data.x, data.kernel, data.bias)
    fwd = ", ".join(algo for _, algo in seen)
    with dispatch.record() as seen:
        train(data.x, data.kernel, data.bias, data.dy)
    return {"forward": fwd, "train": ", ".join(f"{op}: {algo}" for op, algo in seen)}


def _worker(conn):
    """Serve the libraries of one process: build runners, run and time them on request."""
    states = {}
    while True:
        command, lib, *args = conn.recv()
        if command == "stop":
            conn.close()
            return
        try:
            reply = _serve(lib, states.setdefault(lib, {}), command, *args)
            conn.send(("ok", reply))
        except Exception as error:  # reported, not fatal: the peer is skipped for this case
            conn.send(("error", f"{type(error).__name__}: {error}".splitlines()[0][:200]))


def _serve(lib, state, command, *args):
    if command.startswith("fit_"):  # the digits epoch case
        from . import bench_fit

        return bench_fit.serve(lib, state, command, *args)
    if command == "setup":
        case, data = args
        state.clear()
        state.update(case=case, data=data, runner=BUILDERS[lib](case, data))
        return sorted(mode for mode in ("forward", "train") if mode in state["runner"])
    runner = state.get("runner")
    if command == "check":
        (mode,) = args
        outputs = runner[f"check_{mode}"]()
        return [np.asarray(a) for a in (outputs if mode == "train" else [outputs])]
    if command == "warmup":
        mode, calls = args
        for _ in range(calls):
            runner[mode]()
        return None
    if command == "time":
        mode, inner, count, gap = args
        fn = runner[mode]
        time.sleep(gap)  # let the previous library's spinning threads go to sleep
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times.append((time.perf_counter() - t0) / inner)
        return times
    if command == "memory":
        (mode,) = args
        fn = runner[mode]
        if lib == "ort":  # its arena keeps freed memory: measure a session without one
            fn = build_ort(state["case"], state["data"], arena=False)["forward"]
            fn()
        traced = traced_extra(fn) if lib == "npconv" else None
        return rss_extra(fn), traced
    if command == "algorithms":
        return npconv_algorithms(state["case"], state["data"])
    if command == "extras":
        (quick,) = args
        time.sleep(0 if quick else 2.0)  # let every library's threads go idle first
        return {"layer_call": layer_call_time(quick), "import": import_times(2 if quick else 7)}
    raise ValueError(f"unknown command {command!r}")


_PROCESS = {"torch_cl": "torch"}  # libraries that share a process


class Pool:
    """One worker process per library, so that no library's thread pool
    competes with another's inside one process. Calls go one at a time."""

    def __init__(self, libs):
        import multiprocessing as mp

        context = mp.get_context("spawn")
        self.conns, self.procs = {}, {}
        for key in dict.fromkeys(_PROCESS.get(lib, lib) for lib in libs):
            parent, child = context.Pipe()
            proc = context.Process(target=_worker, args=(child,), daemon=True)
            proc.start()
            self.conns[key], self.procs[key] = parent, proc

    def call(self, command, lib, *args):
        conn = self.conns[_PROCESS.get(lib, lib)]
        conn.send((command, lib, *args))
        status, reply = conn.recv()
        if status == "error":
            raise RuntimeError(reply)
        return reply

    def close(self):
        for key, conn in self.conns.items():
            try:
                conn.send(("stop", None))
            except (BrokenPipeError, OSError):
                pass
            self.procs[key].join(timeout=10)
            if self.procs[key].is_alive():
                self.procs[key].terminate()


def run_case(pool, case, libs, modes=("forward", "train"), budget_s=2.0, memory=True, gap=0.02, quick=False, log=print):
    """Check every library against npconv, then time them interleaved: each
    round runs every library once, in a rotating order. Returns a result dict."""
    data = make_data(case)
    out = {"case": dict(case.__dict__), "gflop": flops(case, data.dy.shape) / 1e9, "modes": {}, "errors": {}}
    ready = {}
    for lib in libs:
        try:
            ready[lib] = pool.call("setup", lib, case, data)
        except RuntimeError as error:
            out["errors"][lib] = str(error)
    if "npconv" not in ready:
        raise RuntimeError(f"npconv failed on {case.name}: {out['errors'].get('npconv')}")
    y, dx, dkernel, dbias = pool.call("check", "npconv", "train")
    data.expected = {"y": y, "dx": dx, "dkernel": dkernel, "dbias": dbias}
    out["algorithms"] = pool.call("algorithms", "npconv")
    inner, count = (20, 5) if case.latency else (1, 1)
    reps = (20, 80) if case.latency else (5, 40)
    if quick:
        inner, count, reps = min(inner, 5), 1, (2, 3)
    for mode in modes:
        libs_here = []
        for lib, lib_modes in ready.items():
            if mode not in lib_modes:
                continue
            try:
                problem = None if lib == "npconv" else compare(pool.call("check", lib, mode), data.expected, mode)
                pool.call("warmup", lib, mode, 2 * inner)
            except RuntimeError as error:
                problem = str(error)
            if problem:
                out["errors"][f"{lib} {mode}"] = problem
                log(f"  {lib} {mode}: skipped ({problem})")
                continue
            libs_here.append(lib)
        times = {lib: [] for lib in libs_here}
        start, rounds = time.perf_counter(), 0
        while rounds < reps[1] and (rounds < reps[0] or time.perf_counter() - start < budget_s):
            shift = rounds % len(libs_here)
            for lib in libs_here[shift:] + libs_here[:shift]:
                times[lib] += pool.call("time", lib, mode, inner, count, gap)
            rounds += 1
        entry = {
            "time": {lib: statistics.median(t) for lib, t in times.items()},
            "rounds": rounds,
            "memory": {},
            "traced": None,
        }
        if memory:
            for lib in libs_here:
                rss, traced = pool.call("memory", lib, mode)
                entry["memory"][lib] = rss
                if lib == "npconv":
                    entry["traced"] = traced
        out["modes"][mode] = entry
    return out


# --------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------
def machine_line():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        flags = "AVX-512" if "avx512f" in text else ("AVX2" if "avx2" in text else "")
    except OSError:
        pass
    blas = "?"
    try:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{config.get('name')} {config.get('version')}"
    except Exception:
        pass
    versions = [f"numpy {np.__version__} ({blas})"]
    from importlib import metadata

    for dist in ("tensorflow-cpu", "tensorflow", "keras", "torch", "jax", "jaxlib", "onnxruntime"):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"{cpu}, {os.cpu_count()} cores {flags}; Python {platform.python_version()}; "
        + "; ".join(versions)
        + f"; load average at the end {load}"
    )


def import_times(repeats=5):
    """Median wall seconds of a fresh ``python -c 'import numpy'`` and
    ``'import npconv'``, interleaved, with compiled bytecode cached as an
    installed package has it (a first run writes it)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def run(code):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *code], check=True, capture_output=True, env=env)
        return time.perf_counter() - t0

    commands = {"numpy": ["-c", "import numpy"], "npconv": ["-c", "import npconv"], "python -S": ["-S", "-c", "pass"]}
    for code in commands.values():
        run(code)
    runs = {name: [] for name in commands}
    for _ in range(repeats):
        for name, code in commands.items():
            runs[name].append(run(code))
    return {name: statistics.median(r) for name, r in runs.items()}


def layer_call_time(quick=False):
    """Median seconds of one call of the article's Conv2D layer on a 1x5x5x1 input."""
    from npconv import layers

    layer = layers.Conv2D(1, 3)
    x = np.ones((1, 5, 5, 1), dtype=np.float32)
    samples = []
    for _ in range(50):
        layer(x)
    for _ in range(10 if quick else 200):
        t0 = time.perf_counter()
        for _ in range(20):
            layer(x)
        samples.append((time.perf_counter() - t0) / 20)
    return statistics.median(samples)


def _fmt_ms(seconds):
    ms = seconds * 1e3
    if ms < 0.1:
        return f"{ms * 1e3:.1f} µs"
    return f"{ms:.3g} ms" if ms < 100 else f"{ms:.0f} ms"


def _fmt_mb(value):
    if value is None:
        return "n/a"
    return f"{value / 2**20:.1f}"


def best_peer(times):
    peers = {lib: t for lib, t in times.items() if lib != "npconv"}
    if not peers:
        return None, None
    lib = min(peers, key=peers.get)
    return lib, peers[lib]


def table(results, mode, libs):
    cols = [lib for lib in libs if any(lib in r["modes"].get(mode, {}).get("time", {}) for r in results)]
    head = (
        ["case", "npconv", "GFLOP/s"] + [SHORT[lib] for lib in cols if lib != "npconv"] + ["best peer", "npconv / best"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        entry = r["modes"].get(mode)
        if entry is None:
            continue
        times = entry["time"]
        gflop = r["gflop"] * (3 if mode == "train" else 1)
        npt = times.get("npconv")
        row = [r["case"]["name"], _fmt_ms(npt) if npt else "-", f"{gflop / npt:.3g}" if npt else "-"]
        for lib in cols:
            if lib == "npconv":
                continue
            row.append(_fmt_ms(times[lib]) if lib in times else "-")
        lib, t = best_peer(times)
        row.append(f"{SHORT[lib]} {_fmt_ms(t)}" if lib else "-")
        ratio = f"{npt / t:.2f}" if lib and npt else "-"
        row.append(f"**{ratio}**" if lib and npt and npt <= t else ratio)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def memory_table(results, libs, mode):
    cols = [lib for lib in libs if any(lib in r["modes"].get(mode, {}).get("memory", {}) for r in results)]
    head = ["case", "npconv (tracemalloc)"] + [f"{SHORT[lib]} (RSS)" for lib in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        entry = r["modes"].get(mode)
        if entry is None:
            continue
        row = [r["case"]["name"], _fmt_mb(entry["traced"])]
        row += [_fmt_mb(entry["memory"].get(lib)) for lib in cols]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


STRIDE1_3X3 = ("resnet 3x3", "dilated 3x3", "depthwise 3x3")


def _ratios(results, mode):
    out = {}
    for r in results:
        times = r["modes"].get(mode, {}).get("time", {})
        _, best = best_peer(times)
        if best and "npconv" in times:
            out[r["case"]["name"]] = times["npconv"] / best
    return out


def targets(results, extras):
    """Issue 5's targets, met or missed, from this run's numbers."""
    lines = ["| target | this run | met |", "|---|---|---|"]

    def row(name, value, met):
        lines.append(f"| {name} | {value} | {'yes' if met else '**no**'} |")

    for mode, label in (
        ("forward", "forward <= 1.0 x best peer, every case"),
        ("train", "training step <= 1.0 x best peer, every case"),
    ):
        ratios = _ratios(results, mode)
        if ratios:
            worst = max(ratios, key=ratios.get)
            over = sum(v > 1.0 for v in ratios.values())
            row(label, f"{len(ratios) - over}/{len(ratios)} cases met; worst {worst} {ratios[worst]:.2f}", not over)
    for mode in ("forward", "train"):
        ratios = {k: v for k, v in _ratios(results, mode).items() if k in STRIDE1_3X3}
        if ratios:
            shown = ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
            row(f"3x3 stride-1 {mode} <= 0.8", shown, all(v <= 0.8 for v in ratios.values()))
    if "layer_call" in extras:
        us = extras["layer_call"] * 1e6
        row("the article's layer call < 20 µs", f"{us:.1f} µs", us < 20)
    if "import" in extras:
        ratio = extras["import"]["npconv"] / extras["import"]["numpy"]
        row("`import npconv` <= 1.5 x `import numpy`", f"{ratio:.2f}x", ratio <= 1.5)
    return "\n".join(lines)


def markdown(results, libs, command, extras, digits=None):
    """The report; the conv sections only when conv cases ran, the digits section when it did."""
    parts = [
        "# Benchmarks",
        "",
        "Regenerate with:",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Machine: {machine_line()}",
        "",
    ]
    if results:
        parts += [
            "Medians after warm-up, float32, channels_last for npconv (each peer in its own layout:",
            "TF and JAX NHWC, torch NCHW and channels_last, ONNX Runtime NCHW). Timings are interleaved",
            "(every repeat round runs each library once), so background load hits all of them alike;",
            "on a shared machine compare the ratios, not the absolute times. GFLOP/s counts 2 x the",
            "multiply-adds of the direct method (3 convolutions for the training step), whatever",
            "algorithm ran. Ratios at or below 1.0 are bold.",
            "",
        ]
    if results or extras:
        parts += ["## Targets (issue 5)", "", targets(results, extras), ""]
    if results:
        parts += [
            "## Forward (conv + bias)",
            "",
            table(results, "forward", libs),
            "",
            "## Training step (forward, then dx, dkernel and dbias)",
            "",
            "ONNX Runtime is inference only here. Peers differentiate with their own autodiff",
            "(tf.GradientTape in a tf.function, torch.autograd.grad, jax.vjp under jit); npconv calls",
            "`npconv.ops.convolution`'s `*_backward` functions.",
            "",
            table(results, "train", libs),
            "",
            "## Algorithms npconv picked",
            "",
            "| case | forward | training step |",
            "|---|---|---|",
        ]
        for r in results:
            algos = r.get("algorithms") or {}
            parts.append(f"| {r['case']['name']} | {algos.get('forward', '-')} | {algos.get('train', '-')} |")
        parts += [
            "",
            "## Peak extra memory per call (MiB, outputs included)",
            "",
            "npconv: `tracemalloc` peak during one call (every NumPy buffer is traced). All libraries,",
            "npconv included: the growth of the resident set's high-water mark over the resident size",
            "before the call (Linux `VmHWM`, reset through `/proc/self/clear_refs`, after `malloc_trim`",
            "has returned glibc's free pages), each library in its own process; ONNX Runtime measured",
            "with its memory arena off. Allocator caches that keep freed memory mapped (XLA's buffers,",
            "oneDNN's scratchpads) make the peers' RSS figures lower bounds.",
            "",
            "### Forward",
            "",
            memory_table(results, libs, "forward"),
            "",
            "### Training step",
            "",
            memory_table(results, libs, "train"),
            "",
        ]
    if digits:
        from . import bench_fit

        parts += bench_fit.markdown_lines(digits)
    errors = [(r["case"]["name"], lib, msg) for r in results for lib, msg in r["errors"].items()]
    if errors:
        parts += ["## Not measured", ""]
        parts += [f"- {name}, {lib}: {msg}" for name, lib, msg in errors]
        parts.append("")
    if extras:
        parts += ["## Latency and import", ""]
        if "layer_call" in extras:
            parts.append(
                f"- The article's layer (`Conv2D(1, 3)` on a 1x5x5x1 input), one call: {extras['layer_call'] * 1e6:.1f} µs (target < 20 µs)."
            )
        if "import" in extras:
            imp = extras["import"]
            ratio = imp["npconv"] / imp["numpy"]
            parts.append(
                f"- `python -c 'import npconv'` {imp['npconv'] * 1e3:.0f} ms vs `python -c 'import numpy'` "
                f"{imp['numpy'] * 1e3:.0f} ms: {ratio:.2f}x (target <= 1.5x; bare `python -S` start {imp['python -S'] * 1e3:.0f} ms)."
            )
        parts.append("")
    return "\n".join(parts)


def chart(results, libs, path, digits=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in ("forward", "train") if any(m in r["modes"] for r in results)]
    panels = len(modes) + bool(digits)
    fig, axes = plt.subplots(panels, 1, figsize=(12, 4.2 * panels), squeeze=False)
    if digits:
        from . import bench_fit

        bench_fit.plot(axes[-1, 0], digits)
    for ax, mode in zip(axes[:, 0], modes):
        rows = [r for r in results if mode in r["modes"]]
        cols = [lib for lib in libs if any(lib in r["modes"][mode]["time"] for r in rows)]
        width = 0.8 / max(len(cols), 1)
        for i, lib in enumerate(cols):
            values = []
            for r in rows:
                times = r["modes"][mode]["time"]
                _, best = best_peer(times)
                base = best or times.get("npconv")
                values.append(times[lib] / base if lib in times and base else np.nan)
            xs = np.arange(len(rows)) + (i - (len(cols) - 1) / 2) * width
            ax.bar(xs, values, width, label=LABELS[lib], color="black" if lib == "npconv" else None)
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_xticks(np.arange(len(rows)))
        ax.set_xticklabels([r["case"]["name"] for r in rows], rotation=20, ha="right")
        ax.set_ylabel("time / best peer's (lower is faster)")
        ax.set_title("training step" if mode == "train" else "forward")
        ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m npconv.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, few repeats: checks the harness in seconds")
    parser.add_argument(
        "--cases",
        default="",
        help="comma-separated substrings of case names to run; 'digits' for the digits epoch (default: all)",
    )
    parser.add_argument(
        "--peers", default=",".join(PEERS), help=f"comma-separated subset of {','.join(PEERS)}, or 'none'"
    )
    parser.add_argument("--modes", default="forward,train", help="forward, train or both")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds of timing per case and mode (digits epoch: 30, at least 3 rounds)",
    )
    parser.add_argument("--markdown", default=None, help="write the report here (full run default: BENCHMARKS.md)")
    parser.add_argument(
        "--chart", default=None, help="write the PNG chart here (full run default: benchmarks/bench.png)"
    )
    parser.add_argument("--json", default=None, help="write raw results as JSON here")
    parser.add_argument(
        "--gap",
        type=float,
        default=None,
        help="seconds each library waits before its timed calls, so the previous library's spinning threads go idle (default 0.25; quick 0)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory pass")
    parser.add_argument("--no-extras", action="store_true", help="skip the layer-call and import timings")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    suite = QUICK if args.quick else SUITE
    wanted = [c.strip().lower() for c in args.cases.split(",") if c.strip()]
    cases = [c for c in suite if not wanted or any(w in c.name.lower() for w in wanted)]
    run_digits = not wanted or any(w in "digits epoch" for w in wanted)
    requested = [] if args.peers.strip() == "none" else [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = sorted(set(requested) - set(PEERS))
    if unknown:
        raise SystemExit(f"Unknown peers {unknown}; choose from {list(PEERS)} or 'none'.")
    peers = available_peers(requested)
    libs = ["npconv"]
    for peer in peers:
        libs += ["torch", "torch_cl"] if peer == "torch" else [peer]
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    budget = args.budget if args.budget is not None else (0.05 if args.quick else 3.0)
    markdown_path = args.markdown or (None if args.quick else "BENCHMARKS.md")
    chart_path = args.chart or (None if args.quick else os.path.join("benchmarks", "bench.png"))
    json_path = args.json or (None if args.quick else os.path.join("benchmarks", "results.json"))
    missing = sorted(set(requested) - set(peers))
    print(f"libraries: {', '.join(libs)}" + (f" (not installed: {', '.join(missing)})" if missing else ""))

    gap = args.gap if args.gap is not None else (0.0 if args.quick else 0.25)

    results, extras, digits = [], {}, None
    pool = Pool(libs if cases else ["npconv"])
    try:
        for case in cases:
            print(f"{case.name} ...", flush=True)
            r = run_case(
                pool,
                case,
                libs,
                modes,
                budget_s=budget,
                memory=not args.no_memory,
                gap=gap,
                quick=args.quick,
            )
            results.append(r)
            for mode, entry in r["modes"].items():
                times = entry["time"]
                _, best = best_peer(times)
                shown = ", ".join(f"{SHORT[k]} {_fmt_ms(v)}" for k, v in times.items())
                ratio = f"  npconv/best {times['npconv'] / best:.2f}" if best and "npconv" in times else ""
                print(f"  {mode:8s} {shown}{ratio}", flush=True)
        if run_digits:
            from . import bench_fit

            print(f"{bench_fit.NAME} ...", flush=True)
            digits = bench_fit.measure(peers, quick=args.quick, budget_s=args.budget, gap=gap)
            print("  " + bench_fit.summary(digits), flush=True)
        if not args.no_extras:
            extras = pool.call("extras", "npconv", args.quick)
            print(f"layer call {extras['layer_call'] * 1e6:.1f} µs; import {extras['import']}")
    finally:
        pool.close()
    argv_text = " ".join(["python -m npconv.bench", *(argv if argv is not None else sys.argv[1:])])
    text = markdown(results, libs, argv_text, extras, digits)
    if markdown_path:
        with open(markdown_path, "w") as f:
            f.write(text)
        print(f"wrote {markdown_path}")
    if chart_path:
        try:
            directory = os.path.dirname(chart_path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            chart(results, libs, chart_path, digits)
            print(f"wrote {chart_path}")
        except ImportError:
            print("matplotlib is not installed: no chart (pip install matplotlib)")
    if json_path:
        directory = os.path.dirname(json_path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(json_path, "w") as f:
            raw = {"results": results, "digits": digits, "extras": extras, "machine": machine_line()}
            json.dump(raw, f, indent=1, default=str)
    if not markdown_path:
        print(text)
    return results


if __name__ == "__main__":
    main()
