"""Shared test setup: Keras as a lazily imported oracle, a seeded rng, slow sweeps.

Keras is a test-only oracle. It is imported on first use (about 7 s), on the
TensorFlow backend, with TensorFlow's C++ logging silenced. Tests that need it
take the ``keras`` fixture (or call ``pytest.importorskip("keras")``), so the
suite still runs, with those tests skipped, where Keras is not installed.

Slow oracle sweeps carry ``@pytest.mark.slow``. pyproject's ``addopts`` already
deselects them (``-m 'not slow'``); run them with ``pytest -m slow``. If the
marker expression is overridden without naming ``slow`` (``pytest -m ''``),
they are skipped unless ``--run-slow`` is given; ``--run-slow`` alone also
lifts the default deselection and runs everything.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")


def pytest_configure(config):
    # --run-slow lifts pyproject's default "-m 'not slow'" so the flag works on its own.
    if config.getoption("--run-slow") and (config.option.markexpr or "").strip() == "not slow":
        config.option.markexpr = ""


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="slow sweep: run with -m slow or --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def keras():
    """The real Keras 3 (TensorFlow backend), imported on first use."""
    return pytest.importorskip("keras")


@pytest.fixture
def rng():
    """A fresh, seeded generator for each test."""
    return np.random.default_rng(20240229)
