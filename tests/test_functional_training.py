"""Training conventions the keras.io examples use, against real Keras: fit on
a PyDataset-like object and on a generator, class_weight, loss_weights, the
learning-rate callbacks, CSVLogger, callbacks on evaluate/predict,
to_categorical; and the argument checks fit/predict make before any work."""

import csv

import numpy as np
import pytest

import npconv
from npconv import layers


def small_model(lib):
    inputs = lib.Input((4, 4, 2), name="x")
    h = lib.layers.Conv2D(3, 2, activation="relu", name="c")(inputs)
    h = lib.layers.Flatten(name="f")(h)
    return lib.Model(inputs, lib.layers.Dense(3, activation="softmax", name="d")(h), name="small")


def _pair(keras, lr=0.05, **compile_args):
    keras_model, ours = small_model(keras), small_model(npconv)
    ours.set_weights(keras_model.get_weights())
    compile_args.setdefault("loss", "sparse_categorical_crossentropy")
    keras_model.compile(optimizer=keras.optimizers.SGD(lr), **compile_args)
    ours.compile(optimizer=npconv.optimizers.SGD(lr), **compile_args)
    return keras_model, ours


def _data(rng, n=12):
    return rng.standard_normal((n, 4, 4, 2)).astype("float32"), rng.integers(0, 3, n)


def _close(keras_model, ours, rtol=2e-4):
    for expected, got in zip(keras_model.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=2e-6)


def _history_close(expected, got):
    assert set(got.history) == set(expected.history), (got.history, expected.history)
    for key, values in expected.history.items():
        np.testing.assert_allclose(got.history[key], values, rtol=2e-4, atol=1e-6, err_msg=key)


def test_fit_on_a_pydataset_like_object_matches_keras(keras, rng):
    x, y = _data(rng)

    class Batches:  # npconv needs only __len__ and __getitem__
        def __init__(self):
            self.epochs_ended = 0

        def __len__(self):
            return 3

        def __getitem__(self, index):
            part = slice(4 * index, 4 * index + 4)
            return x[part], y[part]

        def on_epoch_end(self):
            self.epochs_ended += 1

    class KerasBatches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            part = slice(4 * index, 4 * index + 4)
            return x[part], y[part]

    keras_model, ours = _pair(keras, metrics=["accuracy"])
    ours_data = Batches()
    expected = keras_model.fit(
        KerasBatches(), epochs=2, shuffle=False, verbose=0, validation_data=KerasBatches(), validation_steps=2
    )
    got = ours.fit(ours_data, epochs=2, shuffle=False, verbose=0, validation_data=Batches(), validation_steps=2)
    _history_close(expected, got)
    _close(keras_model, ours)
    assert ours_data.epochs_ended == 2


def test_fit_on_a_generator_with_steps_matches_keras(keras, rng):
    x, y = _data(rng)

    def batches():
        while True:
            for start in range(0, 12, 4):
                yield x[start : start + 4], y[start : start + 4]

    keras_model, ours = _pair(keras)
    expected = keras_model.fit(batches(), steps_per_epoch=2, epochs=3, verbose=0)
    got = ours.fit(batches(), steps_per_epoch=2, epochs=3, verbose=0)
    _history_close(expected, got)
    _close(keras_model, ours)
    predicted = ours.predict((b[0] for b in batches()), steps=2, verbose=0)
    np.testing.assert_allclose(predicted, ours.predict(x[:8], verbose=0), rtol=1e-6)
    assert ours.evaluate(batches(), steps=3, verbose=0) == pytest.approx(ours.evaluate(x, y, verbose=0), rel=1e-5)


