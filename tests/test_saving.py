"""Saving and loading: atomic writes, refusals that name the file, bounded loading.

The bad-file corpus comes from tests/bad_files.py. For each file and each
loader that must refuse it, the test checks: one plain ValueError naming the
file (never a raw zipfile/JSON/NumPy exception, never a hint to load with
``allow_pickle``), a measured peak of traced memory (``tracemalloc`` sees
every NumPy buffer) under ``PEAK_BOUND``, no new file anywhere near the
corpus, and the target model's weights unchanged.
"""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zipfile

import bad_files
import numpy as np
import pytest

import npconv
from npconv import layers

MiB = 2**20
PEAK_BOUND = 8 * MiB  # the largest corpus file is under 0.3 MiB; the bomb declares 128 MiB


def peak_during(fn):
    """(exception raised by fn or None, peak traced bytes while it ran)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        try:
            fn()
            error = None
        except Exception as raised:  # noqa: BLE001 - the test inspects it
            error = raised
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return error, peak


def listing(directory):
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    return root, bad_files.write_corpus(root / "files")


CASES = [(kind, loader) for kind, (_, loaders, _) in bad_files.corpus().items() for loader in loaders]


def test_corpus_has_every_kind_of_damage():
    kinds = set(bad_files.corpus())
    for required in (
        "zip_bomb",
        "header_lies_about_size",
        "path_traversal_member",
        "object_dtype",
        "unknown_class",
        "deep_json_config",
        "truncated_model",
        "duplicate_members_model",
    ):
        assert required in kinds


def test_corpus_script_writes_one_file_per_kind(tmp_path):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bad_files.py")
    root = os.path.dirname(os.path.dirname(script))
    env = {**os.environ, "PYTHONPATH": root}
    result = subprocess.run(
        [sys.executable, script, str(tmp_path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(name for name, _, _ in bad_files.corpus().values())


@pytest.mark.parametrize("kind, loader", CASES, ids=[f"{kind}-{loader}" for kind, loader in CASES])
def test_bad_file_is_refused_cleanly(corpus, kind, loader):
    root, files = corpus
    path, _ = files[kind]
    target = bad_files.target_model(seed=1)
    before = target.get_weights()
    files_before = listing(root.parent)
    if loader == "load_model":
        error, peak = peak_during(lambda: npconv.models.load_model(path))
    else:
        error, peak = peak_during(lambda: target.load_weights(path))
    assert type(error) is ValueError, f"{kind}: {type(error).__name__}: {error}"
    message = str(error)
    assert str(path) in message and "allow_pickle" not in message
    assert error.__cause__ is None and error.__suppress_context__
    assert peak < PEAK_BOUND, f"{kind}: peak {peak / MiB:.1f} MiB"
    assert listing(root.parent) == files_before  # a traversal would land in root.parent
    for a, b in zip(before, target.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kind, words",
    [
        ("zip_bomb", "zip bomb"),
        ("header_lies_about_size", "but holds 16 bytes"),
        ("path_traversal_member", "unexpected member '../../escaped.txt'"),
        ("object_dtype", "never pickled objects"),
        ("unknown_class", "Unknown layer class_name='Lambda'"),
        ("huge_weights_in_config", "shapes [[3, 3, 3, 4], [4], [4, 2], [2]], but the model"),
        ("deep_json_config", "nests deeper than"),
        ("json_with_a_million_values", "JSON values; the limit is"),
        ("json_key_given_twice", "repeats the key 'trainable' in one object"),
        ("duplicate_members_model", "'config.json' more than once"),
        ("manifest_is_a_number", "holds int, not a list"),
        ("manifest_of_strings", "entry 0 is not a"),
        ("manifest_without_shape", "entry 0 is not a"),
        ("config_not_utf8", "not valid UTF-8"),
        ("hdf5_renamed", "HDF5 file"),
        ("metadata_not_npconv", '"format": "npconv"'),
        ("metadata_future_version", "format version 99"),
        ("trainable_no", 'trainable="no"'),
    ],
)
def test_refusal_says_what_is_wrong(corpus, kind, words):
    _, files = corpus
    path, loaders = files[kind]
    with pytest.raises(ValueError) as raised:
        if "load_model" in loaders:
            npconv.models.load_model(path)
        else:
            bad_files.target_model().load_weights(path)
    assert words in str(raised.value)


# ----------------------------------------------------------------- round trips
def test_round_trip_keeps_values_config_and_outputs(tmp_path, rng):
    model = bad_files.target_model()
    model.set_weights([rng.standard_normal(w.shape).astype(w.dtype) for w in model.weights])
    model.save(tmp_path / "m.npconv")
    loaded = npconv.models.load_model(tmp_path / "m.npconv")
    assert loaded.get_config() == model.get_config()
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert a.dtype == b.dtype and a.flags.c_contiguous and b.flags.writeable
        np.testing.assert_array_equal(a, b)
    x = rng.standard_normal((3, 6, 6, 3))
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_model_file_stores_weights_uncompressed_and_reads_them_in_place(tmp_path):
    model = bad_files.target_model()
    model.save(tmp_path / "m.npconv")
    with zipfile.ZipFile(tmp_path / "m.npconv") as archive:
        assert archive.getinfo("model.weights.npz").compress_type == zipfile.ZIP_STORED
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.npz"]
        assert json.loads(archive.read("metadata.json")) == {"format": "npconv", "version": 1}


def test_loading_allocates_the_weights_once(tmp_path):
    """Peak traced memory while loading a 32 MiB model stays near 32 MiB: each array
    is read straight into the array that becomes the weight (no second copy, and no
    initialised weights thrown away)."""
    npconv.utils.set_random_seed(0)
    model = npconv.Sequential([npconv.Input((2048,)), layers.Dense(4096)])  # 32 MiB of float32
    model.save(tmp_path / "big.npconv")
    model.save_weights(tmp_path / "big.weights.npz")
    size = sum(w.value.nbytes for w in model.weights)
    loaded = []
    error, peak = peak_during(lambda: loaded.append(npconv.models.load_model(tmp_path / "big.npconv")))
    assert error is None
    assert peak < size + 4 * MiB, f"{peak / MiB:.1f} MiB for {size / MiB:.1f} MiB of weights"
    error, peak = peak_during(lambda: loaded[0].load_weights(tmp_path / "big.weights.npz"))
    assert error is None
    assert peak < size + 4 * MiB, f"{peak / MiB:.1f} MiB for {size / MiB:.1f} MiB of weights"


def test_load_weights_reads_the_weights_of_a_model_file_as_keras_does(tmp_path, rng):
    model = bad_files.target_model()
    model.save(tmp_path / "m.npconv")
    other = bad_files.target_model(seed=5)
    other.load_weights(tmp_path / "m.npconv")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_model_on_a_weights_file_says_what_it_is(tmp_path):
    model = bad_files.target_model()
    model.save_weights(tmp_path / "w.weights.npz")
    with pytest.raises(
        ValueError, match=r"it is a weights file \(from save_weights\); read it with model.load_weights"
    ):
        npconv.models.load_model(tmp_path / "w.weights.npz")


def test_weights_written_by_an_older_deflated_model_file_still_load(tmp_path):
    """A model file whose weights member is compressed is read once, within the limits."""
    model = bad_files.target_model()
    model.save(tmp_path / "m.npconv")
    with zipfile.ZipFile(tmp_path / "m.npconv") as source:
        members = {name: source.read(name) for name in source.namelist()}
    with zipfile.ZipFile(tmp_path / "old.npconv", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    loaded = npconv.models.load_model(tmp_path / "old.npconv")
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------- refused saves
def test_unbuilt_model_cannot_be_saved(tmp_path):
    model = npconv.Sequential([layers.Dense(2)])
    for method, name in (("save", "m.npconv"), ("save_weights", "w.weights.npz")):
        with pytest.raises(ValueError, match=rf"{method}\(\) on model '{model.name}', which has not yet been built"):
            getattr(model, method)(tmp_path / name)
    assert listing(tmp_path) == []


def test_save_paths_must_carry_their_format_suffix(tmp_path):
    model = bad_files.target_model()
    with pytest.raises(
        ValueError, match=r"save_weights\(\) writes a path ending in '.weights.npz'; use model.save\(\)"
    ):
        model.save_weights(tmp_path / "w.npconv")
    with pytest.raises(ValueError, match=r"save\(\) writes a path ending in '.npconv'"):
        model.save(tmp_path / "m.weights.npz")
    assert listing(tmp_path) == []


def test_failed_save_leaves_the_old_file_byte_identical(tmp_path):
    model = bad_files.target_model()
    path = tmp_path / "m.npconv"
    model.save(path)
    old = path.read_bytes()
    model.layers[0].activation = lambda x: x  # a Python function cannot go in a config
    with pytest.raises(ValueError, match="Only npconv's built-in activations have a name to save"):
        model.save(path)
    assert path.read_bytes() == old
    assert listing(tmp_path) == ["m.npconv"]
    npconv.models.load_model(path)


def test_failed_weights_save_leaves_the_old_file_byte_identical(tmp_path, monkeypatch):
    model = bad_files.target_model()
    path = tmp_path / "w.weights.npz"
    model.save_weights(path)
    old = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", disk_full)
    with pytest.raises(OSError, match="No space left"):
        model.save_weights(path)
    assert path.read_bytes() == old and listing(tmp_path) == ["w.weights.npz"]


def test_model_checkpoint_refuses_a_path_of_the_wrong_kind_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"'.weights.npz'"):
        npconv.callbacks.ModelCheckpoint(str(tmp_path / "w.npconv"), save_weights_only=True)
    with pytest.raises(ValueError, match=r"'.npconv'"):
        npconv.callbacks.ModelCheckpoint(str(tmp_path / "epoch{epoch}.weights.npz"))


def test_model_checkpoint_failure_keeps_the_previous_checkpoint(tmp_path, rng):
    x, y = rng.standard_normal((8, 6, 6, 3)), rng.standard_normal((8, 4, 4, 2))
    model = bad_files.target_model()
    model.compile("sgd", "mse")
    path = tmp_path / "best.npconv"
    checkpoint = npconv.callbacks.ModelCheckpoint(str(path), monitor="loss")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    old = path.read_bytes()
    identity = lambda v: v  # noqa: E731 - trainable, but a Python function has no name to save
    identity.gradient = lambda x, y, dy: dy
    model.layers[0].activation = identity
    with pytest.raises(ValueError, match="built-in activations"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    assert path.read_bytes() == old and listing(tmp_path) == ["best.npconv"]


# ---------------------------------------------------------- killed mid-save
_SAVER = textwrap.dedent(
    """
    import sys
    import npconv
    from npconv import layers

    npconv.utils.set_random_seed(1)
    model = npconv.Sequential([npconv.Input((2048,)), layers.Dense(4096)])  # 32 MiB of float32
    print("ready", flush=True)
    while True:
        getattr(model, sys.argv[1])(sys.argv[2])
    """
)


@pytest.mark.parametrize("method, name", [("save", "m.npconv"), ("save_weights", "w.weights.npz")])
def test_killed_save_leaves_the_old_file_loadable(tmp_path, method, name):
    npconv.utils.set_random_seed(0)
    model = npconv.Sequential([npconv.Input((2048,)), layers.Dense(4096)])
    path = tmp_path / name
    getattr(model, method)(path)
    old = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", _SAVER, method, str(path)], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until a temporary file is being filled
            partial = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp") and p.stat().st_size > 0]
            if partial:
                break
            time.sleep(0.005)
        assert partial, "the child never started writing"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert path.read_bytes() == old
    if method == "save":
        loaded = npconv.models.load_model(path)
    else:
        loaded = npconv.Sequential([npconv.Input((2048,)), layers.Dense(4096)])
        loaded.load_weights(path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_file_objects_round_trip_in_memory(rng):
    model = bad_files.target_model()
    model.set_weights([rng.standard_normal(w.shape).astype(w.dtype) for w in model.weights])
    whole, weights = io.BytesIO(), io.BytesIO()
    model.save(whole)
    model.save_weights(weights)
    loaded = npconv.models.load_model(io.BytesIO(whole.getvalue()))
    other = bad_files.target_model(seed=3)
    other.load_weights(io.BytesIO(weights.getvalue()))
    for a, b, c in zip(model.get_weights(), loaded.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match=r"Cannot load '<BytesIO>': it is not a readable zip archive"):
        npconv.models.load_model(io.BytesIO(b"junk"))


def test_unbuilt_model_cannot_load_weights(tmp_path):
    bad_files.target_model().save_weights(tmp_path / "w.weights.npz")
    with pytest.raises(ValueError, match=r"load_weights\(\) on model .* not yet been built"):
        npconv.Sequential([layers.Dense(2)]).load_weights(tmp_path / "w.weights.npz")


@pytest.mark.parametrize("kind", ["model", "weights"])
def test_random_corruption_is_refused_or_harmless(kind):
    """Seeded fuzz: random byte changes and truncations of a good file either raise a plain
    ValueError, with the target unchanged, or load exactly the original values (the
    change hit bytes that carry no data, such as a timestamp)."""
    model = bad_files.target_model()
    buffer = io.BytesIO()
    (model.save if kind == "model" else model.save_weights)(buffer)
    good = buffer.getvalue()
    rnd = np.random.default_rng(7)
    target = bad_files.target_model(seed=1)
    before = target.get_weights()
    for _ in range(150):
        data = bytearray(good)
        for index in rnd.integers(0, len(data), rnd.integers(1, 5)):
            data[index] = rnd.integers(0, 256)
        if rnd.random() < 0.2:
            data = data[: rnd.integers(0, len(data))]
        try:
            if kind == "model":
                loaded = npconv.models.load_model(io.BytesIO(bytes(data))).get_weights()
            else:
                target.load_weights(io.BytesIO(bytes(data)))
                loaded = target.get_weights()
                target.set_weights(before)
        except ValueError as error:
            assert type(error) is ValueError and "Cannot load" in str(error)
            for a, b in zip(before, target.get_weights()):
                np.testing.assert_array_equal(a, b)
            continue
        for a, b in zip(model.get_weights(), loaded):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ compile state
def _compiled_model(optimizer):
    model = bad_files.target_model()
    model.compile(optimizer, "mse", metrics=["mae"])
    return model


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: npconv.optimizers.Adam(1e-2),
        lambda: npconv.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        lambda: npconv.optimizers.RMSprop(1e-3, momentum=0.5, centered=True),
        lambda: npconv.optimizers.Adam(npconv.optimizers.schedules.ExponentialDecay(0.01, 2, 0.5), amsgrad=True),
    ],
)
def test_loaded_model_continues_training_exactly_where_it_stopped(tmp_path, rng, optimizer):
    x, y = rng.standard_normal((16, 6, 6, 3)), rng.standard_normal((16, 4, 4, 2))
    model = _compiled_model(optimizer())
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    model.save(tmp_path / "m.npconv")
    loaded = npconv.models.load_model(tmp_path / "m.npconv")
    assert loaded.compiled and loaded.optimizer.iterations == model.optimizer.iterations == 8
    assert type(loaded.optimizer) is type(model.optimizer)
    for a, b in zip(model.optimizer.get_weights(), loaded.optimizer.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_model_compile_false_returns_it_uncompiled(tmp_path, rng):
    model = _compiled_model("adam")
    model.fit(rng.standard_normal((4, 6, 6, 3)), rng.standard_normal((4, 4, 4, 2)), epochs=1, verbose=0)
    model.save(tmp_path / "m.npconv")
    loaded = npconv.models.load_model(tmp_path / "m.npconv", compile=False)
    assert not loaded.compiled
    with pytest.raises(RuntimeError, match=r"compile\(\) before evaluate"):
        loaded.evaluate(np.zeros((1, 6, 6, 3)), np.zeros((1, 4, 4, 2)))


def test_compiled_but_untrained_model_round_trips_without_optimizer_state(tmp_path):
    model = _compiled_model("sgd")
    model.save(tmp_path / "m.npconv")
    with zipfile.ZipFile(tmp_path / "m.npconv") as archive:
        assert "compile.json" in archive.namelist() and "optimizer.weights.npz" not in archive.namelist()
    loaded = npconv.models.load_model(tmp_path / "m.npconv")
    assert loaded.compiled and loaded.optimizer.iterations == 0


def test_optimizer_state_of_the_wrong_shape_is_refused(tmp_path, rng):
    model = _compiled_model("adam")
    model.fit(rng.standard_normal((4, 6, 6, 3)), rng.standard_normal((4, 4, 4, 2)), epochs=1, verbose=0)
    model.save(tmp_path / "m.npconv")
    with zipfile.ZipFile(tmp_path / "m.npconv") as source:
        members = {name: source.read(name) for name in source.namelist()}
    # a state for SGD (no slots) where the config says Adam
    sgd = _compiled_model("sgd")
    sgd.fit(rng.standard_normal((4, 6, 6, 3)), rng.standard_normal((4, 4, 4, 2)), epochs=1, verbose=0)
    sgd.save(tmp_path / "sgd.npconv")
    with zipfile.ZipFile(tmp_path / "sgd.npconv") as source:
        members["optimizer.weights.npz"] = source.read("optimizer.weights.npz")
    with zipfile.ZipFile(tmp_path / "mixed.npconv", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match=r"mixed.npconv.*optimizer 'adam' of the model"):
        npconv.models.load_model(tmp_path / "mixed.npconv")
    assert npconv.models.load_model(tmp_path / "mixed.npconv", compile=False).get_config() == model.get_config()
