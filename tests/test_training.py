"""Training against real Keras: the same model and initial weights, several
train_on_batch steps, and the loss, metrics and every weight compared after
each step. Then fit/evaluate/callbacks/saving behaviour and their errors."""

import numpy as np
import pytest

import npconv
from npconv import layers

# Keras is the same oracle for every npconv kernel backend, so each case runs in
# Keras once per session and its record is compared with every backend's run.
_KERAS_RUNS = {}


def _keras_run(keras, case, build, x, y, steps, after=None):
    """Keras's record of one case: its initial weights, then (logs, weights) after
    each ``train_on_batch`` step, then ``after(model)``. Cached by the case's name
    and data, so a second backend reuses the record."""
    key = (case, x.tobytes(), np.asarray(y).tobytes(), steps)
    if key not in _KERAS_RUNS:
        model = build(keras)
        initial = model.get_weights()
        record = []
        for _ in range(steps):
            logs = model.train_on_batch(x, y, return_dict=True)
            record.append(({k: float(v) for k, v in logs.items()}, model.get_weights()))
        _KERAS_RUNS[key] = (initial, record, after(model) if after else None)
    return _KERAS_RUNS[key]


def _compare(keras, case, build, x, y, steps=3, rtol=2e-4, after=None):
    """Train npconv's model (built by ``build``, starting from Keras's initial
    weights) for ``steps`` steps; the loss, metrics and every weight must match
    Keras's after each step. Returns (Keras's ``after`` result, npconv's model)."""
    initial, record, extra = _keras_run(keras, case, build, x, y, steps, after)
    ours = build(npconv)
    ours.set_weights(initial)
    for step, (expected, k_weights) in enumerate(record):
        got = ours.train_on_batch(x, y, return_dict=True)
        assert set(got) == set(expected), (got, expected)
        for key in expected:
            np.testing.assert_allclose(got[key], expected[key], rtol=rtol, atol=1e-6, err_msg=f"{key} at step {step}")
        for k_weight, weight in zip(k_weights, ours.get_weights()):
            np.testing.assert_allclose(weight, k_weight, rtol=rtol, atol=2e-5, err_msg=f"weights at step {step}")
    return extra, ours


def conv_model(lib, regularized=False, final_activation=None, final_filters=2):
    extra = {}
    if regularized:
        extra = dict(
            kernel_regularizer=lib.regularizers.L2(0.01),
            bias_regularizer=lib.regularizers.L1(0.02),
            activity_regularizer=lib.regularizers.L2(0.001),
            kernel_constraint=lib.constraints.MaxNorm(0.5),
        )
    return lib.Sequential(
        [
            lib.Input((6, 6, 3)),
            lib.layers.Conv2D(4, 3, padding="same", activation="relu", **extra),
            lib.layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="tanh"),
            lib.layers.DepthwiseConv2D(3, padding="valid"),
            lib.layers.Conv2D(final_filters, 1, activation=final_activation),
        ]
    )


def _data(rng, classes=None, shape=(8, 10, 10, 2)):
    x = rng.standard_normal((8, 6, 6, 3)).astype("float32")
    if classes is None:
        return x, rng.standard_normal(shape).astype("float32")
    return x, rng.integers(0, classes, shape[:-1])


OPTIMIZERS = [
    ("SGD", dict(learning_rate=0.05)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(learning_rate=0.01)),
    ("Adam", dict(learning_rate=0.01, amsgrad=True, clipnorm=0.5)),
    ("AdamW", dict(learning_rate=0.01, weight_decay=0.1)),
    ("RMSprop", dict(learning_rate=0.01)),
    ("RMSprop", dict(learning_rate=0.01, momentum=0.5, centered=True, clipvalue=0.01)),
    ("SGD", dict(learning_rate="schedule", global_clipnorm=1.0)),
]


@pytest.mark.parametrize("name, config", OPTIMIZERS)
def test_optimizers_match_keras(keras, name, config, rng):
    def optimizer(lib):
        kwargs = dict(config)
        if kwargs["learning_rate"] == "schedule":
            kwargs["learning_rate"] = lib.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
        return getattr(lib.optimizers, name)(**kwargs)

    def build(lib):
        model = conv_model(lib, regularized=True)
        model.compile(optimizer=optimizer(lib), loss="mse", metrics=["mae"])
        return model

    _compare(keras, ("optimizer", name, repr(config)), build, *_data(rng))


