"""Losses against real Keras (values and TF GradientTape gradients), finite differences, and errors."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from npconv import losses  # noqa: E402

REDUCTIONS = ["sum_over_batch_size", "sum", "none", "mean", "mean_with_sample_weight"]
TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-6, atol=1e-12)}


# ------------------------------------------------------------------ data
def _probabilities(rng, shape, extremes=True):
    """Probabilities with a few entries outside Keras's clip range [1e-7, 1 - 1e-7]."""
    p = rng.uniform(0.02, 0.98, size=shape)
    if extremes:
        flat = p.reshape(-1)
        flat[0], flat[-1], flat[len(flat) // 2] = 0.0, 1.0, 1e-9
    return p


def _distributions(rng, shape, unnormalized=False, extremes=True):
    p = rng.uniform(0.05, 1.0, size=shape)
    if extremes:
        p.reshape(-1, shape[-1])[0, 0] = 0.0
    return p if unnormalized else p / p.sum(axis=-1, keepdims=True)


def _case(name, rng, from_logits=False, shape=(4, 3)):
    """(y_true, y_pred) for one loss family."""
    if name in ("mse", "mae", "huber"):
        return rng.normal(size=shape), rng.normal(size=shape) * 1.5
    if name == "bce":
        y_true = rng.integers(0, 2, size=shape).astype(float)
        y_pred = rng.normal(size=shape) * 3 if from_logits else _probabilities(rng, shape)
        return y_true, y_pred
    classes = shape[-1]
    labels = rng.integers(0, classes, size=shape[:-1])
    if name == "cce":
        y_true = np.eye(classes)[labels]
        y_pred = rng.normal(size=shape) * 3 if from_logits else _distributions(rng, shape, unnormalized=True)
        return y_true, y_pred
    y_pred = rng.normal(size=shape) * 3 if from_logits else _distributions(rng, shape)
    return labels, y_pred


def _pair(keras, name, **kwargs):
    """The npconv loss and its Keras twin, built with the same arguments."""
    classes = {
        "mse": "MeanSquaredError",
        "mae": "MeanAbsoluteError",
        "huber": "Huber",
        "bce": "BinaryCrossentropy",
        "cce": "CategoricalCrossentropy",
        "scce": "SparseCategoricalCrossentropy",
    }[name]
    return getattr(losses, classes)(**kwargs), getattr(keras.losses, classes)(**kwargs)


def keras_value_and_grad(keras_loss, y_true, y_pred, sample_weight=None):
    import tensorflow as tf

    variable = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        value = keras_loss(y_true, variable, sample_weight=sample_weight)
    return np.asarray(value), tape.gradient(value, variable).numpy()


def assert_matches_keras(loss, keras_loss, y_true, y_pred, sample_weight=None, dtype="float64"):
    y_pred = np.asarray(y_pred, dtype=dtype)
    y_true = np.asarray(y_true, dtype=dtype)
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=dtype)
    expected_value, expected_grad = keras_value_and_grad(keras_loss, y_true, y_pred, sw)
    value, grad = loss.value_and_gradient(y_true, y_pred, sample_weight=sw)
    np.testing.assert_allclose(value, expected_value, **TOL[dtype])
    assert grad.shape == y_pred.shape and grad.dtype == y_pred.dtype
    atol = TOL[dtype]["atol"] * max(1.0, np.abs(expected_grad).max())
    np.testing.assert_allclose(grad, expected_grad, rtol=TOL[dtype]["rtol"], atol=atol)
    np.testing.assert_allclose(loss(y_true, y_pred, sample_weight=sw), value)
    np.testing.assert_array_equal(loss.gradient(y_true, y_pred, sample_weight=sw), grad)


