"""The examples in the docstrings of the training-side modules run and print what they show."""

import doctest
import importlib

import pytest

import npconv

MODULES = [
    "npconv._registry",
    "npconv.constraints",
    "npconv.datasets",
    "npconv.initializers",
    "npconv.losses",
    "npconv.metrics",
    "npconv.optimizers",
    "npconv.optimizers.adam",
    "npconv.optimizers.base",
    "npconv.optimizers.rmsprop",
    "npconv.optimizers.schedules",
    "npconv.optimizers.sgd",
    "npconv.regularizers",
    "npconv.utils",
    "npconv.callbacks",
    "npconv.geometry",
    "npconv.layers.conv",
    "npconv.layers.reshaping",
    "npconv.ops",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, extraglobs={"npconv": npconv}, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0


def test_the_examples_are_there():
    counts = {}
    for name in MODULES:
        finder = doctest.DocTestFinder()
        counts[name] = sum(len(test.examples) for test in finder.find(importlib.import_module(name)))
    for name in ("npconv.losses", "npconv.metrics", "npconv.initializers", "npconv.optimizers.schedules"):
        assert counts[name] >= 4, (name, counts[name])
