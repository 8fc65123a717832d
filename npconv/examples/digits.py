"""Train a small CNN on the bundled 8x8 digits: the npconv ``fit`` example.

The model is the one measured with Keras for comparison:
Conv32 - Conv32 - MaxPool - Conv64 - Dense, batch 32, Adam.
Run it with ``npconv train-digits`` or ``python examples/train_digits.py``.
"""

from __future__ import annotations

import npconv
from npconv import layers


def architecture(api=layers):
    """The model's layers, made by ``api``.

    Args:
        api: a module with Keras's layer names: ``npconv.layers``, or
            ``keras.layers`` (the benchmark builds the same model in Keras from this).

    Returns:
        A list of layers, from an ``Input((8, 8, 1))`` to a 10-way softmax.
    """
    return [
        api.Input((8, 8, 1)),
        api.Conv2D(32, 3, padding="same", activation="relu"),
        api.Conv2D(32, 3, padding="same", activation="relu"),
        api.MaxPooling2D(2),
        api.Conv2D(64, 3, padding="same", activation="relu"),
        api.Flatten(),
        api.Dense(10, activation="softmax"),
    ]


def compile_arguments():
    """The keyword arguments of ``model.compile``: Adam, sparse crossentropy, accuracy."""
    return {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


def build_model(seed=0):
    """The compiled npconv model, its weights drawn after ``set_random_seed(seed)``.

    Args:
        seed: the seed for the weights.
    """
    npconv.utils.set_random_seed(seed)
    model = npconv.Sequential(architecture())
    model.compile(**compile_arguments())
    return model


def train(epochs=11, batch_size=32, seed=0, verbose="auto"):
    """Train on the digits' training split, then evaluate on the test split.

    Args:
        epochs: passes over the training set.
        batch_size: samples per update.
        seed: the seed for the split, the weights and the shuffling.
        verbose: ``fit``'s verbosity.

    Returns:
        ``(model, history, test_accuracy)``.
    """
    (x_train, y_train), (x_test, y_test) = npconv.datasets.load_digits(seed=seed)
    model = build_model(seed)
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=verbose)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return model, history, accuracy
