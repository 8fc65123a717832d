"""``npconv predict MODEL INPUT --output OUT``: batch inference on Dask.

INPUT is an ``.npy`` file (memory-mapped) or a directory of ``.npy`` files,
taken in name order and stacked along the batch axis. Each task reads its own
rows from the file, so the input is never loaded whole, and no array travels in
the task graph. The output is an ``.npy`` file (or a ``.zarr`` store where zarr
is installed) that appears only once complete: it is written beside its final
path under a temporary name and then renamed.

Without ``--scheduler`` the work runs here, on Dask's threaded scheduler; with
``--scheduler ADDRESS`` it runs on that cluster (whose workers must see INPUT at
the same path, as on a shared file system).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import numpy as np

from ..distributed import predict
from ..models import load_model
from ..saving.atomic import atomic_path


def add_arguments(parser):
    parser.add_argument("model", help="a saved model (.npconv, or a Keras .keras/.h5 file)")
    parser.add_argument("input", help="an .npy file, or a directory of .npy files (stacked in name order)")
    parser.add_argument("--output", required=True, help="where to write the predictions (.npy, or .zarr)")
    parser.add_argument("--scheduler", default=None, help="a Dask scheduler address (default: run locally)")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per batch (default 32)")
    parser.add_argument("--chunk-size", type=int, default=None, help="samples per task (default: 32 batches)")


def _sources(path):
    """The input's .npy files in order, with their (shape, dtype) read from the headers."""
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".npy"))
        if not files:
            raise ValueError(
                f"Invalid value for argument `INPUT`. Expected .npy files in the directory. Received: {path!r}"
            )
    elif os.path.isfile(path) and path.endswith(".npy"):
        files = [path]
    else:
        raise ValueError(
            f"Invalid value for argument `INPUT`. Expected an .npy file or a directory of them. Received: {path!r}"
        )
    headers = []
    for file in files:
        array = np.load(file, mmap_mode="r", allow_pickle=False)
        headers.append((file, array.shape, array.dtype))
    first = headers[0]
    for file, shape, dtype in headers[1:]:
        if shape[1:] != first[1][1:] or dtype != first[2]:
            raise ValueError(
                f"Input file {file!r} holds samples of shape {shape[1:]} and dtype {dtype.name}, but "
                f"{first[0]!r} holds {first[1][1:]} and {first[2].name}. Every file must hold the same kind of sample."
            )
    return headers


def _read_rows(path, start, stop):
    return np.array(np.load(path, mmap_mode="r", allow_pickle=False)[start:stop])


def _lazy_input(headers, chunk):
    """One dask array over the files, chunk rows per task, read by the tasks themselves."""
    import dask  # reason: optional dependency (npconv[dask]), checked in run()
    import dask.array as da

    pieces = []
    for file, shape, dtype in headers:
        for start in range(0, shape[0], chunk):
            stop = min(start + chunk, shape[0])
            rows = dask.delayed(_read_rows, pure=True)(file, start, stop)
            pieces.append(da.from_delayed(rows, shape=(stop - start, *shape[1:]), dtype=dtype))
    return da.concatenate(pieces, axis=0)


def _write_npy(y, output, client):
    """Blocks written into a memory-mapped .npy under a temporary name, then renamed."""
    with atomic_path(output) as temporary:
        target = np.lib.format.open_memmap(temporary, mode="w+", dtype=y.dtype, shape=y.shape)
        offsets = [0]
        for n in y.chunks[0]:
            offsets.append(offsets[-1] + n)
        blocks = y.to_delayed().ravel()
        for index, block in _completed(blocks, client):
            target[offsets[index] : offsets[index + 1]] = block
        target.flush()
        del target


def _completed(blocks, client):
    """(index, array) for every block, as they finish, with Dask's progress bar."""
    if client is None:
        import dask  # reason: optional dependency (npconv[dask])
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):
            values = dask.compute(*blocks, scheduler="threads")
        yield from enumerate(values)
        return
    from distributed import as_completed, progress  # reason: optional dependency (npconv[dask])

    futures = client.compute(list(blocks))
    progress(futures)
    sys.stderr.write("\n")
    index_of = {future.key: i for i, future in enumerate(futures)}
    for future in as_completed(futures):
        yield index_of[future.key], future.result()
        future.release()


def _write_zarr(y, output):
    directory = os.path.dirname(os.path.abspath(output))
    temporary = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.", dir=directory)
    try:
        y.to_zarr(temporary, overwrite=True)
        if os.path.exists(output):
            shutil.rmtree(output)
        os.replace(temporary, output)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def run(args):
    try:
        import dask  # noqa: F401  (reason: optional dependency, refused here with the fix)
    except ImportError:
        raise ValueError("`npconv predict` needs Dask: pip install 'npconv[dask]'.") from None

    if args.batch_size <= 0:
        raise ValueError(
            f"Invalid value for argument `--batch-size`. Expected a positive int. Received: {args.batch_size}"
        )
    chunk = args.chunk_size or 32 * args.batch_size
    if chunk <= 0:
        raise ValueError(f"Invalid value for argument `--chunk-size`. Expected a positive int. Received: {chunk}")
    if args.output.endswith(".zarr"):
        try:
            import zarr  # noqa: F401  (reason: optional dependency, only for .zarr output)
        except ImportError:
            raise ValueError("A .zarr output needs zarr installed (pip install zarr); or write an .npy file.") from None
    elif not args.output.endswith(".npy"):
        raise ValueError(
            f"Invalid value for argument `--output`. Expected a path ending in .npy or .zarr. Received: {args.output!r}"
        )
    model = load_model(args.model)
    x = _lazy_input(_sources(args.input), chunk)
    client = None
    if args.scheduler:
        from distributed import Client  # reason: optional dependency (npconv[dask])

        client = Client(args.scheduler, timeout="30s")
    try:
        y = predict(model, x, batch_size=args.batch_size)
        if isinstance(y, list):
            raise ValueError(
                "`npconv predict` writes one array; this model has several outputs. Use model.predict in Python."
            )
        if args.output.endswith(".zarr"):
            _write_zarr(y, args.output)
        else:
            _write_npy(y, args.output, client)
    finally:
        if client is not None:
            client.close()
    print(f"wrote {args.output}: {y.shape[0]} predictions of shape {tuple(y.shape[1:])}, {y.dtype.name}")
    return 0