@pytest.mark.parametrize(
    "loss, activation, classes",
    [
        ("mean_absolute_error", None, None),
        ("huber", None, None),
        ("binary_crossentropy", "sigmoid", 2),
        ("categorical_crossentropy", "softmax", 3),
        ("sparse_categorical_crossentropy", "softmax", 3),
        ("sparse_categorical_crossentropy", None, 3),
    ],
)
def test_losses_match_keras(keras, loss, activation, classes, rng):
    filters = 1 if loss == "binary_crossentropy" else (classes or 2)

    def build(lib):
        model = conv_model(lib, final_activation=activation, final_filters=filters)
        loss_object = loss
        if activation is None and classes:
            loss_object = lib.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(
            optimizer=lib.optimizers.Adam(0.01), loss=loss_object, metrics=["accuracy"] if classes else ["mse"]
        )
        return model

    if classes is None:
        x, y = _data(rng)
    elif loss == "binary_crossentropy":
        x, y = _data(rng, 2, (8, 10, 10, 1))
        y = y[..., None].astype("float32")
    else:
        x, y = _data(rng, classes, (8, 10, 10, 1))
        if loss == "categorical_crossentropy":
            y = np.eye(classes, dtype="float32")[y]
    _compare(keras, ("loss", loss, activation, classes), build, x, y)


def test_test_on_batch_and_evaluate_match_keras(keras, rng):
    def build(lib):
        model = conv_model(lib, regularized=True)
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        return model

    x, y = _data(rng)

    def keras_results(model):
        return (
            model.test_on_batch(x, y, return_dict=True),
            model.evaluate(x, y, batch_size=3, verbose=0, return_dict=True),
        )

    (expected_batch, expected_evaluate), ours = _compare(
        keras, "test_on_batch", build, x, y, steps=0, after=keras_results
    )
    got = ours.test_on_batch(x, y, return_dict=True)
    for key in expected_batch:
        np.testing.assert_allclose(got[key], float(expected_batch[key]), rtol=1e-4)
    got = ours.evaluate(x, y, batch_size=3, verbose=0, return_dict=True)
    for key in expected_evaluate:
        np.testing.assert_allclose(got[key], float(expected_evaluate[key]), rtol=1e-4)


