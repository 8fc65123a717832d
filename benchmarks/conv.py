"""The conv layer cases: npconv's real layer call and training step against the peers.

Forward: npconv's ``Conv2D(..., activation="relu")(x)`` (or the case's layer:
Conv1D, Conv2DTranspose, DepthwiseConv2D) against conv + bias + ReLU in
TensorFlow (``tf.function``), PyTorch (NCHW and channels_last), JAX (``jit``)
and ONNX Runtime. Training step: npconv's ``model.train_on_batch(x, target)``
of a one-layer model (mean squared error, plain SGD) against the same step
written in each framework (forward, loss, gradients, SGD update of kernel and
bias). Every peer is checked against npconv before it is timed: the forward's
output, and for the training step the loss and the weight updates of one step
from the same weights.
"""

from __future__ import annotations

import ctypes
import gc
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field

import numpy as np

import npconv
from npconv import geometry as G
from npconv import layers
from npconv.ops import record
from npconv.translate import keras_to_torch_weights, torch_to_keras_weights

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
LEARNING_RATE = 0.01
RTOL = 2e-3  # a peer's result against npconv's, relative to the largest |value|


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
    dilation_rate: tuple
    latency: bool = False

    @property
    def rank(self):
        return len(self.spatial)

    @property
    def weight_kind(self):
        """The kernel's kind for ``npconv.translate``'s layout conversions."""
        return {"conv": "conv", "depthwise": "depthwise", "transpose": "conv_transpose"}[self.kind]

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
    _case("stage 3x3", "conv", 8, (28, 28), 3, 1, 128, 128, "same"),
    _case("downsample 3x3", "conv", 8, (56, 56), 3, 2, 64, 128, "same"),
    _case("bottleneck 1x1", "conv", 8, (28, 28), 1, 1, 256, 64, "valid"),
    _case("stem 7x7", "conv", 8, (224, 224), 7, 2, 3, 64, "same"),
    _case("5x5 32x32", "conv", 8, (32, 32), 5, 1, 32, 64, "same"),
    _case("decoder transposed", "transpose", 8, (28, 28), 4, 2, 128, 64, "same"),
    _case("depthwise 3x3", "depthwise", 8, (56, 56), 3, 1, 128, 128, "same"),
    _case("dilated 3x3", "conv", 8, (64, 64), 3, 1, 64, 64, "same", d=2),
    _case("conv1d audio", "conv", 16, (16000,), 9, 1, 32, 32, "same"),
    _case("article 5x5", "conv", 1, (5, 5), 3, 1, 1, 1, "valid", latency=True),
]

QUICK = [
    _case("resnet 3x3", "conv", 2, (10, 10), 3, 1, 8, 8, "same"),
    _case("stage 3x3", "conv", 2, (6, 6), 3, 1, 16, 16, "same"),
    _case("downsample 3x3", "conv", 2, (10, 10), 3, 2, 8, 16, "same"),
    _case("bottleneck 1x1", "conv", 2, (6, 6), 1, 1, 16, 8, "valid"),
    _case("stem 7x7", "conv", 2, (20, 20), 7, 2, 3, 8, "same"),
    _case("5x5 32x32", "conv", 2, (8, 8), 5, 1, 4, 8, "same"),
    _case("decoder transposed", "transpose", 2, (6, 6), 4, 2, 8, 4, "same"),
    _case("depthwise 3x3", "depthwise", 2, (10, 10), 3, 1, 8, 8, "same"),
    _case("dilated 3x3", "conv", 2, (12, 12), 3, 1, 8, 8, "same", d=2),
    _case("conv1d audio", "conv", 2, (200,), 9, 1, 4, 4, "same"),
    _case("article 5x5", "conv", 1, (5, 5), 3, 1, 1, 1, "valid", latency=True),
]

# large convs whose forward GFLOP/s is held against the machine's fp32 peak
PEAK_CASES = ("resnet 3x3", "stage 3x3", "bottleneck 1x1", "5x5 32x32")


