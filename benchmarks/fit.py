"""The digits epoch: seconds per epoch of ``model.fit`` on the bundled 8x8 digits,
npconv against Keras 3 on TensorFlow, PyTorch and JAX; and the same epoch under
contention, npconv against Keras on JAX, with two competing CPU-bound processes.

The model is ``npconv.examples.digits.build_model`` (Conv32 - Conv32 - MaxPool -
Conv64 - Flatten - Dense(10, softmax), Adam, sparse categorical cross-entropy,
accuracy), trained with batch 32 on ``load_digits(seed=0)``. Each library runs in
its own worker process, every Keras backend in a separate one (Keras reads
``KERAS_BACKEND`` once, when it is first imported). The Keras models start from
npconv's initial weights, and a backend whose predictions on the test set differ
from npconv's is skipped and reported, never timed.

Timing: one warm-up epoch per library (TensorFlow and JAX trace and compile
there), then interleaved rounds, each running one ``fit(..., epochs=1)`` of every
library in a rotating order; medians.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from npconv.datasets import load_digits
from npconv.examples import digits

NAME = "digits epoch"
CONTENTION = "digits contention"
BATCH_SIZE = 32
QUICK_SAMPLES = 64  # training samples in --quick
BUDGET_S = 30.0  # seconds of timed rounds (default); at least MIN_ROUNDS, at most MAX_ROUNDS
MIN_ROUNDS, MAX_ROUNDS = 3, 15
RTOL, ATOL = 1e-3, 1e-5  # initial predictions, Keras against npconv
COMPETITORS = 2  # CPU-bound processes started for the contention mode

BACKENDS = {"keras_tf": "tensorflow", "keras_torch": "torch", "keras_jax": "jax"}
_PEER_LIBS = {"tf": "keras_tf", "torch": "keras_torch", "jax": "keras_jax"}  # --peers -> Keras library
LABELS = {
    "npconv": "npconv",
    "keras_tf": "Keras 3 / TensorFlow",
    "keras_torch": "Keras 3 / PyTorch",
    "keras_jax": "Keras 3 / JAX",
}
SHORT = {"npconv": "npconv", "keras_tf": "Keras/TF", "keras_torch": "Keras/torch", "keras_jax": "Keras/JAX"}


def libraries(peers):
    """npconv, then the Keras backends among the peers (tf, torch, jax) when Keras is installed."""
    if importlib.util.find_spec("keras") is None:
        return ["npconv"]
    return ["npconv"] + [_PEER_LIBS[peer] for peer in peers if peer in _PEER_LIBS]


# --------------------------------------------------------------------------
# worker side
# --------------------------------------------------------------------------
def _keras_model(backend, weights):
    """The digits CNN in Keras on ``backend``, compiled as npconv's, holding ``weights``."""
    os.environ["KERAS_BACKEND"] = backend
    if backend == "torch":
        import torch

        torch.set_num_threads(2)  # as the conv cases' torch peer
    import keras

    if keras.backend.backend() != backend:
        raise RuntimeError(f"keras was already imported with backend {keras.backend.backend()!r}")
    model = keras.Sequential(digits.architecture(keras.layers))
    model.compile(**digits.compile_arguments())
    model.set_weights(weights)
    return model


def serve(lib, state, command, *args):
    """One command for ``lib`` in its worker (see ``benchmarks.pool``). ``setup``
    builds the model (npconv: returns its initial weights; Keras: takes them)."""
    if command == "setup":
        data, weights = args
        state.clear()
        if lib == "npconv":
            model = digits.build_model(seed=0)
        else:
            model = _keras_model(BACKENDS[lib], weights)
        state.update(model=model, data=data)
        return model.get_weights() if lib == "npconv" else None
    model = state["model"]
    x, y, x_test, y_test = state["data"]
    if command == "predict":
        return np.asarray(model.predict(x_test, batch_size=BATCH_SIZE, verbose=0))
    if command == "epoch":
        (gap,) = args
        time.sleep(gap)  # let the previous library's spinning threads go to sleep
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)
        return time.perf_counter() - t0
    if command == "evaluate":
        loss, accuracy = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
        return float(loss), float(accuracy)
    raise ValueError(f"unknown command {command!r}")