# ---------------------------------------------------------- keras oracle
CONFIGS = [
    ("mse", {}),
    ("mae", {}),
    ("huber", {"delta": 0.7}),
    ("bce", {}),
    ("bce", {"from_logits": True}),
    ("bce", {"label_smoothing": 0.2}),
    ("bce", {"from_logits": True, "label_smoothing": 0.1}),
    ("cce", {}),
    ("cce", {"from_logits": True}),
    ("cce", {"label_smoothing": 0.1}),
    ("cce", {"from_logits": True, "label_smoothing": 0.3}),
    ("scce", {}),
    ("scce", {"from_logits": True}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{k}" for n, k in CONFIGS])
def test_default_reduction_matches_keras(keras, rng, name, kwargs, dtype):
    y_true, y_pred = _case(name, rng, kwargs.get("from_logits", False))
    loss, keras_loss = _pair(keras, name, dtype=dtype, **kwargs)
    assert_matches_keras(loss, keras_loss, y_true, y_pred, dtype=dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", ["none", "per_sample", "column"])
@pytest.mark.parametrize("name,kwargs", CONFIGS[::2], ids=[f"{n}-{k}" for n, k in CONFIGS[::2]])
def test_reductions_and_sample_weights_match_keras(keras, rng, name, kwargs, reduction, weights):
    y_true, y_pred = _case(name, rng, kwargs.get("from_logits", False))
    sample_weight = {"none": None, "per_sample": rng.uniform(0, 2, 4), "column": rng.uniform(0, 2, (4, 1))}[weights]
    loss, keras_loss = _pair(keras, name, reduction=reduction, dtype="float64", **kwargs)
    assert_matches_keras(loss, keras_loss, y_true, y_pred, sample_weight)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{k}" for n, k in CONFIGS])
def test_rank3_inputs_with_per_timestep_weights_match_keras(keras, rng, name, kwargs, dtype):
    y_true, y_pred = _case(name, rng, kwargs.get("from_logits", False), shape=(3, 5, 4))
    loss, keras_loss = _pair(keras, name, dtype=dtype, **kwargs)
    assert_matches_keras(loss, keras_loss, y_true, y_pred, rng.uniform(0, 2, (3, 5)), dtype=dtype)


def test_unnormalized_labels_use_tf_softmax_minus_labels_gradient(keras, rng):
    """TF's fused kernel returns softmax - labels even when labels do not sum to 1."""
    y_true = rng.uniform(0, 1, (4, 3))
    loss, keras_loss = _pair(keras, "cce", from_logits=True, dtype="float64")
    assert_matches_keras(loss, keras_loss, y_true, rng.normal(size=(4, 3)))


@pytest.mark.parametrize("from_logits", [False, True])
def test_ignore_class_masks_like_keras(keras, rng, from_logits, dtype="float64"):
    _, y_pred = _case("scce", rng, from_logits, shape=(6, 4))
    y_true = np.array([0, 3, -1, 2, -1, 1])
    for reduction in REDUCTIONS:
        loss, keras_loss = _pair(keras, "scce", from_logits=from_logits, ignore_class=-1, reduction=reduction)
        assert_matches_keras(loss, keras_loss, y_true, y_pred)
        assert_matches_keras(loss, keras_loss, y_true, y_pred, rng.uniform(0, 2, 6))


@pytest.mark.parametrize(
    "y_true_shape,y_pred_shape",
    [((4,), (4, 1)), ((4, 1), (4,)), ((4, 1), (4, 1)), ((4,), (4,))],
)
@pytest.mark.parametrize("name", ["mse", "mae", "huber", "bce"])
def test_rank_matching_matches_keras(keras, rng, name, y_true_shape, y_pred_shape):
    y_true = rng.integers(0, 2, size=y_true_shape).astype(float)
    y_pred = rng.uniform(0.05, 0.95, size=y_pred_shape)
    loss, keras_loss = _pair(keras, name, dtype="float64")
    assert_matches_keras(loss, keras_loss, y_true, y_pred, rng.uniform(0, 2, 4))


def test_sparse_labels_as_column_and_integer_dtype(keras, rng):
    y_pred = _distributions(rng, (5, 3))
    labels = rng.integers(0, 3, size=(5, 1))
    loss, keras_loss = _pair(keras, "scce", dtype="float64")
    assert_matches_keras(loss, keras_loss, labels, y_pred)


def test_categorical_axis_1_matches_keras(keras, rng):
    y_true = np.moveaxis(np.eye(4)[rng.integers(0, 4, (3, 5))], -1, 1)
    for from_logits in (False, True):
        y_pred = rng.normal(size=(3, 4, 5)) if from_logits else rng.uniform(0.05, 1, (3, 4, 5))
        loss, keras_loss = _pair(keras, "cce", from_logits=from_logits, axis=1, dtype="float64")
        assert_matches_keras(loss, keras_loss, y_true, y_pred)


def test_binary_axis_0_matches_keras(keras, rng):
    y_true, y_pred = _case("bce", rng, shape=(4, 3))
    loss, keras_loss = _pair(keras, "bce", axis=0, dtype="float64")
    assert_matches_keras(loss, keras_loss, y_true, y_pred)


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "bce", "cce", "scce"])
def test_function_forms_match_keras(keras, rng, name):
    fn = {
        "mse": "mean_squared_error",
        "mae": "mean_absolute_error",
        "huber": "huber",
        "bce": "binary_crossentropy",
        "cce": "categorical_crossentropy",
        "scce": "sparse_categorical_crossentropy",
    }[name]
    y_true, y_pred = _case(name, rng)
    expected = np.asarray(getattr(keras.losses, fn)(y_true, y_pred))
    np.testing.assert_allclose(getattr(losses, fn)(y_true, y_pred), expected, rtol=1e-6)
    _, keras_loss = _pair(keras, name, dtype="float64")  # wraps the same function
    assert_matches_keras(losses.get(fn), keras_loss, y_true, y_pred)


@pytest.mark.parametrize("activation,name", [("softmax", "cce"), ("sigmoid", "bce"), ("softmax", "scce")])
def test_logits_equivalent_matches_keras_cached_logits(keras, rng, activation, name):
    """Keras on TF computes crossentropy from the logits cached on a softmax/sigmoid output."""
    import tensorflow as tf

    y_true, _ = _case(name, rng, shape=(4, 3))
    logits = rng.normal(size=(4, 3)) * 20  # saturated: clipping would change the numbers
    loss, keras_loss = _pair(keras, name, dtype="float64")
    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
        expected = keras_loss(y_true, getattr(keras.activations, activation)(variable))
    expected_grad = tape.gradient(expected, variable).numpy()
    twin = loss.logits_equivalent(activation)
    value, grad = twin.value_and_gradient(y_true, logits)
    np.testing.assert_allclose(value, float(expected), rtol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=1e-12)
    assert loss.from_logits is False  # the original is untouched
    assert losses.MeanSquaredError().logits_equivalent("softmax") is None
    assert loss.logits_equivalent("relu") is None
    assert (
        losses.get(f"{'sparse_' if name == 'scce' else ''}{'binary' if name == 'bce' else 'categorical'}_crossentropy")
        .logits_equivalent(activation)
        .value_and_gradient(y_true, logits)[0]
        == value
    )


def test_logits_equivalent_is_none_with_ignore_class():
    assert losses.SparseCategoricalCrossentropy(ignore_class=0).logits_equivalent("softmax") is None


# ---------------------------------------------------- finite differences
FD_CONFIGS = [
    ("mse", {}),
    ("mae", {}),
    ("huber", {"delta": 0.7}),
    ("bce", {}),
    ("bce", {"from_logits": True, "label_smoothing": 0.1}),
    ("cce", {"label_smoothing": 0.1}),
    ("cce", {"from_logits": True}),
    ("scce", {}),
    ("scce", {"from_logits": True}),
]


@pytest.mark.parametrize("name,kwargs", FD_CONFIGS, ids=[f"{n}-{k}" for n, k in FD_CONFIGS])
def test_gradient_matches_finite_differences(rng, name, kwargs):
    from_logits = kwargs.get("from_logits", False)
    y_true, _ = _case(name, rng, from_logits)
    if name == "bce" and not from_logits:
        y_pred = rng.uniform(0.1, 0.9, (4, 3))
    elif name in ("cce", "scce") and not from_logits:
        y_pred = _distributions(rng, (4, 3), unnormalized=name == "cce", extremes=False)
    else:
        y_pred = _case(name, rng, from_logits)[1]
    cls = {
        "mse": losses.MeanSquaredError,
        "mae": losses.MeanAbsoluteError,
        "huber": losses.Huber,
        "bce": losses.BinaryCrossentropy,
        "cce": losses.CategoricalCrossentropy,
        "scce": losses.SparseCategoricalCrossentropy,
    }[name]
    loss = cls(**kwargs)
    weights = rng.uniform(0.5, 2, 4)
    grad = loss.gradient(y_true, y_pred, sample_weight=weights)
    numeric = np.zeros_like(y_pred)
    h = 1e-6
    for index in np.ndindex(y_pred.shape):
        plus, minus = y_pred.copy(), y_pred.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (loss(y_true, plus, weights) - loss(y_true, minus, weights)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


# ------------------------------------------------------------- lookup
@pytest.mark.parametrize(
    "identifier,cls,name",
    [
        ("mse", None, "mse"),
        ("mean_squared_error", None, "mean_squared_error"),
        ("MSE", None, "MSE"),
        ("mae", None, "mae"),
        ("huber", None, "huber"),
        ("binary_crossentropy", None, "binary_crossentropy"),
        ("categorical_crossentropy", None, "categorical_crossentropy"),
        ("sparse_categorical_crossentropy", None, "sparse_categorical_crossentropy"),
        ("MeanSquaredError", losses.MeanSquaredError, "mean_squared_error"),
        ("Huber", losses.Huber, "huber_loss"),
        ("BinaryCrossentropy", losses.BinaryCrossentropy, "binary_crossentropy"),
        ("SparseCategoricalCrossentropy", losses.SparseCategoricalCrossentropy, "sparse_categorical_crossentropy"),
    ],
)
def test_get_resolves_keras_names(identifier, cls, name):
    loss = losses.get(identifier)
    assert isinstance(loss, cls or losses.LossFunctionWrapper)
    assert loss.name == name
    assert loss.reduction == "sum_over_batch_size"


def test_get_passes_objects_classes_and_functions():
    loss = losses.BinaryCrossentropy(from_logits=True)
    assert losses.get(loss) is loss
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    assert losses.get(losses.mean_absolute_error).fn is losses.mean_absolute_error
    assert losses.get(None) is None


@pytest.mark.parametrize(
    "y_true,y_pred,fn",
    [
        (np.zeros((2, 1)), np.zeros((2, 1)), losses.binary_crossentropy),
        (np.zeros((2,)), np.zeros((2, 3)), losses.sparse_categorical_crossentropy),
        (np.zeros((2, 1)), np.zeros((2, 3)), losses.sparse_categorical_crossentropy),
        (np.zeros((2, 3)), np.zeros((2, 3)), losses.categorical_crossentropy),
    ],
)
def test_crossentropy_alias_picks_from_shapes(y_true, y_pred, fn):
    assert losses.get("crossentropy", y_true, y_pred).fn is fn
    assert losses.get("ce", y_true, y_pred).name == "ce"


@pytest.mark.parametrize(
    "loss",
    [
        losses.MeanSquaredError(reduction="sum"),
        losses.Huber(delta=2.5),
        losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, axis=-1),
        losses.CategoricalCrossentropy(label_smoothing=0.2, axis=1, name="cce"),
        losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255, reduction="none"),
        losses.get("mae"),
    ],
)
def test_serialize_round_trip(loss):
    config = losses.serialize(loss)
    again = losses.deserialize(config)
    assert type(again) is type(loss)
    assert again.get_config() == loss.get_config()