@dataclass
class Data:
    x: np.ndarray
    kernel: np.ndarray
    bias: np.ndarray
    target: np.ndarray  # the training step's regression target, shaped as y
    expected: dict = field(default_factory=dict)


def _per_dim(case: Case):
    return zip(case.spatial, case.kernel_size, case.strides, case.dilation_rate)


def pads(case: Case):
    """Per-side zero pads ((before, after), ...) of the conv (for a transposed conv, on its zero-inserted input)."""
    if case.kind == "transpose":
        return [G.conv_transpose_padding(n, k, s, case.padding, None, d) for n, k, s, d in _per_dim(case)]
    return [G.conv_padding(n, k, s, case.padding, d) for n, k, s, d in _per_dim(case)]


def output_shape(case: Case) -> tuple:
    if case.kind == "transpose":
        size = [G.conv_transpose_output_length(n, k, s, case.padding, None, d) for n, k, s, d in _per_dim(case)]
    else:
        size = [G.conv_output_length(n, k, s, case.padding, d) for n, k, s, d in _per_dim(case)]
    return (case.batch, *size, case.cout)


def make_data(case: Case, seed: int = 0) -> Data:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case.batch, *case.spatial, case.cin), dtype=np.float32)
    fan_in = case.cin * int(np.prod(case.kernel_size))
    kernel = rng.standard_normal(case.kernel_shape(), dtype=np.float32) / np.float32(np.sqrt(fan_in))
    bias = rng.standard_normal(case.cout, dtype=np.float32) * np.float32(0.1)
    target = rng.standard_normal(output_shape(case), dtype=np.float32)
    return Data(x, kernel.astype(np.float32), bias, target)


def flops(case: Case) -> float:
    """2 x the multiply-adds of the forward conv's direct method (the training step counts 2: the forward and the kernel gradient)."""
    taps = int(np.prod(case.kernel_size))
    if case.kind == "transpose":
        return 2.0 * case.batch * np.prod(case.spatial) * case.cin * taps * case.cout
    per_output = taps * (1 if case.kind == "depthwise" else case.cin)
    return 2.0 * np.prod(output_shape(case)) * per_output


def _torch_kernel(case, kernel):
    return keras_to_torch_weights(kernel, case.weight_kind)


def _keras_kernel(case, weight):
    return torch_to_keras_weights(weight, case.weight_kind, groups=case.cin if case.kind == "depthwise" else 1)


def _step_result(loss, kernel0, bias0, kernel1, bias1):
    """What the training-step check compares: the loss and one step's weight updates."""
    return [np.float32(loss), np.asarray(kernel0) - np.asarray(kernel1), np.asarray(bias0) - np.asarray(bias1)]