def test_a_finite_generator_without_steps_runs_one_pass(rng):
    x, y = _data(rng)
    model = small_model(npconv)
    model.compile("sgd", "sparse_categorical_crossentropy")
    seen = []

    def batches():
        for start in range(0, 12, 4):
            seen.append(start)
            yield x[start : start + 4], y[start : start + 4]

    history = model.fit(batches(), epochs=3, verbose=0)
    assert seen == [0, 4, 8] and len(history.history["loss"]) == 1
    with pytest.raises(ValueError, match="argument `y`"):
        model.fit(batches(), y, verbose=0)
    with pytest.raises(ValueError, match="argument `validation_split`"):
        model.fit(batches(), validation_split=0.5, verbose=0)


def test_class_weight_matches_keras(keras, rng):
    x, y = _data(rng)
    weights = {0: 0.5, 1: 2.0, 2: 1.5}
    keras_model, ours = _pair(keras)
    expected = keras_model.fit(x, y, batch_size=4, epochs=2, shuffle=False, class_weight=weights, verbose=0)
    got = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, class_weight=weights, verbose=0)
    _history_close(expected, got)
    _close(keras_model, ours)
    one_hot = npconv.utils.to_categorical(y, 3)
    keras_model.compile(optimizer=keras.optimizers.SGD(0.05), loss="categorical_crossentropy")
    ours.compile(optimizer=npconv.optimizers.SGD(0.05), loss="categorical_crossentropy")
    np.testing.assert_allclose(
        ours.train_on_batch(x, one_hot, class_weight=weights),
        keras_model.train_on_batch(x, one_hot, class_weight=weights),
        rtol=1e-5,
    )
    _close(keras_model, ours)
    with pytest.raises(ValueError, match="argument `class_weight`"):
        ours.fit(x, y, class_weight={0: 1.0}, verbose=0)


def test_single_output_loss_weights_match_keras(keras, rng):
    x, y = _data(rng)
    keras_model, ours = _pair(keras, loss_weights=[3.0])
    for _ in range(2):
        np.testing.assert_allclose(ours.train_on_batch(x, y), keras_model.train_on_batch(x, y), rtol=1e-5)
    _close(keras_model, ours)
    with pytest.raises(ValueError, match="argument `loss_weights`"):
        ours.compile("sgd", "mse", loss_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="argument `loss_weights`"):
        ours.compile("sgd", "mse", loss_weights=-1.0)


def test_learning_rate_callbacks_match_keras(keras, rng, tmp_path):
    x, y = _data(rng)
    logs = {}
    for lib, model in zip((keras, npconv), _pair(keras, lr=0.1)):
        callbacks = [
            lib.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch in (1, 3) else lr),
            lib.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0, min_lr=0.004),
            lib.callbacks.CSVLogger(str(tmp_path / f"{lib.__name__}.csv")),
        ]
        logs[lib.__name__] = model.fit(x, y, batch_size=6, epochs=6, shuffle=False, callbacks=callbacks, verbose=0)
    _history_close(logs["keras"], logs["npconv"])
    assert logs["npconv"].history["learning_rate"][-1] == pytest.approx(0.004)
    rows = {}
    for name in ("keras", "npconv"):
        with open(tmp_path / f"{name}.csv") as file:
            rows[name] = list(csv.reader(file))
    assert rows["npconv"][0] == rows["keras"][0]
    assert len(rows["npconv"]) == len(rows["keras"]) == 7
    for k_row, row in zip(rows["keras"][1:], rows["npconv"][1:]):
        assert [v == "NA" for v in row] == [v == "NA" for v in k_row]
        numbers = [(float(a), float(b)) for a, b in zip(row, k_row) if b != "NA"]
        np.testing.assert_allclose(*zip(*numbers), rtol=2e-4)