def test_config_matches_keras(keras):
    for name, kwargs in CONFIGS:
        ours, theirs = _pair(keras, name, **kwargs)
        expected = keras.losses.serialize(theirs)
        got = losses.serialize(ours)
        if name == "huber":
            expected["config"]["delta"] = kwargs["delta"]  # npconv keeps delta; Keras drops it
        assert got == expected
    assert losses.serialize(losses.mean_squared_error) == keras.losses.serialize(keras.losses.mean_squared_error)


def test_reduction_none_returns_array_and_gradient_of_sum(rng):
    y_true, y_pred = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    values = losses.MeanSquaredError(reduction=None)(y_true, y_pred)
    assert isinstance(values, np.ndarray) and values.shape == (3,)
    np.testing.assert_allclose(
        losses.MeanSquaredError(reduction=None).gradient(y_true, y_pred),
        losses.MeanSquaredError(reduction="sum").gradient(y_true, y_pred),
    )


def test_default_dtype_follows_y_pred(rng):
    loss = losses.MeanSquaredError()
    assert loss.gradient(np.zeros(3), np.ones(3, "float32")).dtype == np.float32
    assert loss.gradient(np.zeros(3), np.ones(3)).dtype == np.float64
    assert losses.MeanSquaredError(dtype="float32").gradient(np.zeros(3), np.ones(3)).dtype == np.float64
    assert isinstance(loss(np.zeros(3), np.ones(3, "float32")), float)


