"""Batch inference on Dask: lazy predict equals in-memory predict bit for bit, on
the threaded scheduler and on a LocalCluster of two worker processes (loopback),
survives a killed worker, refuses a bad chunk by name, and `npconv predict` runs
end to end. Every cluster operation is bounded by a timeout."""

import os
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import npconv  # noqa: E402
from npconv import distributed as npd  # noqa: E402
from npconv.cli.main import main  # noqa: E402
from npconv.layers import Conv2D, Dense, Flatten, MaxPooling2D  # noqa: E402
from npconv.models import Sequential  # noqa: E402

TIMEOUT = 120


def small_cnn(seed=0):
    npconv.utils.set_random_seed(seed)
    model = Sequential(
        [
            Conv2D(8, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
            MaxPooling2D(2),
            Conv2D(16, 3, activation="relu"),
            Flatten(),
            Dense(10, activation="softmax"),
        ]
    )
    model.build((None, 8, 8, 1))
    return model


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(1).standard_normal((203, 8, 8, 1)).astype("float32")


@pytest.fixture(scope="module")
def cluster():
    with npd.local_cluster(n_workers=2, threads=1) as cluster, distributed.Client(cluster, timeout="60s") as client:
        yield cluster, client


@pytest.mark.parametrize("chunk", [203, 64, 50, 7])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_threaded_predict_is_bit_identical(data, chunk, batch_size):
    model = small_cnn()
    expected = model.predict(data, batch_size=batch_size, verbose=0)
    lazy = model.predict(da.from_array(data, chunks=(chunk, 8, 8, 1)), batch_size=batch_size)
    assert isinstance(lazy, da.Array)
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    # every chunk but the last is a whole number of batches, so batches match in-memory predict's
    assert all(n % (batch_size or 32) == 0 for n in lazy.chunks[0][:-1])
    np.testing.assert_array_equal(lazy.compute(scheduler="threads"), expected)


def test_cluster_predict_is_bit_identical_and_ships_the_model_once(data, cluster):
    _, client = cluster
    model = small_cnn()
    expected = model.predict(data, verbose=0)
    lazy = model.predict(da.from_array(data, chunks=(32, 8, 8, 1)))
    assert lazy.numblocks[0] == 7  # more chunks than workers
    result = client.compute(lazy).result(timeout=TIMEOUT)
    np.testing.assert_array_equal(result, expected)
    rebuilds = client.run(lambda: __import__("npconv.distributed").distributed.REBUILDS)
    assert sum(rebuilds.values()) >= 1 and max(rebuilds.values()) <= 1, rebuilds  # once per worker, not per chunk
    # the workers' thread budget: one dask thread, cores // workers compute threads each
    threads = client.run(lambda: os.environ.get("OMP_NUM_THREADS"))
    assert set(threads.values()) == {"1"}


def test_killed_worker_is_rescheduled(data, cluster):
    _, client = cluster
    model = small_cnn(seed=3)
    big = np.concatenate([data] * 8)
    expected = model.predict(big, verbose=0)
    lazy = model.predict(da.from_array(big, chunks=(32, 8, 8, 1)))
    future = client.compute(lazy)
    deadline = time.monotonic() + TIMEOUT
    while sum(map(len, client.has_what().values())) < 4:  # some chunks done, most still to run
        assert time.monotonic() < deadline and not future.done()
        time.sleep(0.005)
    victim = sorted(client.scheduler_info()["workers"])[0]
    try:
        client.run(os._exit, 1, workers=[victim], wait=False)
    except Exception:  # the worker went away while answering
        pass
    np.testing.assert_array_equal(future.result(timeout=TIMEOUT), expected)
    client.wait_for_workers(2, timeout=TIMEOUT)  # the nanny restarts it


def test_bad_chunk_is_named(data):
    import dask

    model = small_cnn()
    good = da.from_array(data[:64], chunks=(32, 8, 8, 1))
    wrong = da.from_delayed(dask.delayed(np.zeros)((32, 8, 7, 1), "float32"), shape=(32, 8, 8, 1), dtype="float32")
    lazy = model.predict(da.concatenate([good, wrong]))
    with pytest.raises(ValueError, match=r"Chunk 2 \(samples 64 to 95\) has shape \(32, 8, 7, 1\)"):
        lazy.compute(scheduler="threads")
    strings = da.from_delayed(dask.delayed(np.full)((32, 8, 8, 1), "x"), shape=(32, 8, 8, 1), dtype="float32")
    with pytest.raises(ValueError, match=r"Chunk 2 \(samples 64 to 95\) has dtype"):
        model.predict(da.concatenate([good, strings])).compute(scheduler="threads")


def test_known_shape_mismatch_fails_before_any_work(data):
    model = small_cnn()
    with pytest.raises(ValueError):
        model.predict(da.from_array(np.zeros((10, 8, 12, 1), "float32"), chunks=5))


def test_batch_size_is_checked(data):
    with pytest.raises(ValueError, match="batch_size"):
        npd.predict(small_cnn(), da.from_array(data), batch_size=0)


def _model_and_input(tmp_path, data, split=False):
    model = small_cnn(seed=5)
    path = tmp_path / "m.npconv"
    model.save(str(path))
    if split:
        folder = tmp_path / "in"
        folder.mkdir()
        for i, start in enumerate(range(0, len(data), 70)):
            np.save(folder / f"part{i:02d}.npy", data[start : start + 70])
        return model, path, folder
    np.save(tmp_path / "x.npy", data)
    return model, path, tmp_path / "x.npy"


@pytest.mark.parametrize("split", [False, True])
def test_cli_runs_locally(tmp_path, data, split, capsys):
    model, path, source = _model_and_input(tmp_path, data, split)
    out = tmp_path / "y.npy"
    assert (
        main(["predict", str(path), str(source), "--output", str(out), "--batch-size", "16", "--chunk-size", "48"]) == 0
    )
    np.testing.assert_array_equal(np.load(out), model.predict(data, batch_size=16, verbose=0))
    assert "wrote" in capsys.readouterr().out


def test_cli_runs_on_the_cluster(tmp_path, data, cluster):
    scheduler, _ = cluster
    model, path, source = _model_and_input(tmp_path, data)
    out = tmp_path / "y.npy"
    args = ["predict", str(path), str(source), "--output", str(out), "--scheduler", scheduler.scheduler_address]
    assert main(args) == 0
    np.testing.assert_array_equal(np.load(out), model.predict(data, verbose=0))


def test_cli_leaves_no_partial_output(tmp_path, data, capsys):
    _, path, folder = _model_and_input(tmp_path, data, split=True)
    np.save(folder / "part99.npy", np.zeros((3, 8, 9, 1), "float32"))  # a sample of the wrong shape
    out = tmp_path / "y.npy"
    out.write_bytes(b"old")
    assert main(["predict", str(path), str(folder), "--output", str(out)]) == 2
    assert "part99.npy" in capsys.readouterr().err
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "m.npconv", "y.npy"]


