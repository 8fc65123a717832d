"""keras.applications models and Functional/nested models through Keras's own files.

Keras builds each model (``weights=None``, a fixed seed), saves it as ``.keras`` (and
some as legacy ``.h5``); npconv loads the file and must predict Keras's numbers within
1e-4 relative on a random batch of 2. The other way, models npconv saves as ``.keras``
load in real Keras with npconv's predictions. The small models run by default; the
whole set is marked slow.
"""

import numpy as np
import pytest

import npconv

RTOL = 1e-4

# name -> (constructor keyword arguments, input size)
APPS = {
    "MobileNet": ({"alpha": 0.25}, 32),
    "MobileNetV2": ({"alpha": 0.35}, 32),
    "MobileNetV3Small": ({"minimalistic": True}, 32),
    "ResNet50": ({}, 32),
    "EfficientNetB0": ({}, 32),
    "DenseNet121": ({}, 32),
    "VGG16": ({}, 32),
    "Xception": ({}, 71),
    "NASNetMobile": ({}, 32),
    "ConvNeXtTiny": ({}, 32),
}
FAST = {"MobileNet", "MobileNetV2"}
LEGACY = ("MobileNet", "MobileNetV2", "VGG16", "ResNet50")


def _relative(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-6)


def _params(names, fast=FAST):
    return [pytest.param(n, marks=() if n in fast else pytest.mark.slow) for n in names]


def _build(keras, name):
    kwargs, size = APPS[name]
    keras.utils.set_random_seed(7)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10, **kwargs)
    x = np.random.default_rng(3).uniform(0, 255, size=(2, size, size, 3)).astype(np.float32)
    return model, x


@pytest.mark.parametrize("name", _params(APPS))
def test_application_saved_by_keras_loads_in_npconv(keras, tmp_path, name):
    model, x = _build(keras, name)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    ours = npconv.models.load_model(path)
    assert _relative(ours.predict(x, verbose=0), model.predict(x, verbose=0)) <= RTOL
    assert ours.count_params() == model.count_params()


@pytest.mark.parametrize("name", _params(LEGACY, fast={"MobileNet"}))
def test_application_saved_as_legacy_h5_loads_in_npconv(keras, tmp_path, name):
    model, x = _build(keras, name)
    path = str(tmp_path / f"{name}.h5")
    model.save(path)
    ours = npconv.models.load_model(path)
    assert _relative(ours.predict(x, verbose=0), model.predict(x, verbose=0)) <= RTOL


@pytest.mark.parametrize("name", _params(["MobileNetV2", "ResNet50", "DenseNet121"], fast=()))
def test_application_saved_by_npconv_loads_in_keras(keras, tmp_path, name):
    model, x = _build(keras, name)
    model.save(str(tmp_path / "k.keras"))
    ours = npconv.models.load_model(str(tmp_path / "k.keras"))
    path = str(tmp_path / "ours.keras")
    ours.save(path)
    theirs = keras.saving.load_model(path)
    assert _relative(theirs.predict(x, verbose=0), ours.predict(x, verbose=0)) <= RTOL


def _npconv_nested():
    L = npconv.layers
    block = npconv.Sequential(
        [npconv.Input((10, 10, 3)), L.Conv2D(4, 3, padding="same", activation="relu"), L.BatchNormalization()],
        name="block",
    )
    inputs = npconv.Input((10, 10, 3), name="image")
    trunk = block(inputs)
    a = L.Conv2D(4, 1)(trunk)
    b = L.DepthwiseConv2D(3, padding="same")(trunk)
    pooled = L.GlobalAveragePooling2D()(a)
    pooled_b = L.GlobalMaxPooling2D()(b)
    head = npconv.Model(inputs, L.Dense(3)(pooled), name="head")
    return npconv.Model(inputs, [head(inputs), L.Dense(2)(pooled_b)], name="outer")


def test_npconv_functional_and_nested_models_load_in_keras(keras, tmp_path):
    model = _npconv_nested()
    x = np.random.default_rng(0).normal(size=(2, 10, 10, 3)).astype(np.float32)
    path = str(tmp_path / "nested.keras")
    model.save(path)
    theirs = keras.saving.load_model(path)
    ours_out, theirs_out = model.predict(x, verbose=0), theirs.predict(x, verbose=0)
    assert len(ours_out) == len(theirs_out) == 2
    for a, b in zip(ours_out, theirs_out):
        assert _relative(b, a) <= RTOL
    again = npconv.models.load_model(path)
    for a, b in zip(again.predict(x, verbose=0), ours_out):
        np.testing.assert_array_equal(a, b)
    weights = str(tmp_path / "nested.weights.h5")
    model.save_weights(weights)
    theirs.load_weights(weights)
    for a, b in zip(theirs.predict(x, verbose=0), ours_out):
        assert _relative(a, b) <= RTOL