# --------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------
def disagreement(predicted, expected, rtol=RTOL, atol=ATOL):
    """None when a peer's predicted probabilities match npconv's, else a message."""
    predicted, expected = np.asarray(predicted, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if predicted.shape != expected.shape:
        return f"predictions of shape {predicted.shape}, npconv's {expected.shape}"
    if np.allclose(predicted, expected, rtol=rtol, atol=atol):
        return None
    return f"initial predictions differ from npconv's by up to {np.max(np.abs(predicted - expected)):.2e}"


def _data(quick):
    (x, y), (x_test, y_test) = load_digits(seed=0)
    if quick:
        x, y = x[:QUICK_SAMPLES], y[:QUICK_SAMPLES]
    return x, y, x_test, y_test


def _setup(pool, libs, data, out, log):
    """Build every library's model from npconv's initial weights, check its predictions
    and run its warm-up epoch. Returns the libraries that are ready."""
    weights = pool.call("fit", "setup", "npconv", data, None)
    expected = pool.call("fit", "predict", "npconv")
    ready = []
    for lib in libs:
        try:
            if lib != "npconv":
                pool.call("fit", "setup", lib, data, weights)
                predicted = pool.call("fit", "predict", lib)
                if predicted.shape == expected.shape:
                    out["max_difference"][lib] = float(np.max(np.abs(predicted - expected), initial=0.0))
                problem = disagreement(predicted, expected)
                if problem:
                    raise RuntimeError(problem)
            pool.call("fit", "epoch", lib, 0.0)  # warm-up: tracing and compiling happen here
        except RuntimeError as error:
            if lib == "npconv":
                raise
            out["errors"][lib] = str(error)
            log(f"  {lib}: skipped ({error})")
            continue
        ready.append(lib)
    return ready


def _rounds(pool, libs, budget_s, min_rounds, max_rounds, gap):
    """Interleaved rounds of one epoch per library. Returns ({lib: [seconds]}, rounds)."""
    times = {lib: [] for lib in libs}
    start, rounds = time.perf_counter(), 0
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - start < budget_s):
        shift = rounds % len(libs)
        for lib in libs[shift:] + libs[:shift]:
            times[lib].append(pool.call("fit", "epoch", lib, gap))
        rounds += 1
    return times, rounds


def _empty_result(name, data):
    x, _, x_test, _ = data
    case = {"name": name, "train_samples": len(x), "test_samples": len(x_test), "batch_size": BATCH_SIZE}
    return {"case": case, "time": {}, "samples": {}, "rounds": 0, "epochs": 0, "accuracy": {}, "loss": {}}


def run_digits(pool, libs, quick=False, budget_s=None, gap=0.25, log=print):
    """Check every library's initial model against npconv's, then time one
    epoch each in interleaved rounds. Returns a result dict (JSON-ready)."""
    data = _data(quick)
    out = _empty_result(NAME, data) | {"max_difference": {}, "errors": {}}
    ready = _setup(pool, libs, data, out, log)
    limits = (1, 1) if quick else (MIN_ROUNDS, MAX_ROUNDS)
    times, rounds = _rounds(pool, ready, BUDGET_S if budget_s is None else budget_s, *limits, gap)
    out.update(rounds=rounds, epochs=rounds + 1, samples=times)
    out["time"] = {lib: statistics.median(t) for lib, t in times.items()}
    for lib in ready:
        out["loss"][lib], out["accuracy"][lib] = pool.call("fit", "evaluate", lib)
    return out


