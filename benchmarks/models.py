"""Whole models: ResNet50 and MobileNetV2 inference at batch 1 and 32, and one
training step of a small ResNet, npconv against Keras 3 on TensorFlow, JAX and
PyTorch, all from the same weights.

The Keras model is built once (``keras.applications`` with ``weights=None``, or
the small ResNet below) in the first Keras worker; its config and weights go to
every other worker. npconv rebuilds it with
``npconv.models.Model.from_config(config)`` and ``set_weights``. Before timing,
every library's predictions (or, for the training step, the loss of one
``train_on_batch`` from the same weights) are checked against Keras on
TensorFlow's; a library that disagrees is reported and not timed.

Inference runs ``predict_on_batch(x)`` (npconv: ``predict_on_batch`` where the
model has it, else ``predict(x, batch_size=len(x))``); training runs
``train_on_batch(x, y)``.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

import numpy as np

from npconv import models as npconv_models

RTOL = 2e-3  # predictions (or loss), relative to the largest |value| of the reference
LIBS = ("keras_tf", "keras_jax", "keras_torch")
BACKENDS = {"keras_tf": "tensorflow", "keras_torch": "torch", "keras_jax": "jax"}


@dataclass(frozen=True)
class ModelCase:
    name: str
    model: str  # "resnet50" | "mobilenetv2" | "small_resnet"
    batch: int
    size: int  # input height and width
    train: bool = False


SUITE = [
    ModelCase("ResNet50 b1", "resnet50", 1, 224),
    ModelCase("ResNet50 b32", "resnet50", 32, 224),
    ModelCase("MobileNetV2 b1", "mobilenetv2", 1, 224),
    ModelCase("MobileNetV2 b32", "mobilenetv2", 32, 224),
    ModelCase("small ResNet train b32", "small_resnet", 32, 32, train=True),
]

QUICK = [
    ModelCase("MobileNetV2 32x32 b1", "mobilenetv2", 1, 32),
    ModelCase("small ResNet train b4", "small_resnet", 4, 16, train=True),
]


# --------------------------------------------------------------------------
# Keras side
# --------------------------------------------------------------------------
def small_resnet(keras, size, classes=10):
    """A small ResNet (two stages of basic residual blocks, batch normalization,
    global average pooling), built with Keras's Functional API."""
    L = keras.layers

    def block(x, filters, strides):
        shortcut = x
        y = L.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        y = L.Activation("relu")(L.BatchNormalization()(y))
        y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same", use_bias=False)(y))
        if strides != 1 or shortcut.shape[-1] != filters:
            shortcut = L.BatchNormalization()(L.Conv2D(filters, 1, strides=strides, use_bias=False)(shortcut))
        return L.Activation("relu")(L.Add()([y, shortcut]))

    inputs = keras.Input((size, size, 3))
    x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(16, 3, padding="same", use_bias=False)(inputs)))
    for filters, strides in ((16, 1), (16, 1), (32, 2), (32, 1), (64, 2)):
        x = block(x, filters, strides)
    outputs = L.Dense(classes, activation="softmax")(L.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs, name="small_resnet")


def _keras_build(case: ModelCase):
    import keras

    keras.utils.set_random_seed(0)
    shape = (case.size, case.size, 3)
    if case.model == "resnet50":
        return keras.applications.ResNet50(weights=None, input_shape=shape)
    if case.model == "mobilenetv2":
        return keras.applications.MobileNetV2(weights=None, input_shape=shape)
    return small_resnet(keras, case.size)


COMPILE = {"optimizer": "sgd", "loss": "sparse_categorical_crossentropy"}


def _keras_model(lib, case, config, weights):
    os.environ["KERAS_BACKEND"] = BACKENDS[lib]
    if lib == "keras_torch":
        import torch

        torch.set_num_threads(2)  # as the conv cases' torch peer
    import keras

    if keras.backend.backend() != BACKENDS[lib]:
        raise RuntimeError(f"keras was already imported with backend {keras.backend.backend()!r}")
    if config is None:
        return _keras_build(case)
    model = keras.Model.from_config(config)
    model.set_weights(weights)
    return model


def _npconv_model(config, weights):
    model = npconv_models.Model.from_config(config)
    model.set_weights(weights)
    return model


def _data(case: ModelCase):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case.batch, case.size, case.size, 3), dtype=np.float32)
    y = rng.integers(0, 10, size=case.batch)
    return x, y