# ----------------------------------------------------------------------------
# fit, callbacks, saving
# ----------------------------------------------------------------------------
def small_model(seed=0):
    npconv.utils.set_random_seed(seed)
    model = npconv.Sequential([npconv.Input((6, 6, 3)), layers.Conv2D(4, 3, activation="relu"), layers.Conv2D(2, 4)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


def test_fit_history_and_validation(rng):
    x, y = rng.standard_normal((20, 6, 6, 3)), rng.standard_normal((20, 1, 1, 2))
    model = small_model()
    history = model.fit(x, y, epochs=3, batch_size=4, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert all(len(values) == 3 for values in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    # validation_split takes the last samples, as Keras does
    val = model.evaluate(x[15:], y[15:], verbose=0, return_dict=True)
    np.testing.assert_allclose(val["loss"], history.history["val_loss"][-1], rtol=1e-6)


def test_fit_is_reproducible_with_a_seed(rng):
    x, y = rng.standard_normal((16, 6, 6, 3)), rng.standard_normal((16, 1, 1, 2))
    runs = []
    for _ in range(2):
        model = small_model(seed=3)
        model.fit(x, y, epochs=2, batch_size=4, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_and_lambda_callback(rng):
    x, y = rng.standard_normal((8, 6, 6, 3)), rng.standard_normal((8, 1, 1, 2))
    model = small_model()
    seen = []
    stop = npconv.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)
    history = model.fit(
        x,
        y,
        epochs=10,
        verbose=0,
        callbacks=[stop, npconv.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))],
    )
    assert len(history.history["loss"]) == 2 and seen == [0, 1]


def test_model_checkpoint_and_save_load_round_trip(tmp_path, rng):
    x, y = rng.standard_normal((8, 6, 6, 3)), rng.standard_normal((8, 1, 1, 2))
    model = small_model()
    path = tmp_path / "epoch{epoch}.npconv"
    model.fit(x, y, epochs=2, verbose=0, callbacks=[npconv.callbacks.ModelCheckpoint(str(path), monitor="loss")])
    loaded = npconv.models.load_model(tmp_path / "epoch2.npconv")
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert loaded.get_config() == model.get_config()


def test_weights_file_round_trip_and_corrupt_file(tmp_path, rng):
    model = small_model()
    path = tmp_path / "w.weights.npz"
    model.save_weights(path)
    other = small_model(seed=1)
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    data = path.read_bytes()
    before = other.get_weights()
    for damaged in (data[: len(data) // 2], b"not a zip file", data[:-40]):
        path.write_bytes(damaged)
        with pytest.raises(ValueError, match="weights were not changed|not a readable"):
            other.load_weights(path)
        for a, b in zip(before, other.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_weights_file_for_another_model_is_rejected(tmp_path):
    path = tmp_path / "w.weights.npz"
    small_model().save_weights(path)
    other = npconv.Sequential([npconv.Input((6, 6, 3)), layers.Conv2D(3, 3)])
    before = other.get_weights()
    with pytest.raises(ValueError, match="holds 4 weights"):
        other.load_weights(path)
    for a, b in zip(before, other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_extension_picks_the_format(tmp_path):
    model = small_model()
    model.save(tmp_path / "model.keras")
    loaded = npconv.models.load_model(tmp_path / "model.keras")
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"writes Keras 3's '\.keras'"):
        model.save(tmp_path / "model.h5")
    assert not (tmp_path / "model.h5").exists()


def test_nan_loss_stops_training_and_keeps_weights(rng, capsys):
    x, y = rng.standard_normal((8, 6, 6, 3)), rng.standard_normal((8, 1, 1, 2))
    y[3] = np.nan
    model = small_model()
    before = model.get_weights()
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False)
    assert "the loss is nan" in capsys.readouterr().err
    assert history.history == {}
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_progress_bar_is_readable_in_logs(rng, capsys):
    x, y = rng.standard_normal((8, 6, 6, 3)), rng.standard_normal((8, 1, 1, 2))
    small_model().fit(x, y, epochs=2, batch_size=4, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("2/2 ") and "loss: " in lines[1] and "mae: " in lines[1]
    assert "\r" not in "".join(lines) and "\033" not in "".join(lines)


# ----------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------
def test_fit_before_compile():
    model = npconv.Sequential([npconv.Input((6, 6, 3)), layers.Conv2D(2, 3)])
    with pytest.raises(RuntimeError, match=r"compile\(\) before fit\(\)"):
        model.fit(np.ones((2, 6, 6, 3)), np.ones((2, 4, 4, 2)))


def test_mismatched_lengths(rng):
    with pytest.raises(ValueError, match=r"argument `y`.*Received: y='3 samples'"):
        small_model().fit(rng.standard_normal((4, 6, 6, 3)), rng.standard_normal((3, 1, 1, 2)), verbose=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_size=0), "argument `batch_size`"),
        (dict(epochs=-1), "argument `epochs`"),
        (dict(validation_split=1.5), "argument `validation_split`"),
        (dict(validation_split=0.9), "argument `validation_split`"),
        (dict(callbacks=[object()]), "argument `callbacks`"),
    ],
)
def test_fit_argument_errors(kwargs, match, rng):
    with pytest.raises((ValueError, TypeError), match=match):
        small_model().fit(rng.standard_normal((4, 6, 6, 3)), rng.standard_normal((4, 1, 1, 2)), verbose=0, **kwargs)


def test_sparse_labels_out_of_range(rng):
    model = npconv.Sequential([npconv.Input((6, 6, 3)), layers.Conv2D(3, 6, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="y_true"):
        model.train_on_batch(rng.standard_normal((2, 6, 6, 3)), np.array([[[0]], [[3]]]))


def cnn(lib, dropout=0.0):
    return lib.Sequential(
        [
            lib.Input((8, 8, 1)),
            lib.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_regularizer=lib.regularizers.L2(0.01)),
            lib.layers.BatchNormalization(),
            lib.layers.MaxPooling2D(2),
            lib.layers.Conv2D(6, 3, padding="same", activation="relu"),
            lib.layers.AveragePooling2D(2, padding="same"),
            lib.layers.Flatten(),
            lib.layers.Dropout(dropout),
            lib.layers.Dense(5, activation="softmax", kernel_constraint=lib.constraints.UnitNorm()),
        ]
    )


def test_cnn_with_batchnorm_pooling_dense_matches_keras(keras, rng):
    """BatchNormalization in training (steps) and inference (evaluate), with
    pooling, Flatten, Dropout(0) and a softmax Dense head."""

    def build(lib):
        model = cnn(lib)
        model.compile(optimizer=lib.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    x = rng.standard_normal((16, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 5, 16)

    def keras_evaluate(model):
        return model.evaluate(x, y, verbose=0, return_dict=True)

    expected, ours = _compare(keras, "cnn", build, x, y, steps=4, after=keras_evaluate)
    got = ours.evaluate(x, y, verbose=0, return_dict=True)
    for key in expected:
        np.testing.assert_allclose(got[key], float(expected[key]), rtol=2e-4)


def test_dropout_is_active_only_in_training(rng):
    npconv.utils.set_random_seed(0)
    model = cnn(npconv, dropout=0.5)
    x = rng.standard_normal((4, 8, 8, 1))
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not np.allclose(model(x, training=True), model(x, training=True))


# Every test here runs once per kernel backend (conftest.py).
pytestmark = pytest.mark.usefixtures("npconv_backend")
