"""npconv.regularizers and npconv.constraints against Keras: penalties, projected
weights, configs, names, and every error message.

Tests that need Keras take the ``keras`` fixture from conftest (imported on
first use), so the rest of this file runs without Keras.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from npconv import constraints, regularizers  # noqa: E402

TOLERANCE = {np.float32: {"rtol": 2e-6, "atol": 1e-7}, np.float64: {"rtol": 1e-12, "atol": 1e-15}}
# Keras casts a Python factor to float64 by way of float32, so its float64
# penalties carry the factor's float32 rounding (~2e-8 relative); npconv's do not.
PENALTY_TOLERANCE = {np.float32: TOLERANCE[np.float32], np.float64: {"rtol": 1e-7, "atol": 1e-15}}


def _keras_apply(keras, obj, w):
    return np.asarray(obj(keras.ops.convert_to_tensor(w)))


# --------------------------------------------------------------------------
# regularizers
# --------------------------------------------------------------------------
REGULARIZER_CASES = [
    ("L1", {}),
    ("L1", {"l1": 0.3}),
    ("L2", {}),
    ("L2", {"l2": 0.2}),
    ("L1L2", {}),
    ("L1L2", {"l1": 0.1, "l2": 0.05}),
    ("L1L2", {"l1": None, "l2": 0.5}),
    ("OrthogonalRegularizer", {}),
    ("OrthogonalRegularizer", {"factor": 0.1, "mode": "columns"}),
    ("OrthogonalRegularizer", {"factor": 2.0, "mode": "rows"}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(6, 9), (9, 6), (3, 3, 4, 8)])
@pytest.mark.parametrize(("class_name", "kwargs"), REGULARIZER_CASES)
def test_penalty_matches_keras(keras, class_name, kwargs, shape, dtype, rng):
    if class_name == "OrthogonalRegularizer" and (len(shape) != 2 or dtype == np.float64):
        pytest.skip("OrthogonalRegularizer: 2D weights only; Keras's fails on float64 (see the pairwise test)")
    w = rng.normal(size=shape).astype(dtype)
    ours = getattr(regularizers, class_name)(**kwargs)(w)
    theirs = _keras_apply(keras, getattr(keras.regularizers, class_name)(**kwargs), w)
    assert isinstance(ours, np.generic) and ours.dtype == dtype
    np.testing.assert_allclose(ours, theirs, **PENALTY_TOLERANCE[dtype])
    assert isinstance(float(ours), float)


def _orthogonal_penalty_by_pairs(vectors, factor):
    """factor * mean over the pairs i < j of |cos(v_i, v_j)|, from the definition."""
    pairs = [(i, j) for i in range(len(vectors)) for j in range(i + 1, len(vectors))]
    cosines = [abs(vectors[i] @ vectors[j]) / np.linalg.norm(vectors[i]) / np.linalg.norm(vectors[j]) for i, j in pairs]
    return factor * np.mean(cosines)


@pytest.mark.parametrize("mode", ["rows", "columns"])
@pytest.mark.parametrize("shape", [(6, 9), (9, 6), (2, 2)])
def test_orthogonal_penalty_from_its_definition(mode, shape, rng):
    w = rng.normal(size=shape)
    vectors = w if mode == "rows" else w.T
    expected = _orthogonal_penalty_by_pairs(vectors, 0.25)
    assert regularizers.OrthogonalRegularizer(0.25, mode)(w) == pytest.approx(expected, rel=1e-12)


def test_orthogonal_penalty_of_orthogonal_rows_is_zero():
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(8, 8)))
    assert regularizers.OrthogonalRegularizer(factor=1.0)(q[:5]) == pytest.approx(0, abs=1e-14)
    assert regularizers.OrthogonalRegularizer(factor=1.0, mode="columns")(q[:, :5]) == pytest.approx(0, abs=1e-14)


def test_orthogonal_penalty_of_a_single_row_is_zero():
    # Keras returns NaN here (0 pairs: 0 / 0); a penalty of 0 keeps the loss finite.
    assert regularizers.OrthogonalRegularizer()(np.ones((1, 4), np.float32)) == 0
    assert regularizers.OrthogonalRegularizer(mode="columns")(np.ones((4, 1))) == 0


def test_orthogonal_penalty_of_parallel_rows():
    # Two identical rows: the one pair has |cos| = 1, so the penalty is the factor.
    assert regularizers.OrthogonalRegularizer(factor=0.5)(np.ones((2, 3))) == pytest.approx(0.5)


def test_zero_rows_do_not_divide_by_zero():
    w = np.zeros((3, 4), np.float32)
    assert regularizers.OrthogonalRegularizer()(w) == 0


def test_integer_weights_count_as_float32():
    assert regularizers.L2(0.5)(np.array([1, 2])).dtype == np.float32


@pytest.mark.parametrize(("class_name", "kwargs"), REGULARIZER_CASES)
def test_regularizer_config_matches_keras(keras, class_name, kwargs):
    ours = getattr(regularizers, class_name)(**kwargs)
    theirs = getattr(keras.regularizers, class_name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    assert regularizers.serialize(ours) == keras.regularizers.serialize(theirs)
    restored = regularizers.get(regularizers.serialize(ours))
    assert type(restored) is type(ours) and restored.get_config() == ours.get_config()


def test_l1_factor_is_float32_as_in_keras():
    assert regularizers.L1().get_config() == {"l1": float(np.float32(0.01))}
    assert regularizers.L2().get_config() == {"l2": 0.01}


def test_regularizer_names_are_keras_names(keras):
    from keras.src.regularizers import ALL_OBJECTS_DICT

    assert set(regularizers.ALL_OBJECTS_DICT) == set(ALL_OBJECTS_DICT)


@pytest.mark.parametrize("name", sorted(regularizers.ALL_OBJECTS_DICT))
def test_regularizer_get_resolves_like_keras(keras, name):
    ours, theirs = regularizers.get(name), keras.regularizers.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    if type(ours) is not regularizers.Regularizer:
        assert ours.get_config() == theirs.get_config()


def test_l1_l2_is_not_a_keras_name(keras):
    with pytest.raises(ValueError):
        keras.regularizers.get("l1_l2")
    with pytest.raises(ValueError, match=r"argument `regularizer`.*L1L2\(l1=\.\.\., l2=\.\.\.\)"):
        regularizers.get("l1_l2")


def test_regularizer_get_accepts_none_instances_classes_and_callables():
    assert regularizers.get(None) is None
    assert regularizers.deserialize(None) is None
    reg = regularizers.L2(0.3)
    assert regularizers.get(reg) is reg
    assert type(regularizers.get(regularizers.L1)) is regularizers.L1
    assert regularizers.get({"class_name": "l2", "config": {"l2": 0.5}}).l2 == 0.5

    def custom(w):
        return 0.0

    assert regularizers.get(custom) is custom
    assert regularizers.Regularizer()(np.ones(3)) == 0


@pytest.mark.parametrize(
    "build, name, error",
    [
        (lambda: regularizers.L1(-0.1), "l1", ValueError),
        (lambda: regularizers.L1("0.1"), "l1", TypeError),
        (lambda: regularizers.L2(float("nan")), "l2", ValueError),
        (lambda: regularizers.L2(True), "l2", TypeError),
        (lambda: regularizers.L1L2(l1=float("inf")), "l1", ValueError),
        (lambda: regularizers.L1L2(l2=-1), "l2", ValueError),
        (lambda: regularizers.OrthogonalRegularizer(factor=-1), "factor", ValueError),
        (lambda: regularizers.OrthogonalRegularizer(factor=None), "factor", TypeError),
        (lambda: regularizers.OrthogonalRegularizer(mode="cols"), "mode", ValueError),
        (lambda: regularizers.OrthogonalRegularizer()(np.ones((2, 3, 4))), "x.shape", ValueError),
        (lambda: regularizers.get("l3"), "regularizer", ValueError),
        (lambda: regularizers.get(0.1), "regularizer", TypeError),
        (lambda: regularizers.get({"config": {}}), "config", ValueError),
        (lambda: regularizers.get({"class_name": "L1", "config": 0.1}), "config", TypeError),
        (lambda: regularizers.deserialize(["L1"]), "config", TypeError),
        (lambda: regularizers.serialize("L1"), "regularizer", TypeError),
    ],
)
def test_regularizer_errors_name_the_argument(build, name, error):
    with pytest.raises(error, match=f"argument `{name}`"):
        build()


# --------------------------------------------------------------------------
# constraints
# --------------------------------------------------------------------------
CONSTRAINT_CASES = [
    ("MaxNorm", {}),
    ("MaxNorm", {"max_value": 1.5, "axis": 1}),
    ("MaxNorm", {"max_value": 3, "axis": [0, 1, 2]}),
    ("MinMaxNorm", {}),
    ("MinMaxNorm", {"min_value": 0.5, "max_value": 1.2, "rate": 0.7, "axis": -1}),
    ("MinMaxNorm", {"min_value": 2.0, "max_value": 4.0, "axis": (0, 1)}),
    ("NonNeg", {}),
    ("UnitNorm", {}),
    ("UnitNorm", {"axis": [0, 1, 2]}),
    ("UnitNorm", {"axis": -2}),
]


def _weights(shape, dtype, rng):
    """Weights whose slices have norms both below and above the bounds tested."""
    w = rng.normal(size=shape) * rng.choice([0.05, 0.5, 3.0], size=shape[-1:])
    w[..., 0] = 0  # a zero slice must stay zero
    return w.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 6), (3, 3, 4, 8)])
@pytest.mark.parametrize(("class_name", "kwargs"), CONSTRAINT_CASES)
def test_projection_matches_keras(keras, class_name, kwargs, shape, dtype, rng):
    axis = kwargs.get("axis", 0)
    if len(shape) == 2 and isinstance(axis, list) and max(axis) >= 2:
        pytest.skip("axis beyond a 2D weight")
    w = _weights(shape, dtype, rng)
    ours = getattr(constraints, class_name)(**kwargs)(w)
    theirs = _keras_apply(keras, getattr(keras.constraints, class_name)(**kwargs), w)
    assert ours.dtype == theirs.dtype == dtype
    np.testing.assert_allclose(ours, theirs, **TOLERANCE[dtype])


def test_max_norm_clips_only_long_slices():
    w = np.array([[3.0, 0.3], [4.0, 0.4]])  # column norms 5 and 0.5
    projected = constraints.MaxNorm(max_value=2.0)(w)
    np.testing.assert_allclose(np.linalg.norm(projected, axis=0), [2.0, 0.5], rtol=1e-6)


def test_unit_norm_of_conv_filters():
    w = np.random.default_rng(0).normal(size=(3, 3, 4, 8))
    projected = constraints.UnitNorm(axis=[0, 1, 2])(w)
    np.testing.assert_allclose(np.sqrt((projected**2).sum(axis=(0, 1, 2))), 1.0, rtol=1e-6)


def test_non_neg_keeps_nan_and_zeroes_negatives():
    np.testing.assert_array_equal(constraints.NonNeg()(np.array([-1.0, 2.0, np.nan])), [0, 2, np.nan])


@pytest.mark.parametrize(("class_name", "kwargs"), CONSTRAINT_CASES)
def test_constraint_config_matches_keras(keras, class_name, kwargs):
    ours = getattr(constraints, class_name)(**kwargs)
    theirs = getattr(keras.constraints, class_name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    assert constraints.serialize(ours) == keras.constraints.serialize(theirs)
    restored = constraints.get(constraints.serialize(ours))
    assert type(restored) is type(ours) and restored.get_config() == ours.get_config()


def test_constraint_names_are_keras_names(keras):
    from keras.src.constraints import ALL_OBJECTS_DICT

    assert set(constraints.ALL_OBJECTS_DICT) == set(ALL_OBJECTS_DICT)


@pytest.mark.parametrize("name", sorted(constraints.ALL_OBJECTS_DICT))
def test_constraint_get_resolves_like_keras(keras, name):
    ours, theirs = constraints.get(name), keras.constraints.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.get_config() == theirs.get_config()


def test_constraint_get_accepts_none_instances_classes_and_callables():
    assert constraints.get(None) is None
    assert constraints.deserialize(None) is None
    con = constraints.UnitNorm(axis=1)
    assert constraints.get(con) is con
    assert type(constraints.get(constraints.NonNeg)) is constraints.NonNeg
    assert constraints.get({"class_name": "max_norm", "config": {"max_value": 3}}).max_value == 3
    w = np.ones(3)
    assert constraints.Constraint()(w) is w
    assert constraints.get(np.abs) is np.abs


@pytest.mark.parametrize(
    "build, name, error",
    [
        (lambda: constraints.MaxNorm(max_value=-1), "max_value", ValueError),
        (lambda: constraints.MaxNorm(max_value="2"), "max_value", TypeError),
        (lambda: constraints.MaxNorm(axis=1.5), "axis", TypeError),
        (lambda: constraints.UnitNorm(axis=[]), "axis", TypeError),
        (lambda: constraints.UnitNorm(axis=None), "axis", TypeError),
        (lambda: constraints.MinMaxNorm(min_value=-0.5), "min_value", ValueError),
        (lambda: constraints.MinMaxNorm(min_value=2.0, max_value=1.0), "max_value", ValueError),
        (lambda: constraints.MinMaxNorm(rate=1.5), "rate", ValueError),
        (lambda: constraints.MinMaxNorm(rate=None), "rate", TypeError),
        (lambda: constraints.MaxNorm(axis=2)(np.ones((3, 4))), "axis", ValueError),
        (lambda: constraints.UnitNorm(axis=[0, -3])(np.ones((3, 4))), "axis", ValueError),
        (lambda: constraints.get("maxnorm"), "constraint", ValueError),
        (lambda: constraints.get(2), "constraint", TypeError),
        (lambda: constraints.get({"class_name": None}), "config", ValueError),
        (lambda: constraints.get({"class_name": "NonNeg", "config": "x"}), "config", TypeError),
        (lambda: constraints.deserialize(1.0), "config", TypeError),
        (lambda: constraints.serialize("max_norm"), "constraint", TypeError),
    ],
)
def test_constraint_errors_name_the_argument(build, name, error):
    with pytest.raises(error, match=f"argument `{name}`"):
        build()
