"""Embedding: integer inputs stay integers, values against real Keras, the
table gradient (repeated ids summed) against finite differences, configs
(including Keras 3's extra keys) and errors."""

import numpy as np
import pytest
from helpers import assert_close, keras_twin, numeric_gradient

from npconv import layers
from npconv.layers import Embedding


def test_matches_keras_on_integer_ids(keras, rng):
    ours = Embedding(10, 4)
    ids = rng.integers(0, 10, (3, 5)).astype("int32")
    y = ours(ids)
    assert y.shape == (3, 5, 4) and y.dtype == np.float32
    assert_close(y, keras_twin(keras, ours, ids.shape)(ids))
    assert_close(y, ours.embeddings.value[ids])


def test_integer_ids_are_never_cast_to_float():
    # float32 cannot hold 2**24 + 1: a cast would read row 2**24 instead
    layer = Embedding(2**24 + 2, 1, embeddings_initializer="zeros")
    layer.build()
    layer.embeddings.value[2**24 + 1] = 7.0
    assert layer(np.array([[2**24 + 1]], dtype=np.int64))[0, 0, 0] == 7.0


def test_whole_float_ids_are_accepted(rng):
    layer = Embedding(5, 2)
    ids = np.array([[0.0, 4.0, 2.0]], dtype="float32")
    assert_close(layer(ids), layer.embeddings.value[[[0, 4, 2]]])


def test_keras_config_and_weights(keras, rng):
    theirs = keras.layers.Embedding(7, 3, name="tokens")
    theirs.build()
    config = keras.layers.serialize(theirs)
    assert config["config"]["quantization_config"] is None
    ours = layers.deserialize(config)
    ours.build()
    ours.set_weights(theirs.get_weights())
    ids = rng.integers(0, 7, (2, 4))
    assert_close(ours(ids), theirs(ids))
    assert layers.serialize(ours)["config"].keys() == config["config"].keys()


def test_table_gradient_sums_repeated_ids(rng):
    layer = Embedding(6, 3, dtype="float64")
    ids = np.array([[1, 1, 4], [0, 1, 5]])
    y = layer(ids)
    r = rng.standard_normal(y.shape)
    layer.embeddings.grad = None
    assert layer.backward(r) is None  # integer inputs have no gradient
    expected = numeric_gradient(lambda: layer(ids), layer.embeddings.value, r)
    assert_close(layer.embeddings.grad, expected, rtol=1e-6, atol=1e-9)
    assert_close(layer.embeddings.grad[1], r[0, 0] + r[0, 1] + r[1, 1])
    assert np.all(layer.embeddings.grad[[2, 3]] == 0)


def test_weights_argument():
    table = np.arange(6, dtype="float32").reshape(3, 2)
    assert_close(Embedding(3, 2, weights=[table])(np.array([[2]])), [[[4.0, 5.0]]])


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: Embedding(0, 3), ValueError, "`input_dim`"),
        (lambda: Embedding(3, 2.5), TypeError, "`output_dim`"),
        (lambda: Embedding(3, 2, mask_zero=True), ValueError, "`mask_zero`"),
        (lambda: Embedding(3, 2, lora_rank=4), ValueError, "`lora_rank`"),
        (lambda: Embedding(3, 2, quantization_config={"mode": "int8"}), ValueError, "`quantization_config`"),
        (lambda: Embedding(3, 2)(np.array([[3]])), ValueError, r"\[0, 2\]"),
        (lambda: Embedding(3, 2)(np.array([[-1]])), ValueError, "-1"),
        (lambda: Embedding(3, 2)(np.array([[0.5]])), TypeError, "non-integer"),
        (lambda: Embedding(3, 2)(np.array([[True]])), TypeError, "bool"),
        (lambda: Embedding(3, 2)(np.array([[1]]), mask=np.ones(1)), ValueError, "`mask`"),
    ],
)
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_sequential_keeps_integer_ids(rng):
    from npconv.models import Sequential

    model = Sequential([Embedding(2**24 + 2, 2, embeddings_initializer="zeros"), layers.Flatten()])
    model.layers[0].build()
    model.layers[0].embeddings.value[2**24 + 1] = [1.0, 2.0]
    assert_close(model.predict(np.array([[2**24 + 1]], dtype=np.int64), verbose=0), [[1.0, 2.0]])
