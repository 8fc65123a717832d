"""The new layers inside real training steps: the same Sequential model in
Keras and npconv, Keras's initial weights copied over, several Adam steps,
and the loss and every weight compared after each step. This checks each
backward pass through an optimizer, not only against finite differences."""

import numpy as np

import npconv


def _steps(keras_model, ours, x, y, steps=3, rtol=2e-4):
    for step in range(steps):
        expected = keras_model.train_on_batch(x, y, return_dict=True)
        got = ours.train_on_batch(x, y, return_dict=True)
        np.testing.assert_allclose(got["loss"], float(expected["loss"]), rtol=rtol, err_msg=f"loss at step {step}")
        for k_weight, weight in zip(keras_model.get_weights(), ours.get_weights()):
            np.testing.assert_allclose(weight, k_weight, rtol=rtol, atol=2e-5, err_msg=f"weights at step {step}")


def _pair(keras, build, optimizer="Adam"):
    keras_model, ours = build(keras), build(npconv)
    ours.set_weights(keras_model.get_weights())
    for lib, model in ((keras, keras_model), (npconv, ours)):
        model.compile(optimizer=getattr(lib.optimizers, optimizer)(0.01), loss="sparse_categorical_crossentropy")
    return keras_model, ours


def image_model(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((6, 6, 3)),
            L.Rescaling(1 / 127.5, offset=-1.0),
            L.Normalization(mean=[0.1, -0.2, 0.0], variance=[0.5, 2.0, 1.0]),
            L.Conv2D(4, 3, padding="same"),
            L.LayerNormalization(axis=[1, 2, 3], epsilon=1e-5),
            L.PReLU(alpha_initializer=lib.initializers.Constant(0.25), shared_axes=[1, 2]),
            L.Conv2D(5, 3),
            L.ReLU(max_value=6.0, negative_slope=0.1),
            L.LeakyReLU(0.2),
            L.ELU(0.5),
            L.Permute((2, 1, 3)),
            L.SpatialDropout2D(0.0),
            L.Identity(),
            L.GlobalAveragePooling2D(keepdims=True),
            L.Flatten(),
            L.Dense(3),
            L.Softmax(),
        ]
    )


def test_image_layers_train_like_keras(keras, rng):
    keras_model, ours = _pair(keras, image_model)
    x = rng.integers(0, 256, (8, 6, 6, 3)).astype("float32")
    y = rng.integers(0, 3, 8)
    _steps(keras_model, ours, x, y, steps=3)


def token_model(lib):
    L = lib.layers
    return lib.Sequential(
        [
            # int32 ids in Keras; npconv's Embedding keeps whatever integer array it gets
            lib.Input((7,), dtype="int32") if lib is not npconv else lib.Input((7,)),
            L.Embedding(20, 6),
            L.Conv1D(4, 3, padding="same"),
            L.LayerNormalization(),
            L.SpatialDropout1D(0.0),
            L.GlobalMaxPooling1D(),
            L.Dense(3),
        ]
    )


def test_embedding_trains_like_keras(keras, rng):
    """SGD: Keras on TensorFlow hands Adam the table's gradient as sparse
    slices and squares repeated ids' slices one by one (sum of squares, not the
    square of the sum), a backend artefact npconv's dense gradient does not
    copy; SGD is linear in the gradient, so both agree exactly."""
    keras_model, ours = _pair(keras, token_model, optimizer="SGD")
    x = rng.integers(0, 20, (8, 7)).astype("int32")
    y = rng.integers(0, 3, 8)
    _steps(keras_model, ours, x, y, steps=3)


def test_softmax_layer_head_gives_its_logits_to_the_loss(keras, rng):
    """A saturated softmax: Keras on TensorFlow computes the crossentropy from
    the Softmax layer's input, so probabilities of 1e-30 are not clipped to
    1e-7. npconv must give the same (large) loss and the same step."""

    def build(lib):
        return lib.Sequential([lib.Input((4,)), lib.layers.Dense(3), lib.layers.Softmax()])

    keras_model, ours = _pair(keras, build, optimizer="SGD")
    big = [w * 40 for w in keras_model.get_weights()]
    keras_model.set_weights(big)
    ours.set_weights(big)
    x = rng.standard_normal((8, 4)).astype("float32")
    y = np.argmin(ours.predict(x, verbose=0), axis=-1)  # the least likely class: the loss is large
    _steps(keras_model, ours, x, y, steps=2, rtol=1e-4)
    assert ours.layers[-1].activation is not None  # restored after each step