# -------------------------------------------------------------- errors
def test_sparse_label_out_of_range():
    y_pred = np.full((3, 4), 0.25)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `y_true`\. Expected class labels in \[0, 4\) because y_pred has 4 "
        r"classes\. Received: y_true='an array containing the label 7'\. Labels must be integer class indices",
    ):
        losses.SparseCategoricalCrossentropy()([0, 7, 1], y_pred)
    with pytest.raises(ValueError, match=r"Received: y_true='an array containing the label -1'"):
        losses.sparse_categorical_crossentropy([0, -1, 1], y_pred)
    with pytest.raises(ValueError, match=r"Received: y_true='an array containing the label 4'"):
        losses.SparseCategoricalCrossentropy(from_logits=True).gradient([4, 0, 0], y_pred)


def test_sparse_label_ignore_class_is_not_out_of_range():
    y_pred = np.full((3, 4), 0.25)
    assert np.isfinite(losses.SparseCategoricalCrossentropy(ignore_class=255)([0, 255, 1], y_pred))


def test_sparse_label_not_finite():
    with pytest.raises(ValueError, match=r"Expected finite integer class labels\. Received: y_true='an array "):
        losses.SparseCategoricalCrossentropy()([0, np.nan], np.full((2, 3), 1 / 3))


def test_sparse_label_shape():
    with pytest.raises(
        ValueError,
        match=r"Expected integer labels of shape \(2,\) \(or \(2, 1\)\) for y_pred of shape"
        r" \(2, 3\)\. Received: y_true='shape \(2, 3\)'\. For one-hot labels use categorical_crossentropy\.",
    ):
        losses.SparseCategoricalCrossentropy()(np.eye(3)[:2], np.full((2, 3), 1 / 3))


