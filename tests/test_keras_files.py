"""Keras's own files, with real Keras 3 as the oracle: .keras, legacy .h5, .weights.h5 (sharded too).

Files Keras writes load in npconv with Keras's predictions; files npconv writes load in
Keras with npconv's predictions; a model trained in Keras continues training in npconv
exactly as it would have in Keras, optimizer state included.
"""

import json
import os
import zipfile

import numpy as np
import pytest

import npconv
from npconv.saving.inspect import inspect_file

RTOL = 1e-4


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(b).max(), 1e-6)
    assert np.abs(a - b).max() <= rtol * scale, f"max diff {np.abs(a - b).max()} vs scale {scale}"


def _keras_convnet(keras):
    return keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.DepthwiseConv2D(3, strides=2),
            keras.layers.SeparableConv2D(5, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def _npconv_convnet():
    L = npconv.layers
    return npconv.Sequential(
        [
            npconv.Input((12, 12, 3)),
            L.Conv2D(6, 3, padding="same", activation="relu"),
            L.BatchNormalization(),
            L.DepthwiseConv2D(3, strides=2),
            L.SeparableConv2D(5, 3, padding="same", activation="relu"),
            L.MaxPooling2D(),
            L.Conv2DTranspose(4, 3, strides=2, padding="same"),
            L.GlobalAveragePooling2D(),
            L.Dropout(0.2),
            L.Dense(3, activation="softmax"),
        ]
    )


@pytest.fixture(scope="module")
def trained(keras, tmp_path_factory):
    """A Keras conv net trained a few steps (so BatchNormalization's statistics moved), saved every way."""
    directory = tmp_path_factory.mktemp("keras_files")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 12, 12, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=16)
    model = _keras_convnet(keras)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    paths = {kind: str(directory / f"model{kind}") for kind in (".keras", ".h5", ".weights.h5")}
    model.save(paths[".keras"])
    model.save(paths[".h5"])
    model.save_weights(paths[".weights.h5"])
    return model, x, y, paths, directory


