"""The model code of three keras.io conv examples, run unchanged in Keras and
in npconv (only the names ``keras`` and ``layers`` differ), with the weights
copied from Keras: predictions agree, and one training step with each
example's own compile settings gives the same loss and weights.

- "Image segmentation with a U-Net-like architecture" (Oxford pets);
- "Speaker Recognition" (1-D residual convs on audio);
- "3D image classification from CT scans".
"""

import numpy as np
import pytest

import npconv


def define(keras, layers):
    """The examples' model functions, as written on keras.io."""

    def get_model(img_size, num_classes):
        inputs = keras.Input(shape=img_size + (3,))

        ### [First half of the network: downsampling inputs] ###

        # Entry block
        x = layers.Conv2D(32, 3, strides=2, padding="same")(inputs)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)

        previous_block_activation = x  # Set aside residual

        # Blocks 1, 2, 3 are identical apart from the feature depth.
        for filters in [64, 128, 256]:
            x = layers.Activation("relu")(x)
            x = layers.SeparableConv2D(filters, 3, padding="same")(x)
            x = layers.BatchNormalization()(x)

            x = layers.Activation("relu")(x)
            x = layers.SeparableConv2D(filters, 3, padding="same")(x)
            x = layers.BatchNormalization()(x)

            x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

            # Project residual
            residual = layers.Conv2D(filters, 1, strides=2, padding="same")(previous_block_activation)
            x = layers.add([x, residual])  # Add back residual
            previous_block_activation = x  # Set aside next residual

        ### [Second half of the network: upsampling inputs] ###

        for filters in [256, 128, 64, 32]:
            x = layers.Activation("relu")(x)
            x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
            x = layers.BatchNormalization()(x)

            x = layers.Activation("relu")(x)
            x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
            x = layers.BatchNormalization()(x)

            x = layers.UpSampling2D(2)(x)

            # Project residual
            residual = layers.UpSampling2D(2)(previous_block_activation)
            residual = layers.Conv2D(filters, 1, padding="same")(residual)
            x = layers.add([x, residual])  # Add back residual
            previous_block_activation = x  # Set aside next residual

        # Add a per-pixel classification layer
        outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)

        # Define the model
        model = keras.Model(inputs, outputs)
        return model

    def residual_block(x, filters, conv_num=3, activation="relu"):
        # Shortcut
        s = keras.layers.Conv1D(filters, 1, padding="same")(x)
        for i in range(conv_num - 1):  # noqa: B007  (as written on keras.io)
            x = keras.layers.Conv1D(filters, 3, padding="same")(x)
            x = keras.layers.Activation(activation)(x)
        x = keras.layers.Conv1D(filters, 3, padding="same")(x)
        x = keras.layers.Add()([x, s])
        x = keras.layers.Activation(activation)(x)
        return keras.layers.MaxPool1D(pool_size=2, strides=2)(x)

    def build_model(input_shape, num_classes):
        inputs = keras.layers.Input(shape=input_shape, name="input")

        x = residual_block(inputs, 16, 2)
        x = residual_block(x, 32, 2)
        x = residual_block(x, 64, 3)
        x = residual_block(x, 128, 3)
        x = residual_block(x, 128, 3)

        x = keras.layers.AveragePooling1D(pool_size=3, strides=3)(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(256, activation="relu")(x)
        x = keras.layers.Dense(128, activation="relu")(x)

        outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)

        return keras.models.Model(inputs=inputs, outputs=outputs)

    def get_3d_model(width=128, height=128, depth=64):
        """Build a 3D convolutional neural network model."""

        inputs = keras.Input((width, height, depth, 1))

        x = layers.Conv3D(filters=64, kernel_size=3, activation="relu")(inputs)
        x = layers.MaxPool3D(pool_size=2)(x)
        x = layers.BatchNormalization()(x)

        x = layers.Conv3D(filters=64, kernel_size=3, activation="relu")(x)
        x = layers.MaxPool3D(pool_size=2)(x)
        x = layers.BatchNormalization()(x)

        x = layers.Conv3D(filters=128, kernel_size=3, activation="relu")(x)
        x = layers.MaxPool3D(pool_size=2)(x)
        x = layers.BatchNormalization()(x)

        x = layers.Conv3D(filters=256, kernel_size=3, activation="relu")(x)
        x = layers.MaxPool3D(pool_size=2)(x)
        x = layers.BatchNormalization()(x)

        x = layers.GlobalAveragePooling3D()(x)
        x = layers.Dense(units=512, activation="relu")(x)
        x = layers.Dropout(0.3)(x)

        outputs = layers.Dense(units=1, activation="sigmoid")(x)

        # Define the model.
        model = keras.Model(inputs, outputs, name="3dcnn")
        return model

    return {"unet": get_model, "speaker": build_model, "ct3d": get_3d_model}