def test_csv_logger_append_keeps_one_header(rng, tmp_path):
    x, y = _data(rng)
    model = small_model(npconv)
    model.compile("sgd", "sparse_categorical_crossentropy")
    path = tmp_path / "log.csv"
    model.fit(x, y, epochs=2, verbose=0, callbacks=[npconv.callbacks.CSVLogger(path)])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[npconv.callbacks.CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss,val_loss" and [line.split(",")[0] for line in lines[1:]] == ["0", "1", "0"]


def test_evaluate_and_predict_call_the_same_hooks_as_keras(keras, rng):
    x, y = _data(rng, n=10)
    calls = {}
    for lib, model in zip((keras, npconv), _pair(keras)):
        seen = calls[lib.__name__] = []

        class Recorder(lib.callbacks.Callback):
            pass

        recorder = Recorder()
        for hook in (
            "on_test_begin",
            "on_test_end",
            "on_test_batch_begin",
            "on_test_batch_end",
            "on_predict_begin",
            "on_predict_end",
            "on_predict_batch_begin",
            "on_predict_batch_end",
        ):
            setattr(recorder, hook, lambda *args, _hook=hook, _seen=seen, **kwargs: _seen.append(_hook))
        model.evaluate(x, y, batch_size=4, callbacks=[recorder], verbose=0)
        model.predict(x, batch_size=4, callbacks=[recorder], verbose=0)
    assert calls["npconv"] == calls["keras"]


def test_predict_steps_and_numpy_batch_size_match_keras(keras, rng):
    x, _ = _data(rng, n=10)
    keras_model, ours = _pair(keras)
    expected = keras_model.predict(x, batch_size=3, steps=2, verbose=0)
    got = ours.predict(x, batch_size=np.int64(3), steps=2, verbose=0)
    assert got.shape == expected.shape == (6, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="argument `steps`"):
        ours.predict(x, steps=0, verbose=0)


def test_to_categorical_matches_keras(keras):
    for labels, classes in (([0, 2, 1], None), ([[1], [3]], 5), (np.array([[0, 1], [2, 0]]), 3)):
        np.testing.assert_array_equal(
            npconv.utils.to_categorical(labels, classes), keras.utils.to_categorical(labels, classes)
        )
    with pytest.raises(ValueError, match="argument `x`"):
        npconv.utils.to_categorical([0, 3], 3)
    with pytest.raises(TypeError, match="argument `x`"):
        npconv.utils.to_categorical([0.5])


# --------------------------------------------------------------------------
# checks before any work
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "validation_data, message",
    [
        ((np.zeros((4, 4, 4, 3), "float32"), np.zeros(4, int)), "validation_data"),
        ((np.zeros((4, 4, 4, 2), "float32"), np.zeros(3, int)), "validation_data"),
        ((np.zeros((4, 4, 4, 2), "float32"),), "validation_data"),
        ((np.zeros((4, 4, 4, 2), "float32"), np.zeros((4, 7))), "validation_data"),
    ],
)
def test_bad_validation_data_fails_before_any_weight_changes(rng, validation_data, message):
    x, y = _data(rng)
    for model in (small_model(npconv), npconv.Sequential([npconv.Input((4, 4, 2)), layers.Flatten(), layers.Dense(3)])):
        model.compile("sgd", "sparse_categorical_crossentropy" if validation_data[-1].ndim == 1 else "mse")
        before = model.get_weights()
        with pytest.raises((ValueError, TypeError), match=message):
            model.fit(x, y if validation_data[-1].ndim == 1 else np.zeros((12, 3)), validation_data=validation_data,
                      verbose=0)  # fmt: skip
        for old, new in zip(before, model.get_weights()):
            np.testing.assert_array_equal(old, new)


def test_fit_argument_types(rng):
    x, y = _data(rng)
    model = small_model(npconv)
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(TypeError, match=r"argument `validation_split`.*'0.2'"):
        model.fit(x, y, validation_split="0.2", verbose=0)
    with pytest.raises(ValueError, match="argument `validation_split`"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="argument `steps_per_epoch`"):
        model.fit(x, y, steps_per_epoch=0, verbose=0)
    history = model.fit(x, y, batch_size=np.int64(4), epochs=np.int32(1), steps_per_epoch=2, verbose=0)
    assert len(history.history["loss"]) == 1
