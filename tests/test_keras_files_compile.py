"""compile_config and optimizer state in Keras 3's saved forms, against real Keras."""

import json

import numpy as np
import pytest

import npconv
from npconv.saving import compile_state
from npconv.saving.allowlist import RefusedFileError


def _pair(keras, optimizer):
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    km.compile(optimizer=optimizer, loss="mse", metrics=["mae", keras.metrics.MeanSquaredError(), "accuracy"])
    rng = np.random.default_rng(0)
    km.train_on_batch(rng.normal(size=(5, 4)), rng.normal(size=(5, 2)))
    nm = npconv.Sequential([npconv.Input((4,)), npconv.layers.Dense(3, activation="relu"), npconv.layers.Dense(2)])
    return km, nm


@pytest.mark.parametrize(
    "make",
    [
        lambda k: k.optimizers.Adam(2e-3),
        lambda k: k.optimizers.Adam(amsgrad=True),
        lambda k: k.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
        lambda k: k.optimizers.SGD(0.01),
        lambda k: k.optimizers.RMSprop(centered=True, momentum=0.5),
        lambda k: k.optimizers.SGD(k.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)),
    ],
    ids=["adam", "amsgrad", "sgd-nesterov", "sgd-plain", "rmsprop-centered", "schedule"],
)
def test_compile_config_and_optimizer_state_round_trip_through_keras(keras, make):
    km, nm = _pair(keras, make(keras))
    config = json.loads(json.dumps(km.get_compile_config()))
    compile_state.compile_from_config(nm, config)
    nm.set_weights(km.get_weights())
    keras_state = [v.numpy() for v in km.optimizer.variables]
    compile_state.set_optimizer_variables(nm.optimizer, keras_state, nm.trainable_weights)
    ours = compile_state.optimizer_variables(nm.optimizer)
    assert [a.shape for a in ours] == [s.shape for s in keras_state]
    assert [a.dtype for a in ours] == [s.dtype for s in keras_state]
    for a, b in zip(ours, keras_state):
        np.testing.assert_array_equal(a, b)
    assert compile_state.compile_config(nm) == config
    # Keras accepts what npconv writes.
    again = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    again.compile_from_config(json.loads(json.dumps(compile_state.compile_config(nm))))
    assert type(again.optimizer).__name__ == type(km.optimizer).__name__


def test_uncompiled_model_has_no_compile_config():
    model = npconv.Sequential([npconv.Input((4,)), npconv.layers.Dense(2)])
    assert compile_state.compile_config(model) is None


def test_wrong_optimizer_state_changes_nothing():
    model = npconv.Sequential([npconv.Input((4,)), npconv.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_weights)
    before = compile_state.optimizer_variables(model.optimizer)
    arrays = [np.array(7), np.array(0.5, np.float32), np.ones((4, 2)), np.ones((4, 2)), np.ones(3), np.ones(2)]
    with pytest.raises(ValueError, match="has shape"):
        compile_state.set_optimizer_variables(model.optimizer, arrays)
    with pytest.raises(ValueError, match="6 variables"):
        compile_state.set_optimizer_variables(model.optimizer, arrays[:3])
    for a, b in zip(before, compile_state.optimizer_variables(model.optimizer)):
        np.testing.assert_array_equal(a, b)


def test_compile_config_naming_an_outside_optimizer_is_refused():
    model = npconv.Sequential([npconv.Input((4,)), npconv.layers.Dense(2)])
    config = {
        "optimizer": {"module": "os", "class_name": "system", "config": {}, "registered_name": None},
        "loss": "mse",
    }
    with pytest.raises(RefusedFileError, match="'system'.*not one npconv provides"):
        compile_state.compile_from_config(model, config)
    assert not model.compiled
