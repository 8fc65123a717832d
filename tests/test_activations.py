"""npconv.activations against keras.activations, plus NaN, dtype, erf and error checks.

Tests that need Keras take the ``keras`` fixture from conftest (imported on
first use), so the rest of this file runs without Keras.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from npconv import activations  # noqa: E402

NAMES = sorted(activations.ALL_OBJECTS_DICT)
ALONG_AXIS = {"softmax", "log_softmax", "sparsemax", "glu"}
ELEMENTWISE = [n for n in NAMES if n not in ALONG_AXIS]
# Arguments that exercise the non-default branches; threshold has no defaults.
VARIANTS = {
    "relu": [{}, {"negative_slope": 0.1}, {"max_value": 6}, {"max_value": 2.5}, {"threshold": 0.5}],
    "leaky_relu": [{}, {"negative_slope": 0.05}, {"negative_slope": 1.5}],
    "elu": [{}, {"alpha": 0.5}],
    "celu": [{}, {"alpha": 2.0}],
    "soft_shrink": [{}, {"threshold": 1.0}],
    "hard_shrink": [{}, {"threshold": 1.0}],
    "squareplus": [{}, {"b": 1}],
    "gelu": [{}, {"approximate": True}],
    "threshold": [{"threshold": 0.3, "default_value": -2.0}],
}
RELU_COMBINED = [
    {"negative_slope": 0.1, "max_value": 3.0, "threshold": 0.5},
    {"negative_slope": 0.2, "threshold": -1.0},
    {"max_value": 4.0, "threshold": -1.0},
]
TOLERANCE = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-6, "atol": 1e-9}}


def _inputs(dtype, rng, size=240):
    """Moderate values, large ones, and the kinks of the piecewise activations."""
    special = [0.0, -1, 1, 3, -3, 6, 0.5, -0.5, 2.5, -2.5, 1e4, -1e4, 80, -80, 1e30, -1e30]
    x = np.concatenate([rng.normal(size=size - len(special) - 40) * 3, rng.normal(size=40) * 100, special])
    return x.astype(dtype)


def _keras_call(keras, name, x, kwargs):
    with np.errstate(all="ignore"):
        return np.asarray(getattr(keras.activations, name)(keras.ops.convert_to_tensor(x), **kwargs))


def _ours(name, x, kwargs):
    with np.errstate(over="ignore"):  # exponential(1e4) is inf in both
        return activations.ALL_OBJECTS_DICT[name](x, **kwargs)


def _cases():
    for name in ELEMENTWISE:
        for kwargs in VARIANTS.get(name, [{}]):
            yield name, kwargs
    for kwargs in RELU_COMBINED:
        yield "relu", kwargs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs"), list(_cases()))
def test_elementwise_matches_keras(keras, name, kwargs, dtype, rng):
    x = _inputs(dtype, rng)
    if name == "squareplus":
        x = x[np.abs(x) < 20]  # beyond that Keras's direct formula cancels; see the next test
    ours, theirs = _ours(name, x, kwargs), _keras_call(keras, name, x, kwargs)
    assert ours.dtype == theirs.dtype == dtype
    np.testing.assert_allclose(ours, theirs, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_squareplus_stays_accurate_for_large_negative_inputs(dtype):
    x = np.array([-20.0, -160.5, -1e4, -1e6], dtype)
    exact = 2.0 / (np.sqrt(x.astype(np.float64) ** 2 + 4) - x.astype(np.float64))  # b / (2 (root - x)), b = 4
    np.testing.assert_allclose(activations.squareplus(x), exact, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [-1, 0, 1, (1, 2)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_matches_keras(keras, name, axis, dtype, rng):
    x = (rng.normal(size=(3, 4, 6)) * 30).astype(dtype)
    x[0, 0, 0] = 1e4  # large logits must not overflow
    ours, theirs = activations.ALL_OBJECTS_DICT[name](x, axis=axis), _keras_call(keras, name, x, {"axis": axis})
    assert ours.dtype == theirs.dtype == dtype
    np.testing.assert_allclose(ours, theirs, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_sparsemax_matches_keras_when_one_logit_dominates(keras, axis, dtype, rng):
    # Keras 3.15's sparsemax is only right when a single entry survives: its
    # tau sums the cumulative sums over the whole support instead of taking the
    # k-th one (e.g. it maps [1, 1, 1] to [0, 0, 0]). Elsewhere see the next test.
    x = rng.normal(size=(5, 4, 6)).astype(dtype)
    np.put_along_axis(x, np.argmax(x, axis=axis, keepdims=True), 10, axis=axis)
    ours, theirs = activations.sparsemax(x, axis=axis), _keras_call(keras, "sparsemax", x, {"axis": axis})
    np.testing.assert_allclose(ours, theirs, **TOLERANCE[dtype])


def _sparsemax_by_bisection(v):
    """The tau with sum(max(v - tau, 0)) = 1, found by bisection, for a 1D v."""
    low, high = v.max() - 1, v.max()
    for _ in range(200):
        tau = (low + high) / 2
        low, high = (tau, high) if np.maximum(v - tau, 0).sum() > 1 else (low, tau)
    return np.maximum(v - (low + high) / 2, 0)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_sparsemax_is_the_projection_onto_the_simplex(axis, rng):
    x = rng.normal(size=(5, 4, 6)) * 2
    x[0, 0] = 1.0  # ties
    expected = np.apply_along_axis(_sparsemax_by_bisection, axis, x)
    np.testing.assert_allclose(activations.sparsemax(x, axis=axis), expected, atol=1e-12)
    np.testing.assert_allclose(activations.sparsemax(np.ones(3)), [1 / 3] * 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_glu_matches_keras(keras, axis, dtype, rng):
    x = (rng.normal(size=(4, 6, 8)) * 10).astype(dtype)
    ours, theirs = activations.glu(x, axis=axis), _keras_call(keras, "glu", x, {"axis": axis})
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, **TOLERANCE[dtype])


# --------------------------------------------------------------------------
# NaN, dtypes, erf
# --------------------------------------------------------------------------
def _call_default(name, x, **kwargs):
    if name == "threshold":
        kwargs = {"threshold": 0.3, "default_value": -2.0}
    return activations.ALL_OBJECTS_DICT[name](x, **kwargs)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_propagates_nan(name):
    x = np.array([np.nan, -2.0, 0.4, 2.0], np.float32)
    y = _call_default(name, x)
    assert np.isnan(y[0])
    assert not np.isnan(y[1:]).any()


@pytest.mark.parametrize("name", sorted(ALONG_AXIS - {"glu"}))
def test_along_axis_nan_fills_only_its_slice(name):
    x = np.array([[np.nan, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]])
    y = _call_default(name, x)
    assert np.isnan(y[0]).all()
    assert not np.isnan(y[1]).any()


def test_relu_variants_propagate_nan():
    x = np.array([np.nan, 1.0])
    for kwargs in VARIANTS["relu"] + RELU_COMBINED:
        assert np.isnan(activations.relu(x, **kwargs)[0])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("dtype", "expected"), [("float16", "float16"), ("float32", "float32"), ("float64", "float64")]
)
def test_keeps_float_dtype(name, dtype, expected):
    x = np.linspace(-4, 4, 8).astype(dtype).reshape(2, 4)
    with np.errstate(all="ignore"):
        assert _call_default(name, x).dtype == expected


@pytest.mark.parametrize("name", sorted(set(NAMES) - {"linear"}))
def test_integer_input_computes_in_float32(name):
    assert _call_default(name, np.array([[-2, -1, 1, 2]])).dtype == np.float32


def test_linear_returns_its_input():
    x = np.arange(3)
    assert activations.linear(x) is x


def test_softmax_of_huge_logits_is_finite():
    y = activations.softmax(np.array([1e30, 0.0, -1e30], np.float32))
    np.testing.assert_array_equal(y, [1, 0, 0])


def test_erf_matches_math_erf():
    x = np.concatenate([np.linspace(-30, 30, 60001), [0.0, -0.0, 1e-300, 0.99999, 1.0, 7.999, 8.0, 1e300]])
    expected = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(activations.erf(x) - expected)) < 1e-15


def test_erfc_keeps_relative_accuracy_in_the_tails():
    x = np.linspace(-5, 26, 31001)
    expected = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(activations._erfc(x), expected, rtol=1e-13)
    np.testing.assert_array_equal(activations._erfc(np.array([np.inf, -np.inf])), [0, 2])
    assert np.isnan(activations._erfc(np.array([np.nan]))).all()


def test_gelu_matches_its_definition_in_float64():
    x = np.linspace(-12, 12, 2401)
    expected = np.array([v / 2 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(activations.gelu(x), expected, rtol=1e-13, atol=1e-300)


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------
def test_names_are_keras_names(keras):
    from keras.src.activations import ALL_OBJECTS_DICT

    assert set(activations.ALL_OBJECTS_DICT) == set(ALL_OBJECTS_DICT)


@pytest.mark.parametrize("name", NAMES)
def test_get_resolves_like_keras(keras, name):
    ours = activations.get(name)
    assert ours.__name__ == keras.activations.get(name).__name__
    assert activations.serialize(ours) == keras.activations.serialize(keras.activations.get(name))


def test_get_none_is_linear_and_callables_pass_through():
    assert activations.get(None) is activations.linear

    def custom(x):
        return x

    assert activations.get(custom) is custom
    assert activations.get("swish") is activations.silu
    assert activations.get("hard_swish") is activations.hard_silu


def test_serialize_round_trips():
    for name in NAMES:
        fn = activations.get(name)
        assert activations.deserialize(activations.serialize(fn)) is fn
    keras_dict = {"module": "keras.activations", "class_name": "function", "config": "relu", "registered_name": None}
    assert activations.get(keras_dict) is activations.relu
    assert activations.deserialize("swish") is activations.silu


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------
def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match=r"argument `activation`.*'relu'.*Received: activation='rellu'"):
        activations.get("rellu")


def test_non_callable_is_a_type_error():
    with pytest.raises(TypeError, match="argument `activation`"):
        activations.get(3)


def test_serialize_rejects_custom_functions():
    with pytest.raises(ValueError, match="argument `activation`"):
        activations.serialize(lambda x: x)


@pytest.mark.parametrize(
    "config, error",
    [({"class_name": "Relu", "config": {}}, ValueError), ({"class_name": "function"}, ValueError), (3, TypeError)],
)
def test_deserialize_rejects_bad_configs(config, error):
    with pytest.raises(error, match="argument `config`"):
        activations.deserialize(config)


@pytest.mark.parametrize(
    "call, name, error",
    [
        (lambda x: activations.relu(x, negative_slope="a"), "negative_slope", TypeError),
        (lambda x: activations.relu(x, max_value="6"), "max_value", TypeError),
        (lambda x: activations.relu(x, threshold=None), "threshold", TypeError),
        (lambda x: activations.leaky_relu(x, negative_slope=[0.1]), "negative_slope", TypeError),
        (lambda x: activations.elu(x, alpha="1"), "alpha", TypeError),
        (lambda x: activations.celu(x, alpha=0), "alpha", ValueError),
        (lambda x: activations.squareplus(x, b=-1), "b", ValueError),
        (lambda x: activations.gelu(x, approximate="yes"), "approximate", TypeError),
        (lambda x: activations.soft_shrink(x, threshold=True), "threshold", TypeError),
        (lambda x: activations.hard_shrink(x, threshold="0.5"), "threshold", TypeError),
        (lambda x: activations.threshold(x, 0.5, default_value=None), "default_value", TypeError),
        (lambda x: activations.softmax(x, axis=2), "axis", ValueError),
        (lambda x: activations.log_softmax(x, axis=1.0), "axis", TypeError),
        (lambda x: activations.sparsemax(x, axis=-3), "axis", ValueError),
        (lambda x: activations.glu(x, axis=0), "axis", ValueError),
    ],
)
def test_argument_errors_name_the_argument(call, name, error):
    x = np.ones((3, 4), np.float32)
    with pytest.raises(error, match=f"argument `{name}`"):
        call(x)


def test_relu_default_fast_path_matches_the_definition():
    """relu() with Keras's defaults takes a one-pass shortcut; values and gradient
    stay those of the definition, edge values included."""

    x = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0, np.nan, -np.inf, np.inf], dtype=np.float32)
    y = activations.relu(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, np.where(x <= 0, 0, x))
    assert not np.signbit(y[:3]).any()  # no -0.0 from the shortcut
    dy = np.arange(1, 9, dtype=np.float32)
    np.testing.assert_array_equal(activations.gradient(activations.relu, x, y, dy), dy * (x > 0))
