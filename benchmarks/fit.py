"""The "digits epoch" case of ``python -m npconv.bench`` (issue 3): seconds per
epoch of ``model.fit`` on the bundled 8x8 digits, npconv against Keras 3 on
TensorFlow, PyTorch and JAX.

The model is ``npconv.examples.digits.build_model`` (Conv32 - Conv32 - MaxPool -
Conv64 - Flatten - Dense(10, softmax), Adam, sparse categorical cross-entropy,
accuracy), trained with batch 32 on ``load_digits(seed=0)``. Each library runs
in its own worker process of ``bench.Pool``, every Keras backend in a separate
one (Keras reads ``KERAS_BACKEND`` once, when it is first imported). The Keras
models start from npconv's initial weights, and a backend whose predictions on
the test set differ from npconv's is skipped and reported, never timed.

Timing: one warm-up epoch per library (TensorFlow and JAX trace and compile
there), then interleaved rounds, each running one ``fit(..., epochs=1)`` of
every library in a rotating order; the report shows medians, and the test
accuracy each model reaches after all its epochs.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import time

import numpy as np

NAME = "digits epoch"
BATCH_SIZE = 32
QUICK_SAMPLES = 64  # training samples in --quick
BUDGET_S = 30.0  # seconds of timed rounds (default); at least MIN_ROUNDS, at most MAX_ROUNDS
MIN_ROUNDS, MAX_ROUNDS = 3, 15
RTOL, ATOL = 1e-3, 1e-5  # initial predictions, Keras against npconv

BACKENDS = {"keras_tf": "tensorflow", "keras_torch": "torch", "keras_jax": "jax"}
_PEER_LIBS = {"tf": "keras_tf", "torch": "keras_torch", "jax": "keras_jax"}  # bench's --peers -> Keras library
LABELS = {
    "npconv": "npconv",
    "keras_tf": "Keras 3 / TensorFlow",
    "keras_torch": "Keras 3 / PyTorch",
    "keras_jax": "Keras 3 / JAX",
}
SHORT = {"npconv": "npconv", "keras_tf": "Keras/TF", "keras_torch": "Keras/torch", "keras_jax": "Keras/JAX"}


def libraries(peers):
    """npconv, then the Keras backends among bench's peers (tf, torch, jax) when Keras is installed."""
    if importlib.util.find_spec("keras") is None:
        return ["npconv"]
    return ["npconv"] + [_PEER_LIBS[peer] for peer in peers if peer in _PEER_LIBS]


# --------------------------------------------------------------------------
# worker side: bench._serve hands every "fit_*" command to serve()
# --------------------------------------------------------------------------
def _keras_model(backend, weights):
    """The digits CNN in Keras on ``backend``, compiled as npconv's, holding ``weights``."""
    os.environ["KERAS_BACKEND"] = backend
    if backend == "torch":
        import torch

        torch.set_num_threads(2)  # as bench's torch peer
    import keras

    if keras.backend.backend() != backend:
        raise RuntimeError(f"keras was already imported with backend {keras.backend.backend()!r}")
    from .examples import digits

    model = keras.Sequential(digits.architecture(keras.layers))
    model.compile(**digits.compile_arguments())
    model.set_weights(weights)
    return model


def serve(lib, state, command, *args):
    """One digits command for ``lib`` in its worker. ``fit_setup`` builds the
    model (npconv: returns its initial weights; Keras: takes them)."""
    if command == "fit_setup":
        data, weights = args
        state.clear()
        if lib == "npconv":
            from npconv.examples.digits import build_model

            model = build_model(seed=0)
        else:
            model = _keras_model(BACKENDS[lib], weights)
        state.update(fit_model=model, fit_data=data)
        return model.get_weights() if lib == "npconv" else None
    model = state["fit_model"]
    x, y, x_test, y_test = state["fit_data"]
    if command == "fit_predict":
        return np.asarray(model.predict(x_test, batch_size=BATCH_SIZE, verbose=0))
    if command == "fit_epoch":
        (gap,) = args
        time.sleep(gap)  # let the previous library's spinning threads go to sleep
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)
        return time.perf_counter() - t0
    if command == "fit_evaluate":
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


def run_digits(pool, libs, quick=False, budget_s=None, gap=0.25, log=print):
    """Check every library's initial model against npconv's, then time one
    epoch each in interleaved rounds. Returns a result dict (JSON-ready)."""
    from npconv.datasets import load_digits

    (x, y), (x_test, y_test) = load_digits(seed=0)
    if quick:
        x, y = x[:QUICK_SAMPLES], y[:QUICK_SAMPLES]
    budget_s = BUDGET_S if budget_s is None else budget_s
    min_rounds, max_rounds = (1, 1) if quick else (MIN_ROUNDS, MAX_ROUNDS)
    out = {
        "case": {"name": NAME, "train_samples": len(x), "test_samples": len(x_test), "batch_size": BATCH_SIZE},
        "time": {},
        "samples": {},
        "rounds": 0,
        "epochs": 0,
        "accuracy": {},
        "loss": {},
        "max_difference": {},
        "errors": {},
    }
    data = (x, y, x_test, y_test)
    weights = pool.call("fit_setup", "npconv", data, None)
    expected = pool.call("fit_predict", "npconv")
    ready = []
    for lib in libs:
        try:
            if lib != "npconv":
                pool.call("fit_setup", lib, data, weights)
                predicted = pool.call("fit_predict", lib)
                problem = disagreement(predicted, expected)
                if predicted.shape == expected.shape:
                    out["max_difference"][lib] = float(np.max(np.abs(predicted - expected), initial=0.0))
                if problem:
                    raise RuntimeError(problem)
            pool.call("fit_epoch", lib, 0.0)  # warm-up: tracing and compiling happen here
        except RuntimeError as error:
            if lib == "npconv":
                raise
            out["errors"][lib] = str(error)
            log(f"  {lib}: skipped ({error})")
            continue
        ready.append(lib)
    times = {lib: [] for lib in ready}
    start, rounds = time.perf_counter(), 0
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - start < budget_s):
        shift = rounds % len(ready)
        for lib in ready[shift:] + ready[:shift]:
            times[lib].append(pool.call("fit_epoch", lib, gap))
        rounds += 1
    out.update(rounds=rounds, epochs=rounds + 1, samples=times)
    out["time"] = {lib: statistics.median(t) for lib, t in times.items()}
    for lib in ready:
        out["loss"][lib], out["accuracy"][lib] = pool.call("fit_evaluate", lib)
    return out