def test_sparse_axis():
    with pytest.raises(ValueError, match=r"Invalid value for argument `axis`\. Expected -1 \(sparse crossentropy"):
        losses.SparseCategoricalCrossentropy(axis=0)([0, 1], np.full((2, 3), 1 / 3))


def test_categorical_shape_mismatch():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `y_true`\. Expected an array with the shape of "
        r"y_pred \(2, 3\) \(one-hot labels, one column per class\)\. Received: y_true='shape \(2, 4\)'",
    ):
        losses.CategoricalCrossentropy()(np.zeros((2, 4)), np.full((2, 3), 1 / 3))


def test_binary_shape_mismatch():
    with pytest.raises(ValueError, match=r"Expected an array with the shape of y_pred \(2, 3\) \(binary crossentropy"):
        losses.BinaryCrossentropy()(np.zeros((2, 2)), np.full((2, 3), 0.5))


def test_bad_reduction():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `reduction`\. Expected one of "
        r"\['sum_over_batch_size', 'sum', 'mean', 'mean_with_sample_weight', 'none', None\]\. "
        r"Received: reduction='average'",
    ):
        losses.MeanSquaredError(reduction="average")


def test_bad_crossentropy_arguments():
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `from_logits`\. Expected True or False\. "
        r"Received: from_logits='yes'",
    ):
        losses.BinaryCrossentropy(from_logits="yes")
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `label_smoothing`\. Expected a float in "
        r"\[0, 1\]\. Received: label_smoothing=1.5",
    ):
        losses.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(TypeError, match=r"Expected a float in \[0, 1\]\. Received: label_smoothing='0.1'"):
        losses.BinaryCrossentropy(label_smoothing="0.1")
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `axis`\. Expected an integer\. Received: "
        r"axis=True",
    ):
        losses.CategoricalCrossentropy(axis=True)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `axis`\. Expected an integer in \[-2, 2\) "
        r"for y_pred of rank 2\. Received: axis=2",
    ):
        losses.BinaryCrossentropy(axis=2)(np.zeros((2, 3)), np.full((2, 3), 0.5))
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `ignore_class`\. Expected None or an integer "
        r"class id\. Received: ignore_class=1.5",
    ):
        losses.SparseCategoricalCrossentropy(ignore_class=1.5)