# --------------------------------------------------------------------------
# npconv: the real layer and the real train_on_batch
# --------------------------------------------------------------------------
def npconv_layer(case: Case):
    """The npconv layer of this case, with ReLU."""
    common = {
        "strides": case.strides,
        "padding": case.padding,
        "dilation_rate": case.dilation_rate,
        "activation": "relu",
    }
    if case.kind == "depthwise":
        cls = {1: layers.DepthwiseConv1D, 2: layers.DepthwiseConv2D}[case.rank]
        return cls(case.kernel_size, depth_multiplier=case.cout // case.cin, **common)
    if case.kind == "transpose":
        cls = {1: layers.Conv1DTranspose, 2: layers.Conv2DTranspose, 3: layers.Conv3DTranspose}[case.rank]
    else:
        cls = {1: layers.Conv1D, 2: layers.Conv2D, 3: layers.Conv3D}[case.rank]
    return cls(case.cout, case.kernel_size, **common)


def build_npconv(case, data):
    layer = npconv_layer(case)
    layer(data.x[:1])
    layer.set_weights([data.kernel, data.bias])
    model = npconv.Sequential([npconv.Input(data.x.shape[1:]), npconv_layer(case)])
    model.compile(optimizer=npconv.optimizers.SGD(learning_rate=LEARNING_RATE), loss="mse")
    model.set_weights([data.kernel, data.bias])
    x, target = data.x, data.target

    def check_train():
        loss = model.train_on_batch(x, target)
        kernel, bias = model.get_weights()
        return _step_result(loss, data.kernel, data.bias, kernel, bias)

    return {
        "forward": lambda: layer(x),
        "train": lambda: model.train_on_batch(x, target),
        "check_forward": lambda: np.asarray(layer(x)),
        "check_train": check_train,
    }


def npconv_algorithms(runner):
    """The kernels and algorithms npconv ran for one forward call and one training step."""
    out = {}
    for mode in ("forward", "train"):
        with record() as seen:
            runner[mode]()
        out[mode] = ", ".join(f"{kernel}: {algo}" for kernel, algo in seen)
    return out


# --------------------------------------------------------------------------
# TensorFlow
# --------------------------------------------------------------------------
def build_tf(case, data):
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # one tf.function per case: its retracing warning is expected
    x, k, b, target = (tf.constant(a) for a in (data.x, data.kernel, data.bias, data.target))
    s, d, pad = list(case.strides), list(case.dilation_rate), case.padding.upper()
    if case.kind == "conv":

        def op(x, k):
            return tf.nn.convolution(x, k, strides=s, padding=pad, dilations=d)

    elif case.kind == "depthwise":

        def op(x, k):
            return tf.nn.depthwise_conv2d(x, k, strides=[1, *s, 1], padding=pad, dilations=d)

    else:
        out_shape = data.target.shape

        def op(x, k):
            return tf.nn.conv_transpose(x, k, out_shape, strides=s, padding=pad, dilations=d)

    @tf.function
    def forward(x, k, b):
        return tf.nn.relu(tf.nn.bias_add(op(x, k), b))

    kv, bv = tf.Variable(data.kernel), tf.Variable(data.bias)

    @tf.function
    def step(x, target):
        with tf.GradientTape() as tape:
            y = tf.nn.relu(tf.nn.bias_add(op(x, kv), bv))
            loss = tf.reduce_mean(tf.square(y - target))
        dk, db = tape.gradient(loss, [kv, bv])
        kv.assign_sub(LEARNING_RATE * dk)
        bv.assign_sub(LEARNING_RATE * db)
        return loss

    def check_train():
        loss = step(x, target).numpy()
        return _step_result(loss, data.kernel, data.bias, kv.numpy(), bv.numpy())

    return {
        "forward": lambda: forward(x, k, b),
        "train": lambda: step(x, target),
        "check_forward": lambda: forward(x, k, b).numpy(),
        "check_train": check_train,
    }


# --------------------------------------------------------------------------
# PyTorch (NCHW and channels_last)
# --------------------------------------------------------------------------
def build_torch(case, data, channels_last=False):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    r = case.rank
    if channels_last and r != 2:
        raise NotImplementedError("channels_last is a 4-d (2-D conv) layout in torch")
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def tensor(a, grad=False):
        t = torch.from_numpy(np.array(a, copy=True))  # its own memory: the training step updates it in place
        if t.dim() == 4:
            t = t.contiguous(memory_format=fmt)
        return t.requires_grad_(grad)

    to_nc = lambda a: np.moveaxis(a, -1, 1)  # noqa: E731
    x, target = tensor(to_nc(data.x)), tensor(to_nc(data.target))
    k, b = tensor(_torch_kernel(case, data.kernel)), tensor(data.bias)
    kp, bp = tensor(_torch_kernel(case, data.kernel), True), tensor(data.bias, True)
    case_pads = pads(case)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[r]
    if case.kind == "transpose":
        k_eff = [(kk - 1) * dd + 1 for kk, dd in zip(case.kernel_size, case.dilation_rate)]
        crop = [ke - 1 - before for ke, (before, _) in zip(k_eff, case_pads)]
        extra = [after - before for before, after in case_pads]
        if min(crop) < 0 or any(not 0 <= e < max(s, dd) for e, s, dd in zip(extra, case.strides, case.dilation_rate)):
            raise NotImplementedError("padding not expressible in torch")
        tconv = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[r]

        def op(x, k, b):
            return tconv(x, k, b, stride=case.strides, padding=crop, output_padding=extra, dilation=case.dilation_rate)

    else:
        groups = case.cin if case.kind == "depthwise" else 1
        symmetric = all(before == after for before, after in case_pads)
        flat = [p for before, after in reversed(case_pads) for p in (before, after)]

        def op(x, k, b):
            if not symmetric:
                x = F.pad(x, flat)
            padding = [before for before, _ in case_pads] if symmetric else 0
            return conv(x, k, b, stride=case.strides, padding=padding, dilation=case.dilation_rate, groups=groups)

    def forward():
        with torch.inference_mode():
            return torch.relu_(op(x, k, b))

    def step():
        loss = F.mse_loss(torch.relu(op(x, kp, bp)), target)
        dk, db = torch.autograd.grad(loss, (kp, bp))
        with torch.no_grad():
            kp.sub_(LEARNING_RATE * dk)
            bp.sub_(LEARNING_RATE * db)
        return loss

    def check_train():
        loss = step().item()
        kernel = _keras_kernel(case, kp.detach().numpy())
        return _step_result(loss, data.kernel, data.bias, kernel, bp.detach().numpy())

    return {
        "forward": forward,
        "train": step,
        "check_forward": lambda: np.moveaxis(forward().numpy(), 1, -1),
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
    case_pads = [tuple(p) for p in pads(case)]
    s, d = case.strides, case.dilation_rate
    if case.kind == "conv":

        def op(x, k):
            return lax.conv_general_dilated(x, k, s, case_pads, rhs_dilation=d, dimension_numbers=specs)

    elif case.kind == "depthwise":

        def op(x, k):
            w = k.reshape(*case.kernel_size, 1, -1)
            return lax.conv_general_dilated(
                x, w, s, case_pads, rhs_dilation=d, dimension_numbers=specs, feature_group_count=case.cin
            )

    else:
        spatial = tuple(range(case.rank))

        def op(x, k):
            w = jnp.flip(k, spatial).swapaxes(-1, -2)
            return lax.conv_general_dilated(
                x, w, (1,) * case.rank, case_pads, lhs_dilation=s, rhs_dilation=d, dimension_numbers=specs
            )

    def f(x, k, b):
        return jax.nn.relu(op(x, k) + b)

    forward = jax.jit(f)

    @jax.jit
    def step(k, b, x, target):
        loss, (dk, db) = jax.value_and_grad(lambda k, b: jnp.mean((f(x, k, b) - target) ** 2), (0, 1))(k, b)
        return loss, k - LEARNING_RATE * dk, b - LEARNING_RATE * db

    x, k, b, target = (jnp.asarray(a) for a in (data.x, data.kernel, data.bias, data.target))
    params = {"k": k, "b": b}

    def train():
        loss, params["k"], params["b"] = step(params["k"], params["b"], x, target)
        return jax.block_until_ready(loss)

    def check_train():
        loss = float(train())
        return _step_result(loss, data.kernel, data.bias, np.asarray(params["k"]), np.asarray(params["b"]))

    return {
        "forward": lambda: forward(x, k, b).block_until_ready(),
        "train": train,
        "check_forward": lambda: np.asarray(forward(x, k, b)),
        "check_train": check_train,
    }


# --------------------------------------------------------------------------
# ONNX Runtime (inference only)
# --------------------------------------------------------------------------
def _onnx_model(case, data):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    case_pads = pads(case)
    k_eff = [(kk - 1) * dd + 1 for kk, dd in zip(case.kernel_size, case.dilation_rate)]
    attrs = {
        "kernel_shape": list(case.kernel_size),
        "strides": list(case.strides),
        "dilations": list(case.dilation_rate),
    }
    if case.kind == "transpose":
        crop = [(ke - 1 - before, ke - 1 - after) for ke, (before, after) in zip(k_eff, case_pads)]
        if min(min(c) for c in crop) < 0:
            raise NotImplementedError("padding not expressible in ONNX")
        attrs["pads"] = [c[0] for c in crop] + [c[1] for c in crop]
        op_type = "ConvTranspose"
    else:
        attrs["pads"] = [p[0] for p in case_pads] + [p[1] for p in case_pads]
        attrs["group"] = case.cin if case.kind == "depthwise" else 1
        op_type = "Conv"
    y_shape = np.moveaxis(data.target, -1, 1).shape
    graph = helper.make_graph(
        [helper.make_node(op_type, ["X", "W", "B"], ["Z"], **attrs), helper.make_node("Relu", ["Z"], ["Y"])],
        "conv_relu",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(np.moveaxis(data.x, -1, 1).shape))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list(y_shape))],
        [numpy_helper.from_array(_torch_kernel(case, data.kernel), "W"), numpy_helper.from_array(data.bias, "B")],
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
    feed = {"X": np.ascontiguousarray(np.moveaxis(data.x, -1, 1))}
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
# memory
# --------------------------------------------------------------------------
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