def _compile(lib, which, model):
    """Each example's own compile call."""
    if which == "unet":
        model.compile(optimizer=lib.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    elif which == "speaker":
        model.compile(optimizer="Adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        initial_learning_rate = 0.0001
        lr_schedule = lib.optimizers.schedules.ExponentialDecay(
            initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True
        )
        model.compile(
            loss="binary_crossentropy", optimizer=lib.optimizers.Adam(learning_rate=lr_schedule), metrics=["acc"]
        )


CASES = {
    # name: (arguments, input shape without batch, target maker)
    "unet": (((64, 64), 3), (64, 64, 3), lambda rng, n: rng.integers(0, 3, (n, 64, 64, 1))),
    # keras.io feeds 8000 samples (half a second at 16 kHz); 1600 keeps the test quick
    "speaker": (((1600, 1), 5), (1600, 1), lambda rng, n: rng.integers(0, 5, n)),
    "ct3d": ((48, 48, 48), (48, 48, 48, 1), lambda rng, n: rng.integers(0, 2, (n, 1)).astype("float32")),
}


@pytest.mark.parametrize(
    "which",
    ["speaker", "unet", pytest.param("ct3d", marks=pytest.mark.slow)],  # the 3-D one takes over a minute
)
def test_keras_io_example_runs_unchanged(keras, rng, which):
    arguments, shape, target = CASES[which]
    keras.utils.set_random_seed(3)
    keras_model = define(keras, keras.layers)[which](*arguments)
    ours = define(npconv, npconv.layers)[which](*arguments)
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in keras_model.layers]
    ours.set_weights(keras_model.get_weights())
    for model in (keras_model, ours):  # the CT model's Dropout would draw different masks
        for layer in model.layers:
            if type(layer).__name__ == "Dropout":
                layer.rate = 0.0
    x = rng.standard_normal((2, *shape)).astype("float32")
    y = target(rng, 2)
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
    _compile(keras, which, keras_model)
    _compile(npconv, which, ours)
    expected = keras_model.train_on_batch(x, y, return_dict=True)
    got = ours.train_on_batch(x, y, return_dict=True)
    assert set(got) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], float(value), rtol=2e-4, err_msg=key)
    # Adam's first step moves each weight by about the learning rate times the
    # sign of its gradient. Where a gradient is within rounding of zero (a conv
    # bias just before BatchNormalization has an exact gradient of 0) the two
    # libraries may take opposite signs. So: nearly all weights agree closely,
    # and none differs by more than two steps.
    step = {"unet": 1e-4, "speaker": 1e-3, "ct3d": 1e-4}[which]
    off = total = 0
    for k_weight, weight, variable in zip(keras_model.get_weights(), ours.get_weights(), ours.weights):
        off += int((~np.isclose(weight, k_weight, rtol=1e-3, atol=2e-6)).sum())
        total += weight.size
        assert np.abs(weight - k_weight).max() <= 2.5 * step, variable.name
    assert off / total < 0.01, off / total