def serve(lib, state, command, *args):
    """One command for ``lib`` in its worker (see ``benchmarks.pool``)."""
    if command == "probe":  # can npconv rebuild a Keras Functional model?
        return hasattr(getattr(npconv_models, "Model", None), "from_config")
    if command == "setup":
        case, config, weights = args
        state.clear()
        model = _npconv_model(config, weights) if lib == "npconv" else _keras_model(lib, case, config, weights)
        x, y = _data(case)
        if case.train:
            model.compile(**COMPILE)
        state.update(model=model, x=x, y=y, case=case)
        return (model.get_config(), model.get_weights()) if config is None else None
    model, x, y = state["model"], state["x"], state["y"]
    if command == "check":
        if state["case"].train:
            return np.asarray(model.train_on_batch(x, y), dtype=np.float64).reshape(-1)[:1]
        return np.asarray(_predict(model, x))
    if command == "time":
        (gap,) = args
        fn = (lambda: model.train_on_batch(x, y)) if state["case"].train else (lambda: _predict(model, x))
        time.sleep(gap)
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    raise ValueError(f"unknown command {command!r}")


def _predict(model, x):
    if hasattr(model, "predict_on_batch"):
        return model.predict_on_batch(x)
    return model.predict(x, batch_size=len(x), verbose=0)


# --------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------
def _close(actual, expected, rtol=RTOL):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return f"shape {actual.shape} != {expected.shape}"
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    error = float(np.max(np.abs(actual - expected), initial=0.0)) / scale
    return None if error <= rtol else f"max error {error:.2e} of max |value|"


def libraries(peers):
    """npconv and the Keras backends among the peers."""
    wanted = {"tf": "keras_tf", "jax": "keras_jax", "torch": "keras_torch"}
    return ["npconv"] + [wanted[p] for p in peers if p in wanted]


def run_case(pool, case, libs, budget_s=20.0, quick=False, gap=0.25, log=print):
    """Build the model in the first Keras library, rebuild it everywhere else,
    check, then time interleaved rounds. Returns a result dict."""
    out = {"case": dict(case.__dict__), "time": {}, "rounds": 0, "errors": {}}
    keras_libs = [lib for lib in libs if lib != "npconv"]
    if not keras_libs:
        out["errors"]["all"] = "no Keras backend among the peers: nothing to build the model with"
        return out
    if "npconv" in libs and not pool.call("models", "probe", "npconv"):
        out["errors"]["npconv"] = "npconv.models.Model.from_config is missing: no Functional API in this npconv"
        log(f"  skipped: {out['errors']['npconv']}")
        return out
    builder = keras_libs[0]
    config, weights = pool.call("models", "setup", builder, case, None, None)
    ready = [builder]
    for lib in libs:
        if lib == builder:
            continue
        try:
            pool.call("models", "setup", lib, case, config, weights)
            ready.append(lib)
        except RuntimeError as error:
            out["errors"][lib] = str(error)
            log(f"  {lib}: skipped ({error})")
    reference = pool.call("models", "check", builder)
    checked = []
    for lib in ready:
        problem = None if lib == builder else _close(pool.call("models", "check", lib), reference)
        if problem:
            out["errors"][lib] = f"disagrees with {builder}: {problem}"
            log(f"  {lib}: skipped ({out['errors'][lib]})")
            continue
        pool.call("models", "time", lib, 0.0)  # warm-up: tracing and compiling happen here
        checked.append(lib)
    if not checked or ("npconv" in libs and "npconv" not in checked):
        return out
    times = {lib: [] for lib in checked}
    min_rounds, max_rounds = (1, 1) if quick else (3, 30)
    start, rounds = time.perf_counter(), 0
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - start < budget_s):
        shift = rounds % len(checked)
        for lib in checked[shift:] + checked[:shift]:
            times[lib].append(pool.call("models", "time", lib, gap))
        rounds += 1
    out.update(time={lib: statistics.median(t) for lib, t in times.items()}, rounds=rounds)
    return out


def measure(pool, peers, cases, quick=False, budget_s=None, gap=0.25, log=print):
    """Every model case on the run's pool (npconv and each Keras backend in its own process)."""
    libs = libraries(peers)
    results = []
    for case in cases:
        log(f"{case.name} ...")
        result = run_case(pool, case, libs, budget_s or 20.0, quick, 0.0 if quick else gap, log)
        results.append(result)
        if result["time"]:
            log("  " + ", ".join(f"{lib} {t:.3g} s" for lib, t in result["time"].items()))
    return results