# --------------------------------------------------------------------------
# worker side
# --------------------------------------------------------------------------
def serve(lib, state, command, *args):
    """One command for ``lib``, in its worker process (see ``benchmarks.pool``)."""
    if command == "setup":
        case, data = args
        state.clear()
        state.update(case=case, data=data, runner=BUILDERS[lib](case, data))
        return sorted(mode for mode in ("forward", "train") if mode in state["runner"])
    runner = state["runner"]
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
        return npconv_algorithms(runner)
    raise ValueError(f"unknown command {command!r}")


# --------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------
def _close(actual, expected, rtol):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return f"shape {actual.shape} != {expected.shape}"
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    error = float(np.max(np.abs(actual - expected), initial=0.0)) / scale
    return None if error <= rtol else f"max error {error:.2e} of max |value|"


def compare(outputs, expected, mode, rtol=RTOL):
    """None when a peer's outputs agree with npconv's, else a message."""
    names = ("y",) if mode == "forward" else ("loss", "kernel update", "bias update")
    for name, actual, wanted in zip(names, outputs, expected[mode]):
        problem = _close(actual, wanted, rtol)
        if problem:
            return f"{name}: {problem}"
    return None


def best_peer(times):
    peers = {lib: t for lib, t in times.items() if lib != "npconv"}
    if not peers:
        return None, None
    lib = min(peers, key=peers.get)
    return lib, peers[lib]