def best_peer(result):
    peers = {lib: t for lib, t in result["time"].items() if lib != "npconv"}
    if not peers:
        return None, None
    lib = min(peers, key=peers.get)
    return lib, peers[lib]


def measure(peers, quick=False, budget_s=None, gap=0.25, log=print):
    """Run the digits case in a Pool of its own (npconv and each Keras backend
    in a fresh process). Returns the result dict."""
    from .bench import Pool

    libs = libraries(peers)
    if len(libs) == 1 and any(peer in _PEER_LIBS for peer in peers):
        log("  keras is not installed: npconv only")
    pool = Pool(libs)
    try:
        result = run_digits(pool, libs, quick=quick, budget_s=budget_s, gap=gap, log=log)
    finally:
        pool.close()
    return result


def summary(result):
    """One console line: s/epoch and test accuracy per library, npconv / best peer."""
    shown = ", ".join(
        f"{SHORT[lib]} {t:.3f} s (acc {result['accuracy'][lib]:.3f})" for lib, t in result["time"].items()
    )
    lib, best = best_peer(result)
    ratio = f"  npconv/best {result['time']['npconv'] / best:.2f}" if best else ""
    return f"epoch    {shown}{ratio}"


def markdown_lines(result):
    """The report's section for the digits case."""
    case, rounds = result["case"], result["rounds"]
    lines = [
        "## Training the digits CNN (issue 3)",
        "",
        "One epoch of `model.fit(x, y, batch_size=32, epochs=1, verbose=0)` of the `npconv.examples.digits` model",
        "(Conv2D 32 - Conv2D 32 - MaxPooling2D - Conv2D 64 - Flatten - Dense 10 softmax; Adam,",
        f"sparse categorical cross-entropy, accuracy) on {case['train_samples']} training images of",
        "`npconv.datasets.load_digits(seed=0)`, against the same model in Keras 3 on each backend. Each",
        "library runs in its own process; the Keras models start from npconv's initial weights and their",
        f"test-set predictions were checked against npconv's (rtol {RTOL:g}, atol {ATOL:g}) before timing.",
        f"After one warm-up epoch (where TF and JAX compile), {rounds} interleaved round{'s' * (rounds != 1)} of",
        "one epoch per library, every round in a rotating order; medians. Each timed epoch is a separate",
        "`fit` call, so its setup is counted for every library. Test accuracy on the",
        f"{case['test_samples']} test images after all {result['epochs']} epochs (as many for every library;",
        "the shuffling differs).",
        "",
        "| library | s / epoch | npconv / this | test accuracy | max \\|initial prediction - npconv's\\| |",
        "|---|---|---|---|---|",
    ]
    npconv_time = result["time"].get("npconv")
    for lib, t in result["time"].items():
        ratio = "-" if lib == "npconv" else f"{npconv_time / t:.2f}"
        difference = "-" if lib == "npconv" else f"{result['max_difference'][lib]:.1e}"
        lines.append(f"| {LABELS[lib]} | {t:.3f} | {ratio} | {result['accuracy'][lib]:.3f} | {difference} |")
    lib, best = best_peer(result)
    lines.append("")
    if best:
        ratio = npconv_time / best
        shown = f"**{ratio:.2f}**" if ratio <= 1.0 else f"{ratio:.2f}"
        lines.append(f"npconv / best peer ({LABELS[lib]}): {shown}.")
    else:
        lines.append("No Keras backend was measured.")
    if result["errors"]:
        lines.append("")
    for lib, message in result["errors"].items():
        lines.append(f"- {LABELS[lib]}: not measured ({message})")
    lines.append("")
    return lines


def plot(ax, result):
    """Seconds per epoch per library, as bars, on a matplotlib axis."""
    libs = list(result["time"])
    values = [result["time"][lib] for lib in libs]
    colors = ["black" if lib == "npconv" else f"C{i}" for i, lib in enumerate(libs)]
    ax.bar(range(len(libs)), values, color=colors)
    ax.set_xticks(range(len(libs)))
    ax.set_xticklabels([LABELS[lib] for lib in libs])
    ax.set_ylabel("seconds per epoch (lower is faster)")
    ax.set_title(f"digits CNN, one epoch of fit ({result['case']['train_samples']} images, batch {BATCH_SIZE})")