def test_bad_huber_delta():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `delta`\. Expected a non-negative number\. "
        r"Received: delta=-1",
    ):
        losses.Huber(delta=-1)


def test_bad_sample_weight():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `sample_weight`\. Expected an array that "
        r"broadcasts against the per-sample losses of shape \(4,\)\. Received: sample_weight='shape "
        r"\(3,\)'\. Pass one weight per sample",
    ):
        losses.MeanSquaredError()(np.zeros((4, 2)), np.ones((4, 2)), sample_weight=[1, 2, 3])


def test_bad_inputs():
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `y_pred`\. Expected a real-valued numeric "
        r"array\. Received: y_pred='array of dtype <U1'",
    ):
        losses.MeanSquaredError()([1.0], ["a"])
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `dtype`\. Expected None, 'float16', 'float32' "
        r"or 'float64'\. Received: dtype='int32'",
    ):
        losses.MeanSquaredError(dtype="int32")
    with pytest.raises(TypeError, match=r"Invalid value for argument `name`\. Expected a string\. Received: name=3"):
        losses.MeanSquaredError(name=3)


def test_bad_identifiers():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `loss`\. Expected one of \[.*'mse'.*\]\. "
        r"Received: loss='msq'\. Or pass a npconv.losses.Loss object",
    ):
        losses.get("msq")
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `loss`\. Expected a loss name .* Received: "
        r"loss='int'",
    ):
        losses.get(3)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `loss`\. Expected a specific crossentropy name "
        r"when no data shapes are known\. Received: loss='crossentropy'",
    ):
        losses.get("crossentropy")
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `class_name`\. Expected one of .* Received: "
        r"class_name='Nope'",
    ):
        losses.deserialize({"class_name": "Nope", "config": {}})


def test_custom_function_without_gradient():
    loss = losses.get(lambda y_true, y_pred: np.abs(y_true - y_pred).mean(axis=-1))
    assert loss(np.zeros((2, 2)), np.ones((2, 2))) == 1.0
    with pytest.raises(
        ValueError,
        match=r"The loss function '<lambda>' has no gradient in npconv\. Subclass "
        r"npconv.losses.Loss and implement forward",
    ):
        loss.gradient(np.zeros((2, 2)), np.ones((2, 2)))
