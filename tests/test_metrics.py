"""Metrics against real Keras over several update_state batches, accuracy resolution, and errors."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from npconv import losses, metrics  # noqa: E402


def _batches(rng, kind, n=3, batch=5, classes=4, rank3=False):
    """n batches of (y_true, y_pred) for one kind of metric."""
    lead = (batch, 3) if rank3 else (batch,)
    out = []
    for _ in range(n):
        if kind == "binary":
            y_true = rng.integers(0, 2, size=(*lead, 1)).astype(float)
            y_pred = rng.uniform(0, 1, size=(*lead, 1))
        elif kind == "categorical":
            y_true = np.eye(classes)[rng.integers(0, classes, size=lead)]
            y_pred = rng.dirichlet(np.ones(classes), size=lead)
        elif kind == "sparse":
            y_true = rng.integers(0, classes, size=lead)
            y_pred = rng.dirichlet(np.ones(classes), size=lead)
        elif kind == "sparse_column":
            y_true = rng.integers(0, classes, size=(*lead, 1))
            y_pred = rng.dirichlet(np.ones(classes), size=lead)
        elif kind == "exact":
            y_true = rng.integers(0, 3, size=(*lead, 2)).astype(float)
            y_pred = rng.integers(0, 3, size=(*lead, 2)).astype(float)
        else:
            y_true, y_pred = rng.normal(size=(*lead, 3)), rng.normal(size=(*lead, 3))
        out.append((y_true, y_pred))
    return out


CASES = [
    ("BinaryAccuracy", {}, "binary"),
    ("BinaryAccuracy", {"threshold": 0.3}, "binary"),
    ("CategoricalAccuracy", {}, "categorical"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("SparseCategoricalAccuracy", {}, "sparse_column"),
    ("Accuracy", {}, "exact"),
    ("MeanSquaredError", {}, "regression"),
    ("MeanAbsoluteError", {}, "regression"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "regression"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "categorical"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
]


def _compare(keras, rng, cls, kwargs, kind, weights, rank3=False, dtype="float64"):
    ours, theirs = getattr(metrics, cls)(**kwargs), getattr(keras.metrics, cls)(**kwargs)
    assert ours.name == theirs.name
    lead = (5, 3) if rank3 else (5,)
    for _epoch in range(2):
        for y_true, y_pred in _batches(rng, kind, rank3=rank3):
            y_pred = y_pred.astype(dtype)
            sample_weight = {"none": None, "sample": rng.uniform(0, 2, 5), "full": rng.uniform(0, 2, lead)}[weights]
            ours.update_state(y_true, y_pred, sample_weight=sample_weight)
            theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
            np.testing.assert_allclose(ours.result(), float(theirs.result()), rtol=1e-6)
        ours.reset_state()
        theirs.reset_state()
        assert ours.result() == float(theirs.result()) == 0.0


@pytest.mark.parametrize("weights", ["none", "sample"])
@pytest.mark.parametrize("cls,kwargs,kind", CASES, ids=[f"{c}-{k}-{d}" for c, k, d in CASES])
def test_matches_keras_over_batches(keras, rng, cls, kwargs, kind, weights):
    _compare(keras, rng, cls, kwargs, kind, weights)


@pytest.mark.parametrize("weights", ["none", "sample", "full"])
@pytest.mark.parametrize("cls,kwargs,kind", CASES[::2], ids=[f"{c}-{k}-{d}" for c, k, d in CASES[::2]])
def test_rank3_matches_keras(keras, rng, cls, kwargs, kind, weights):
    _compare(keras, rng, cls, kwargs, kind, weights, rank3=True)


@pytest.mark.parametrize("cls", ["MeanSquaredError", "CategoricalAccuracy", "BinaryCrossentropy"])
def test_float32_predictions_match_keras(keras, rng, cls):
    kind = {"MeanSquaredError": "regression", "CategoricalAccuracy": "categorical", "BinaryCrossentropy": "binary"}
    _compare(keras, rng, cls, {}, kind[cls], "sample", dtype="float32")


SHAPES = [
    ((8, 1), (8, 1)),  # binary
    ((8,), (8, 1)),  # binary, flat labels
    ((8,), (8, 5)),  # sparse
    ((8, 1), (8, 5)),  # sparse, column labels
    ((8, 5), (8, 5)),  # categorical
    ((8, 3), (8, 3, 5)),  # sparse over time steps
    ((8, 3, 5), (8, 3, 5)),  # categorical over time steps
]


@pytest.mark.parametrize("identifier", ["accuracy", "acc"])
@pytest.mark.parametrize("true_shape,pred_shape", SHAPES)
def test_accuracy_resolves_from_shapes_like_keras_compile(keras, identifier, true_shape, pred_shape):
    compile_utils = pytest.importorskip("keras.src.trainers.compile_utils")
    expected = compile_utils.get_metric(identifier, np.zeros(true_shape), np.zeros(pred_shape))
    eager = metrics.get(identifier, y_true=np.zeros(true_shape), y_pred=np.zeros(pred_shape))
    assert type(eager).__name__ == type(expected).__name__
    assert eager.name == expected.name == identifier


@pytest.mark.parametrize("true_shape,pred_shape", SHAPES)
def test_deferred_accuracy_matches_keras_model_metrics(keras, rng, true_shape, pred_shape):
    compile_utils = pytest.importorskip("keras.src.trainers.compile_utils")
    classes = pred_shape[-1]
    deferred = metrics.get("accuracy", loss=losses.get("mse"))
    expected = compile_utils.get_metric("accuracy", np.zeros(true_shape), np.zeros(pred_shape))
    for _ in range(3):
        y_pred = rng.uniform(0, 1, pred_shape)
        if type(expected).__name__ == "SparseCategoricalAccuracy":
            y_true = rng.integers(0, classes, true_shape)
        else:
            y_true = rng.integers(0, 2, true_shape).astype(float)
        deferred.update_state(y_true, y_pred)
        expected.update_state(y_true, y_pred)
        np.testing.assert_allclose(deferred.result(), float(expected.result()), rtol=1e-6)
    assert deferred.name == "accuracy"
    deferred.reset_state()
    assert deferred.result() == 0.0


@pytest.mark.parametrize(
    "identifier,cls",
    [
        ("binary_accuracy", "BinaryAccuracy"),
        ("categorical_accuracy", "CategoricalAccuracy"),
        ("sparse_categorical_accuracy", "SparseCategoricalAccuracy"),
        ("mae", "MeanAbsoluteError"),
        ("mse", "MeanSquaredError"),
        ("MAE", "MeanAbsoluteError"),
        ("mean_absolute_error", "MeanAbsoluteError"),
        ("mean_squared_error", "MeanSquaredError"),
        ("binary_crossentropy", "BinaryCrossentropy"),
        ("BinaryAccuracy", "BinaryAccuracy"),
    ],
)
def test_get_names_metrics_as_keras_logs_them(keras, identifier, cls):
    compile_utils = pytest.importorskip("keras.src.trainers.compile_utils")
    metric = metrics.get(identifier)
    expected = compile_utils.get_metric(identifier, np.zeros((2, 3)), np.zeros((2, 3)))
    assert type(metric).__name__ == cls
    assert metric.name == expected.name == identifier


def test_get_passes_objects_classes_and_functions(rng):
    metric = metrics.BinaryAccuracy(threshold=0.2)
    assert metrics.get(metric) is metric
    assert isinstance(metrics.get(metrics.MeanAbsoluteError), metrics.MeanAbsoluteError)
    wrapped = metrics.get(losses.mean_absolute_error)
    assert wrapped.name == "mean_absolute_error"
    y_true, y_pred = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    np.testing.assert_allclose(wrapped(y_true, y_pred), np.abs(y_true - y_pred).mean(), rtol=1e-6)


@pytest.mark.parametrize(
    "metric",
    [metrics.BinaryAccuracy(threshold=0.3), metrics.CategoricalAccuracy(name="acc"), metrics.MeanSquaredError()],
)
def test_config_matches_keras_and_round_trips(keras, metric):
    theirs = getattr(keras.metrics, type(metric).__name__).from_config(metric.get_config())
    assert metrics.serialize(metric) == keras.metrics.serialize(theirs)
    again = metrics.deserialize(metrics.serialize(metric))
    assert type(again) is type(metric) and again.get_config() == metric.get_config()


def test_result_is_a_float_and_accumulates_in_float32():
    metric = metrics.Mean()
    metric.update_state([1.0, 2.0, 4.0])
    assert isinstance(metric.result(), float) and metric.result() == pytest.approx(7 / 3)
    assert metric.total.dtype == np.float32
    metric.update_state([10.0], sample_weight=[0.5])
    assert metric.result() == pytest.approx(12 / 3.5)


# -------------------------------------------------------------- errors
def test_bad_identifiers():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `metrics`\. Expected a metric name, one of "
        r"\[.*'accuracy'.*\]\. Received: metrics='acuracy'\. Or pass a Metric object",
    ):
        metrics.get("acuracy")
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `metrics`\. Expected a metric name .* "
        r"Received: metrics='int'",
    ):
        metrics.get(3)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `metrics`\. Expected a metric name or object\. "
        r"Received: metrics=None",
    ):
        metrics.get(None)
    with pytest.raises(ValueError, match=r"Invalid value for argument `class_name`\. Expected one of"):
        metrics.deserialize({"class_name": "F1Score", "config": {}})


def test_bad_arguments():
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `threshold`\. Expected a number, usually in "
        r"\[0, 1\]\. Received: threshold='half'",
    ):
        metrics.BinaryAccuracy(threshold="half")
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `dtype`\. Expected None, 'float16', 'float32' "
        r"or 'float64'\. Received: dtype='int8'",
    ):
        metrics.Mean(dtype="int8")
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `fn`\. Expected a function fn\(y_true, "
        r"y_pred\) returning per-sample values",
    ):
        metrics.MeanMetricWrapper(3)


def test_bad_batches():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `y_true`\. Expected as many samples as y_pred "
        r"\(4\)\. Received: y_true='shape \(3,\)'",
    ):
        metrics.SparseCategoricalAccuracy().update_state([0, 1, 2], np.zeros((4, 3)))
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `sample_weight`\. Expected an array that "
        r"broadcasts to the per-sample values of shape \(4,\)\. Received: sample_weight='shape \(3,\)'",
    ):
        metrics.MeanSquaredError().update_state(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=[1, 2, 3])
