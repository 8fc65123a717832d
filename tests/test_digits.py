"""The digits example: a real CNN trained on real data that ships with npconv."""

import numpy as np
import pytest

import npconv
from npconv.cli.main import main
from npconv.examples.digits import build_model, train


def test_bundled_digits_load_without_download():
    (x_train, y_train), (x_test, y_test) = npconv.datasets.load_digits()
    assert x_train.shape == (1438, 8, 8, 1) and x_test.shape == (359, 8, 8, 1)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() == 1.0
    assert sorted(set(y_train.tolist())) == list(range(10))


def test_small_budget_learns():
    """Two epochs on a third of the data already beat chance by far."""
    (x_train, y_train), (x_test, y_test) = npconv.datasets.load_digits()
    model = build_model(seed=0)
    model.fit(x_train[:500], y_train[:500], epochs=2, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.7


@pytest.mark.slow
def test_full_training_reaches_98_percent():
    _, history, accuracy = train(epochs=11, verbose=0)
    assert accuracy >= 0.98
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_cli_train_digits_runs(capsys):
    assert main(["train-digits", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "Epoch 1/1" in out
