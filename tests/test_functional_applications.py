"""keras.applications models moved into npconv in memory: Keras builds each
with weights=None and a fixed seed, npconv rebuilds it from
``keras_model.get_config()`` and takes ``keras_model.get_weights()``, and the
predictions on random input of the model's size (batch 2) must agree within
1e-4 relative. The three lightest run by default, the rest under the slow
marker."""

import json

import numpy as np
import pytest

import npconv

LIGHT = ["MobileNetV3Small", "MobileNet", "MobileNetV2"]
HEAVY = ["ResNet50", "EfficientNetB0", "DenseNet121", "VGG16", "Xception", "NASNetMobile", "ConvNeXtTiny"]


def check_application(keras, name, seed=7):
    keras.utils.set_random_seed(seed)
    keras_model = getattr(keras.applications, name)(weights=None)
    config = json.loads(json.dumps(keras_model.get_config()))
    ours = npconv.Model.from_config(config)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in keras_model.layers]
    ours.set_weights(keras_model.get_weights())
    shape = [224 if d is None else d for d in keras_model.input_shape[1:]]  # MobileNetV3 leaves H, W open
    x = np.random.default_rng(seed).uniform(0, 255, (2, *shape)).astype("float32")
    expected = keras_model.predict(x, verbose=0)
    got = ours.predict(x, verbose=0)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("name", LIGHT)
def test_light_application_matches_keras(keras, name):
    check_application(keras, name)


@pytest.mark.slow
@pytest.mark.parametrize("name", HEAVY)
def test_heavy_application_matches_keras(keras, name):
    check_application(keras, name)