def run_case(pool, case, libs, modes=("forward", "train"), budget_s=2.0, memory=True, gap=0.02, quick=False, log=print):
    """Check every library against npconv, then time them interleaved: each
    round runs every library once, in a rotating order. Returns a result dict."""
    data = make_data(case)
    out = {"case": dict(case.__dict__), "gflop": flops(case) / 1e9, "modes": {}, "errors": {}}
    ready = {}
    for lib in libs:
        try:
            ready[lib] = pool.call("conv", "setup", lib, case, data)
        except RuntimeError as error:
            out["errors"][lib] = str(error)
    if "npconv" not in ready:
        raise RuntimeError(f"npconv failed on {case.name}: {out['errors'].get('npconv')}")
    data.expected = {mode: pool.call("conv", "check", "npconv", mode) for mode in modes}
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
                problem = None
                if lib != "npconv":
                    problem = compare(pool.call("conv", "check", lib, mode), data.expected, mode)
                pool.call("conv", "warmup", lib, mode, 2 * inner)
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
                times[lib] += pool.call("conv", "time", lib, mode, inner, count, gap)
            rounds += 1
        entry = {
            "time": {lib: statistics.median(t) for lib, t in times.items()},
            "rounds": rounds,
            "memory": {},
            "traced": None,
        }
        if memory:
            for lib in libs_here:
                rss, traced = pool.call("conv", "memory", lib, mode)
                entry["memory"][lib] = rss
                if lib == "npconv":
                    entry["traced"] = traced
        out["modes"][mode] = entry
    out["algorithms"] = pool.call("conv", "algorithms", "npconv")
    return out
