"""Batch inference and evaluation on Dask: ``model.predict(dask_array)``.

The model is sent to the workers once, as npconv's own safe serialized bytes (the
``.npconv`` archive: JSON config and ``.npy`` arrays, no pickled code), held in
one node of the task graph. Each worker process fetches those bytes once,
rebuilds the model from them once, and keeps it, keyed by the bytes' digest, for
every chunk it computes afterwards.

The input is split along the batch axis only, into chunks whose lengths are
multiples of ``batch_size``, so every batch a worker runs holds exactly the rows
that in-memory ``predict`` puts in that batch: the results are bit-identical.

Needs the optional extra ``npconv[dask]``; nothing here is imported by
``import npconv``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading

import numpy as np

from .arguments import invalid
from .models.data import is_dask_collection
from .saving import load_model, save_model
from .saving.compile_state import compile_config as saved_compile_config
from .saving.compile_state import compile_from_config

__all__ = ["is_dask_collection", "predict", "evaluate", "model_to_bytes", "model_from_bytes", "local_cluster"]

_cache_lock = threading.Lock()
_models: dict[tuple[str, int], object] = {}  # (digest, thread id) -> rebuilt model, per worker process
_WINDOW = 16  # chunks evaluate computes at once: their predictions come back to this process
REBUILDS = 0  # how many times this process rebuilt a model from bytes (the tests read it on each worker)


def model_to_bytes(model) -> bytes:
    """The model as npconv's own archive (config and weights), in memory.

    Args:
        model: a built npconv model.

    Returns:
        The bytes of a ``.npconv`` file.
    """
    buffer = io.BytesIO()
    save_model(model, buffer)
    return buffer.getvalue()


def model_from_bytes(data: bytes):
    """A model rebuilt from :func:`model_to_bytes`'s archive, with no code execution.

    Args:
        data: the bytes :func:`model_to_bytes` returned.
    """
    return load_model(io.BytesIO(data))


def _cached_model(payload):
    """The model for ``payload`` (digest, bytes, compile config), rebuilt once per worker thread."""
    global REBUILDS
    digest, data, compile_config = payload
    key = (digest, threading.get_ident())
    with _cache_lock:
        model = _models.get(key)
    if model is None:
        model = model_from_bytes(data)
        if compile_config is not None:
            compile_from_config(model, json.loads(compile_config))
        with _cache_lock:
            _models[key] = model
            REBUILDS += 1
    return model


def _as_list(x, what):
    """(arrays, names): the model inputs as a list; names is None unless a dict was given."""
    if isinstance(x, dict):
        return list(x.values()), list(x)
    if isinstance(x, (list, tuple)):
        return list(x), None
    return [x], None


def _check_batch_size(batch_size):
    batch_size = 32 if batch_size is None else batch_size
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise invalid("batch_size", "a positive int", batch_size)
    return int(batch_size)


def _boundaries(chunks, rows, batch_size):
    """Chunk boundaries along the batch axis, each a multiple of ``batch_size``
    (the last one excepted), at or after the input's own boundaries."""
    edges, start = [0], 0
    for length in chunks:
        start += length
        aligned = -(-start // batch_size) * batch_size
        if aligned > edges[-1] and aligned < rows:
            edges.append(aligned)
    edges.append(rows)
    return sorted(set(edges))


def _prepare(model, x, batch_size):
    """Inputs rechunked along the batch axis on batch_size multiples, checked against the model."""
    import dask.array as da  # reason: optional dependency (npconv[dask])

    arrays, names = _as_list(x, "x")
    arrays = [v if is_dask_collection(v) else da.from_array(np.asarray(v)) for v in arrays]
    for i, array in enumerate(arrays):
        if array.ndim == 0:
            raise invalid("x", "arrays with a batch dimension", f"input {i} with shape ()")
        if any(np.isnan(n) for n in array.shape):
            raise invalid(
                "x",
                "dask arrays of known shape",
                f"input {i} with shape {array.shape}",
                "Call x.compute_chunk_sizes() first.",
            )
    rows = arrays[0].shape[0]
    if any(a.shape[0] != rows for a in arrays):
        raise invalid("x", "inputs with the same number of samples", [a.shape[0] for a in arrays])
    if rows == 0:
        raise invalid("x", "at least one sample", f"shape {arrays[0].shape}")
    edges = _boundaries(arrays[0].chunks[0], rows, batch_size)
    chunks = tuple(b - a for a, b in zip(edges, edges[1:]))
    arrays = [a.rechunk((chunks, *a.shape[1:])) for a in arrays]
    return arrays, names, edges


def _check_chunk(parts, expected, index, start, stop):
    """A chunk that is not what the graph declared is refused with its index and rows named."""
    for part, (shape, dtype) in zip(parts, expected):
        part_shape = tuple(np.shape(part))
        if part_shape != (stop - start, *shape):
            raise ValueError(
                f"Chunk {index} (samples {start} to {stop - 1}) has shape {part_shape}, but the dask array "
                f"declares {(stop - start, *shape)}. Fix the source of that chunk; no output was written."
            )
        kind = np.asarray(part).dtype
        if kind != dtype or kind.kind not in "fiub":
            raise ValueError(
                f"Chunk {index} (samples {start} to {stop - 1}) has dtype {kind.name}, but the dask array "
                f"declares {np.dtype(dtype).name}. Inputs must be numeric; fix the source of that chunk."
            )


def _predict_chunk(payload, index, start, stop, expected, batch_size, names, *parts):
    """One chunk's predictions, on a worker."""
    _check_chunk(parts, expected, index, start, stop)
    model = _cached_model(payload)
    inputs = parts[0] if len(parts) == 1 else (dict(zip(names, parts)) if names else list(parts))
    outputs = model.predict(inputs, batch_size=batch_size, verbose=0)
    return tuple(outputs) if isinstance(outputs, (list, tuple)) else outputs


def _output_specs(model, arrays, names):
    """[(shape without batch, dtype)] of the model's outputs, from a one-sample dry run."""
    sample = [np.zeros((1, *a.shape[1:]), dtype=a.dtype) for a in arrays]
    inputs = sample[0] if len(sample) == 1 else (dict(zip(names, sample)) if names else sample)
    outputs = model.predict(inputs, batch_size=1, verbose=0)
    several = isinstance(outputs, (list, tuple))
    return [(o.shape[1:], o.dtype) for o in (outputs if several else [outputs])], several


def _payload(model, compiled=False):
    """The model's bytes (and, for ``evaluate``, its compile settings as JSON) as
    one node of the task graph: whatever the scheduler, each worker receives it
    once (from the client, or from a worker that already holds it) and every
    chunk it runs reads the same copy."""
    import dask  # reason: optional dependency (npconv[dask])

    data = model_to_bytes(model)
    compile_config = None
    if compiled:
        compile_config = json.dumps(saved_compile_config(model))
    digest = hashlib.sha256(data + (compile_config or "").encode()).hexdigest()
    node = (digest, data, compile_config)
    return dask.delayed(node, pure=True, traverse=False, name=f"npconv-model-{digest[:16]}")


def predict(model, x, batch_size=None):
    """Lazy ``model.predict`` over dask arrays chunked along the batch axis.

    Args:
        model: a built npconv model (Sequential or Functional).
        x: a dask array ``(batch, ...)``, or a list/dict of them for several inputs.
        batch_size: rows per batch inside each chunk (default 32); chunks are
            cut on multiples of it so the results equal in-memory ``predict`` bit for bit.

    Returns:
        A dask array of the outputs (a list for several outputs), computed chunk
        by chunk on whatever scheduler is active when it is computed.

    Example:
        >>> y = model.predict(dask.array.from_array(x, chunks=(256, 28, 28, 1)))  # doctest: +SKIP
        >>> y.compute()  # doctest: +SKIP
    """
    import dask  # reason: optional dependency (npconv[dask])
    import dask.array as da

    batch_size = _check_batch_size(batch_size)
    if not getattr(model, "built", True):
        raise ValueError("This model has not yet been built. Build it (call it on data, or give an input shape) first.")
    arrays, names, edges = _prepare(model, x, batch_size)
    specs, several = _output_specs(model, arrays, names)
    payload = _payload(model)
    expected = [(a.shape[1:], a.dtype) for a in arrays]
    blocks = [a.to_delayed().ravel() for a in arrays]
    task = dask.delayed(_predict_chunk, pure=True)
    columns = [[] for _ in specs]
    for index, (start, stop) in enumerate(zip(edges, edges[1:])):
        result = task(payload, index, start, stop, expected, batch_size, names, *[b[index] for b in blocks])
        for k, (shape, dtype) in enumerate(specs):
            part = result[k] if several else result
            columns[k].append(da.from_delayed(part, shape=(stop - start, *shape), dtype=dtype))
    outputs = [da.concatenate(column, axis=0) for column in columns]
    return outputs if several else outputs[0]


def _evaluate_chunk(payload, index, start, stop, expected, batch_size, n_inputs, *parts):
    """One chunk's per-batch (total loss, per-output losses, predictions), on a
    worker, in the batches in-memory ``evaluate`` makes of the same rows."""
    _check_chunk(parts, expected, index, start, stop)
    model = _cached_model(payload)
    xs, ys = parts[:n_inputs], parts[n_inputs:]
    results = []
    for begin in range(0, stop - start, batch_size):
        rows = slice(begin, begin + batch_size)
        results.append(model._step([x[rows] for x in xs], [y[rows] for y in ys], None, training=False))
    return results


def evaluate(model, x, y, batch_size=None, return_dict=False):
    """``model.evaluate`` over dask arrays, with the forward passes and losses on the workers.

    Each worker rebuilds the model and its compile settings once, and returns,
    batch by batch, the losses and predictions; the metrics are then accumulated
    here in the same order as in-memory ``evaluate``, so the results are the same.

    Args:
        model: a compiled npconv model.
        x: a dask array (or a list/dict of them), chunked along the batch axis.
        y: the targets, a dask or NumPy array (a list/dict for several outputs).
        batch_size: samples per batch (default 32).
        return_dict: as ``Model.evaluate``.
    """
    import dask  # reason: optional dependency (npconv[dask])
    import dask.array as da

    model._require_compiled("evaluate")
    batch_size = _check_batch_size(batch_size)
    ys = model._flatten_targets(y if is_dask_collection(y) else y)
    if any(target is None for target in ys):
        raise invalid("y", "a target for every output", "None for an output")
    ys = [t if is_dask_collection(t) else da.from_array(np.asarray(t)) for t in ys]
    inputs, names = _as_list(x, "x")
    arrays, _, edges = _prepare(model, [*inputs, *ys], batch_size)
    expected = [(a.shape[1:], a.dtype) for a in arrays]
    payload = _payload(model, compiled=True)
    blocks = [a.to_delayed().ravel() for a in arrays]
    task = dask.delayed(_evaluate_chunk, pure=True)
    chunks = [
        (
            task(payload, i, start, stop, expected, batch_size, len(inputs), *[b[i] for b in blocks]),
            blocks[len(inputs) :],
            i,
        )
        for i, (start, stop) in enumerate(zip(edges, edges[1:]))
    ]
    model._reset_metrics()
    for first in range(0, len(chunks), _WINDOW):  # a window of chunks runs in parallel, in bounded memory
        window = chunks[first : first + _WINDOW]
        computed = dask.compute(*[(results, [b[i] for b in target_blocks]) for results, target_blocks, i in window])
        for batches, targets in computed:
            for number, result in enumerate(batches):
                rows = slice(number * batch_size, (number + 1) * batch_size)
                part = [t[rows] for t in targets]
                model._update(result, part, len(part[0]))
    return model._result(model._logs(), return_dict)


def local_cluster(n_workers: int = 2, threads: int | None = None, **kwargs):
    """A ``distributed.LocalCluster`` of processes whose workers × threads fit the cores.

    Each worker gets one Dask thread and ``threads`` compute threads (default:
    the cores divided by ``n_workers``), set before its process starts through
    ``OMP_NUM_THREADS`` and the BLAS variables, so no core is oversubscribed.

    Args:
        n_workers: how many worker processes.
        threads: compute threads per worker (default: the cores divided by
            ``n_workers``, at least 1).
        **kwargs: passed on to ``distributed.LocalCluster``.
    """
    from distributed import LocalCluster  # reason: optional dependency (npconv[dask])

    threads = threads or max(1, (os.cpu_count() or 1) // max(1, n_workers))
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    options = {
        "n_workers": n_workers,
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": None,
        "env": env,
    }
    options.update(kwargs)
    return LocalCluster(**options)
