"""Batch inference on a Dask cluster: images per second of ``model.predict(dask_array)``
with one and two workers of a ``distributed.LocalCluster`` on this machine, against
in-process ``model.predict`` of the same NumPy array.

Two models: the digits CNN (``npconv.examples.digits``) and a MobileNetV2-sized
model (Keras's MobileNetV2 config and weights, rebuilt in npconv with
``npconv.models.Model.from_config``). The input is a NumPy array wrapped with
``dask.array.from_array``, chunked along the batch axis, one batch per chunk.
The cluster is ``npconv.distributed.local_cluster`` (each worker runs one task
at a time, with the cores divided among the workers as compute threads). The report adds
what limits scaling past this machine: the model's serialized size (sent to each
worker once), the bytes per chunk, and the scheduler's overhead per task.

This runs in the benchmark's main process (a cluster's worker processes cannot
be children of a daemonic pool worker). It is skipped, with the reason, where
Dask is not installed or npconv's ``predict`` does not take a dask array.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import statistics
import tempfile
import time

import numpy as np

from npconv import models as npconv_models
from npconv.datasets import load_digits
from npconv.distributed import local_cluster
from npconv.examples.digits import build_model

from . import models

WORKERS = (1, 2)


def missing():
    """Why this benchmark cannot run here, or None."""
    for module in ("dask", "distributed"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'dask[distributed]')"
    import dask
    import dask.array as da

    model = build_model(seed=0)
    x = np.random.default_rng(0).standard_normal((8, 8, 8, 1), dtype=np.float32)
    try:
        with dask.config.set(scheduler="synchronous"):
            lazy = model.predict(da.from_array(x, chunks=(4, 8, 8, 1)), verbose=0)
    except (TypeError, ValueError, AttributeError) as error:
        return f"npconv's predict does not take a dask array ({type(error).__name__}: {str(error)[:120]})"
    if not isinstance(lazy, da.Array):
        return f"npconv's predict returned {type(lazy).__name__} for a dask array, not a dask array"
    expected = model.predict(x, verbose=0)
    with dask.config.set(scheduler="synchronous"):
        if not np.array_equal(np.asarray(lazy.compute()), expected):
            return "npconv's predict on a dask array differs from predict on the same NumPy array"
    return None


def _noop(i):
    return i


def _model_bytes(model):
    """Size of npconv's own serialized model (``model.save``), else of its weights."""
    try:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "model.npconv")
            model.save(path)
            return os.path.getsize(path)
    except Exception:
        return int(sum(np.asarray(w).nbytes for w in model.get_weights()))


def _cluster(workers):
    """npconv's LocalCluster of ``workers`` processes (threads per worker set so that workers x threads fit the cores)."""
    return local_cluster(n_workers=workers, silence_logs=logging.ERROR)


def _median_time(fn, repeats):
    fn()  # warm-up (on a cluster: the model reaches every worker here)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def measure_model(name, model, x, chunk, repeats=3, log=print):
    """Images per second in-process and on 1 and 2 workers; per-task overhead; sizes."""
    import dask.array as da
    from distributed import Client

    out = {
        "name": name,
        "images": len(x),
        "chunk": chunk,
        "chunk_bytes": int(x[:chunk].nbytes),
        "model_bytes": _model_bytes(model),
        "images_per_s": {},
        "task_overhead_s": None,
    }
    seconds = _median_time(lambda: model.predict(x, batch_size=chunk, verbose=0), repeats)  # one chunk per batch
    out["images_per_s"]["in-process"] = len(x) / seconds
    lazy_input = da.from_array(x, chunks=(chunk, *x.shape[1:]))
    for workers in WORKERS:
        cluster = _cluster(workers)
        try:
            with Client(cluster) as client:
                run = lambda: np.asarray(model.predict(lazy_input, batch_size=chunk, verbose=0).compute())  # noqa: E731
                seconds = _median_time(run, repeats)
                label = f"{workers} worker{'s' * (workers > 1)}"
                out["images_per_s"][label] = len(x) / seconds
                if workers == WORKERS[-1]:
                    tasks = 200
                    t0 = time.perf_counter()
                    client.gather(client.map(_noop, range(tasks), pure=False))
                    out["task_overhead_s"] = (time.perf_counter() - t0) / tasks
        finally:
            cluster.close()
        log(f"  {name}: {label} {out['images_per_s'][label]:.0f} images/s")
    return out


def _mobilenet(pool, size, peers):
    """MobileNetV2's Keras config and weights, rebuilt in npconv."""
    if "tf" not in peers and "jax" not in peers:
        raise RuntimeError("needs Keras on TensorFlow or JAX among the peers to build MobileNetV2")
    lib = "keras_tf" if "tf" in peers else "keras_jax"
    case = models.ModelCase("MobileNetV2", "mobilenetv2", 1, size)
    config, weights = pool.call("models", "setup", lib, case, None, None)
    model = npconv_models.Model.from_config(config)
    model.set_weights(weights)
    return model


def measure(pool, peers, quick=False, log=print):
    """Both models, or a result that says why nothing ran."""
    reason = missing()
    if reason:
        log(f"  skipped: {reason}")
        return {"skipped": reason, "models": []}
    (x_train, _), _ = load_digits(seed=0)
    count = 2048 if quick else 16384
    digits = np.resize(x_train.astype(np.float32), (count, *x_train.shape[1:]))
    results = [measure_model("digits CNN", build_model(seed=0), digits, 512 if quick else 1024, 1 if quick else 3, log)]
    size, count, chunk = (32, 32, 8) if quick else (224, 256, 16)
    try:
        mobilenet = _mobilenet(pool, size, peers)
    except RuntimeError as error:
        log(f"  MobileNetV2: skipped ({error})")
        return {"skipped": None, "models": results, "errors": {"MobileNetV2": str(error)}}
    images = np.random.default_rng(0).standard_normal((count, size, size, 3), dtype=np.float32)
    results.append(measure_model(f"MobileNetV2 {size}x{size}", mobilenet, images, chunk, 1 if quick else 3, log))
    return {"skipped": None, "models": results, "errors": {}}
