"""Shared test setup: Keras as a lazily imported oracle, a seeded rng, slow sweeps.

Keras is a test-only oracle. It is imported on first use (about 7 s), on the
TensorFlow backend, with TensorFlow's C++ logging silenced. Tests that need it
take the ``keras`` fixture (or call ``pytest.importorskip("keras")``), so the
suite still runs, with those tests skipped, where Keras is not installed.

The oracle modules named in ``BACKEND_MODULES`` run once per kernel backend
(``npconv_backend`` fixture): every backend that loads here, or the ones
listed in ``NPCONV_TEST_BACKENDS`` (comma-separated, e.g. ``numpy,onednn``).
A listed backend that cannot load is an error, so CI cannot silently test
numpy twice. On the onednn backend the fixture also forces the onednn
algorithms wherever they apply: otherwise the small problems of these tests
would mostly run on numpy, the default for tiny calls (test_backend_onednn
tests that choice). Finite-difference gradient checks are float64, which
runs on numpy on every backend, so test_gradients runs once.

Slow oracle sweeps carry ``@pytest.mark.slow``. pyproject's ``addopts`` already
deselects them (``-m 'not slow'``); run them with ``pytest -m slow``. If the
marker expression is overridden without naming ``slow`` (``pytest -m ''``),
they are skipped unless ``--run-slow`` is given; ``--run-slow`` alone also
lifts the default deselection and runs everything.
"""

import contextlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND_MODULES = {"test_keras_oracle", "test_training", "test_reference"}


def test_backends():
    """The kernel backends to run the oracle modules on."""
    from npconv.ops.registry import backend_module

    listed = [name.strip() for name in os.environ.get("NPCONV_TEST_BACKENDS", "").split(",") if name.strip()]
    if listed:
        return listed
    return [name for name in ("numpy", "onednn") if backend_module(name).available()[0]]


test_backends.__test__ = False  # a helper, not a test


def pytest_generate_tests(metafunc):
    if metafunc.module.__name__.rsplit(".", 1)[-1] in BACKEND_MODULES and "npconv_backend" in metafunc.fixturenames:
        metafunc.parametrize("npconv_backend", test_backends(), indirect=True, scope="module")


@pytest.fixture(scope="module")
def npconv_backend(request):
    """Select a kernel backend for the module's tests (``config.set_backend``;
    on onednn, ``set_algorithm("onednn")`` too), then restore."""
    from npconv import config
    from npconv.ops import registry

    previous = config.backend()
    config.set_backend(getattr(request, "param", previous))
    with registry.set_algorithm("onednn") if config.backend() == "onednn" else contextlib.nullcontext():
        yield config.backend()
    config.set_backend(previous)


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
    """The real Keras 3 (TensorFlow backend), imported on first use; its models
    run eagerly, as if compiled with ``run_eagerly=True``.

    Otherwise Keras traces predict, evaluate and each training step into a
    ``tf.function``, which costs seconds per model, far more than these small
    models' steps. On a CPU (where Keras turns XLA off for models) the traced
    step runs the same TensorFlow ops, so the oracle's numbers are the same.
    Only models are affected: Keras's own XLA-compiled ops (grouped convs)
    still compile.
    """
    module = pytest.importorskip("keras")
    module.Model.run_eagerly = property(lambda model: True, lambda model, value: None)
    return module


@pytest.fixture
def rng():
    """A fresh, seeded generator for each test."""
    return np.random.default_rng(20240229)