# --------------------------------------------------------------------------
# contention
# --------------------------------------------------------------------------
def start_competitors(count, seconds):
    """``count`` CPU-bound Python processes, each spinning for at most ``seconds``."""
    code = f"import time\nend = time.monotonic() + {float(seconds)}\nwhile time.monotonic() < end:\n    pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def stop_competitors(procs):
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_contention(pool, libs, quick=False, budget_s=None, gap=0.25, log=print, prepared=None):
    """The digits epoch quiet, then with ``COMPETITORS`` CPU-bound processes running
    (started here, stopped when the loaded rounds end, and bounded in time in any case).
    ``prepared``: the libraries whose checked, warmed-up models the digits case left in
    their workers; those are reused as they are."""
    data = _data(quick)
    out = _empty_result(CONTENTION, data) | {"loaded": {}, "competitors": COMPETITORS, "max_difference": {}}
    out["errors"] = {}
    if prepared is not None and all(lib in prepared for lib in libs):
        ready = list(libs)
    else:
        ready = _setup(pool, libs, data, out, log)
    budget = BUDGET_S / 2 if budget_s is None else budget_s
    limits = (1, 1) if quick else (MIN_ROUNDS, MAX_ROUNDS)
    quiet, rounds = _rounds(pool, ready, budget, *limits, gap)
    # bounded: the whole loaded phase, with slack for epochs several times slower than quiet ones
    worst = sum(max(t) for t in quiet.values()) * limits[1]
    procs = start_competitors(COMPETITORS, 10 * worst + budget + 60)
    try:
        time.sleep(0.5)
        loaded, loaded_rounds = _rounds(pool, ready, budget, *limits, gap)
    finally:
        stop_competitors(procs)
    out.update(rounds=rounds, loaded_rounds=loaded_rounds)
    out["time"] = {lib: statistics.median(t) for lib, t in quiet.items()}
    out["loaded"] = {lib: statistics.median(t) for lib, t in loaded.items()}
    out["samples"] = {"quiet": quiet, "loaded": loaded}
    return out


def contention_libraries(peers):
    """npconv and Keras on JAX (when JAX is among the peers and Keras is installed)."""
    return [lib for lib in libraries(peers) if lib in ("npconv", "keras_jax")]


def measure(pool, peers, quick=False, budget_s=None, gap=0.25, epoch=True, contention=True, log=print):
    """The digits epoch and its contention mode, on the run's pool. Returns (digits, contention) results (or None)."""
    libs = libraries(peers)
    if len(libs) == 1 and any(peer in _PEER_LIBS for peer in peers):
        log("  keras is not installed: npconv only")
    out = [None, None]
    if epoch:
        log(f"{NAME} ...")
        out[0] = run_digits(pool, libs, quick=quick, budget_s=budget_s, gap=gap, log=log)
        log("  " + summary(out[0]))
    if contention:
        log(f"{CONTENTION} ...")
        prepared = list(out[0]["time"]) if out[0] else None
        out[1] = run_contention(pool, contention_libraries(peers), quick, budget_s, gap, log, prepared)
        log("  " + summary(out[1]))
    return tuple(out)


def best_peer(result):
    peers = {lib: t for lib, t in result["time"].items() if lib != "npconv"}
    if not peers:
        return None, None
    lib = min(peers, key=peers.get)
    return lib, peers[lib]


def summary(result):
    """One console line: s/epoch (and test accuracy, or loaded s/epoch) per library."""
    if result["case"]["name"] == CONTENTION:
        shown = ", ".join(
            f"{SHORT[lib]} {t:.3f} s quiet, {result['loaded'][lib]:.3f} s loaded" for lib, t in result["time"].items()
        )
        return f"epoch    {shown}"
    shown = ", ".join(
        f"{SHORT[lib]} {t:.3f} s (acc {result['accuracy'][lib]:.3f})" for lib, t in result["time"].items()
    )
    lib, best = best_peer(result)
    ratio = f"  npconv/best {result['time']['npconv'] / best:.2f}" if best else ""
    return f"epoch    {shown}{ratio}"