def test_keras_archive_loads_with_keras_predictions_and_compile_state(keras, trained):
    model, x, _, paths, _ = trained
    loaded = npconv.models.load_model(paths[".keras"])
    _close(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.compiled and type(loaded.optimizer).__name__ == "Adam"
    assert loaded.optimizer.iterations == int(model.optimizer.iterations.numpy()) == 4
    for ours, theirs in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(ours.value, theirs.numpy())
    assert not npconv.models.load_model(paths[".keras"], compile=False).compiled


def test_legacy_h5_loads_with_keras_predictions(keras, trained):
    model, x, _, paths, _ = trained
    loaded = npconv.models.load_model(paths[".h5"])
    _close(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.optimizer.iterations == 4  # training_config and optimizer_weights restored
    for ours, theirs in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(ours.value, theirs.numpy())


def test_weights_h5_into_a_model_built_in_npconv(keras, trained):
    model, x, _, paths, _ = trained
    ours = _npconv_convnet()
    ours.load_weights(paths[".weights.h5"])
    _close(ours.predict(x, verbose=0), model.predict(x, verbose=0))
    other = _npconv_convnet()  # legacy .h5 weights through load_weights too
    other.load_weights(paths[".h5"])
    _close(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_sharded_weights_both_ways(keras, trained):
    model, x, _, _, directory = trained
    index = str(directory / "sharded.weights.json")
    model.save_weights(index, max_shard_size=0.000001)
    shards = sorted(f for f in os.listdir(directory) if f.startswith("sharded_"))
    assert len(shards) > 1
    ours = _npconv_convnet()
    ours.load_weights(index)
    _close(ours.predict(x, verbose=0), model.predict(x, verbose=0))
    # npconv's sharded save loads in Keras.
    mine = str(directory / "mine.weights.json")
    ours.save_weights(mine, max_shard_size=0.000001)
    assert len([f for f in os.listdir(directory) if f.startswith("mine_")]) > 1
    again = _keras_convnet(keras)
    again.load_weights(mine)
    _close(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_shards_are_read_only_from_the_index_directory(trained, tmp_path):
    _, _, _, _, directory = trained
    index = json.loads((directory / "sharded.weights.json").read_text())
    key = next(iter(index["weight_map"]))
    index["weight_map"][key] = ["../elsewhere/evil.weights.h5"]
    bad = tmp_path / "bad.weights.json"
    bad.write_text(json.dumps(index))
    model = _npconv_convnet()
    before = model.get_weights()
    with pytest.raises(ValueError, match="own directory"):
        model.load_weights(str(bad))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_npconv_sequential_saved_as_keras_loads_in_keras(keras, trained, tmp_path):
    model, x, y, paths, _ = trained
    ours = npconv.models.load_model(paths[".keras"])
    ours.train_on_batch(x[:8], y[:8])
    path = str(tmp_path / "ours.keras")
    ours.save(path)
    assert zipfile.ZipFile(path).namelist() == ["metadata.json", "config.json", "model.weights.h5"]
    theirs = keras.saving.load_model(path)
    _close(theirs.predict(x, verbose=0), ours.predict(x, verbose=0))
    assert int(theirs.optimizer.iterations.numpy()) == ours.optimizer.iterations == 5
    for a, b in zip(theirs.optimizer.variables, ours.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.value)
    # and the weights file alone, compiled state included, as Keras writes it
    weights = str(tmp_path / "ours.weights.h5")
    ours.save_weights(weights)
    fresh = _keras_convnet(keras)
    fresh.load_weights(weights)
    _close(fresh.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_padding_mode_keras_lacks_is_refused_for_keras_files(tmp_path):
    model = npconv.Sequential(
        [npconv.Input((6, 6, 1)), npconv.layers.Conv2D(2, 3, padding="same", padding_mode="reflect")]
    )
    target = tmp_path / "x.keras"
    with pytest.raises(ValueError, match="padding_mode='reflect'.*npconv"):
        model.save(str(target))
    assert not target.exists() and not list(tmp_path.iterdir())


def test_training_continues_as_in_keras(keras, tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(5, 8, 8, 2)).astype(np.float32)
    y = rng.normal(size=(5, 3)).astype(np.float32)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(4, 3, activation="tanh"),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    for _ in range(3):
        model.train_on_batch(x, y)
    path = str(tmp_path / "trained.keras")
    model.save(path)
    ours = npconv.models.load_model(path)
    for _ in range(2):
        model.train_on_batch(x, y)
        ours.train_on_batch(x, y)
    assert ours.optimizer.iterations == 5
    for a, b in zip(ours.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_inspect_reports_what_keras_counts(keras, trained):
    model, _, _, paths, _ = trained
    for kind in (".keras", ".h5", ".weights.h5"):
        report = inspect_file(paths[kind])
        assert not report.refused, report.problems
        assert report.total_params == model.count_params()
    report = inspect_file(paths[".keras"])
    assert report.keras_version == keras.__version__
    assert [name for name, _, _ in report.layers] == [layer.name for layer in model.layers]
    assert [count for _, _, count in report.layers] == [layer.count_params() for layer in model.layers]
    assert report.optimizer == (model.optimizer.name, len(model.optimizer.variables))


def test_mismatched_weights_leave_the_model_unchanged(trained):
    _, _, _, paths, _ = trained
    model = npconv.Sequential([npconv.Input((12, 12, 3)), npconv.layers.Conv2D(6, 3, padding="same")])
    before = model.get_weights()
    with pytest.raises(ValueError, match="does not have"):
        model.load_weights(paths[".weights.h5"])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_inspect_cli_on_every_kind_of_file(trained, tmp_path, capsys):
    from npconv.cli.main import main

    model, _, _, paths, directory = trained
    native = tmp_path / "model.npconv"
    _npconv_convnet().save(str(native))
    sharded = str(directory / "sharded.weights.json")
    if not os.path.exists(sharded):
        model.save_weights(sharded, max_shard_size=0.000001)
    for path in (paths[".keras"], paths[".h5"], paths[".weights.h5"], sharded, str(native)):
        assert main(["inspect", path]) == 0
        out = capsys.readouterr().out
        assert f"Total params: {model.count_params():,}" in out
        assert "nothing refused" in out
    assert "Keras version: 3.15.1" in (main(["inspect", paths[".keras"]]), capsys.readouterr().out)[1]


def test_compiled_but_untrained_models_both_ways(keras, tmp_path):
    """Keras stores an optimizer that never stepped as iteration and learning_rate only."""
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    theirs.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    theirs.save(str(tmp_path / "k.keras"))
    ours = npconv.models.load_model(str(tmp_path / "k.keras"))
    assert not ours.optimizer.built and ours.optimizer.iterations == 0
    assert np.float32(ours.optimizer.learning_rate) == np.float32(0.02)
    ours.save(str(tmp_path / "n.keras"))
    again = keras.saving.load_model(str(tmp_path / "n.keras"))
    assert float(again.optimizer.learning_rate.numpy()) == pytest.approx(0.02)
    x = np.ones((3, 4), np.float32)
    _close(again.predict(x, verbose=0), ours.predict(x, verbose=0))