def test_cli_failure_mid_run_keeps_the_old_file(tmp_path, data, monkeypatch):
    from npconv.cli import predict as cli_predict

    _, path, source = _model_and_input(tmp_path, data)
    out = tmp_path / "y.npy"
    out.write_bytes(b"old")
    calls = []

    def failing_read(file, start, stop):
        calls.append(start)
        if start >= 96:
            raise OSError("disk went away")
        return np.array(np.load(file, mmap_mode="r")[start:stop])

    monkeypatch.setattr(cli_predict, "_read_rows", failing_read)
    with pytest.raises(OSError, match="disk went away"):
        main(["predict", str(path), str(source), "--output", str(out), "--chunk-size", "32"])
    assert max(calls) >= 96
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npconv", "x.npy", "y.npy"]


@pytest.mark.parametrize("chunk", [64, 45])
def test_evaluate_matches_in_memory(data, chunk):
    model = small_cnn(seed=7)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    labels = np.random.default_rng(2).integers(0, 10, len(data))
    expected = model.evaluate(data, labels, batch_size=16, verbose=0, return_dict=True)
    lazy_x = da.from_array(data, chunks=(chunk, 8, 8, 1))
    result = model.evaluate(lazy_x, da.from_array(labels, chunks=chunk), batch_size=16, verbose=0, return_dict=True)
    assert result == expected


def test_evaluate_on_the_cluster(data, cluster):
    _, client = cluster
    model = small_cnn(seed=8)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    labels = np.random.default_rng(3).integers(0, 10, len(data))
    expected = model.evaluate(data, labels, verbose=0, return_dict=True)
    result = model.evaluate(da.from_array(data, chunks=(32, 8, 8, 1)), labels, verbose=0, return_dict=True)
    assert result == expected
