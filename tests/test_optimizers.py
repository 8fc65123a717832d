"""Optimizers against real Keras: the same variables and gradients for several steps, then errors."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from npconv import optimizers  # noqa: E402
from npconv.optimizers import schedules  # noqa: E402

SHAPES = [(3, 4), (5,), (2, 3, 2)]
NAMES = ["kernel", "bias", "extra"]
STEPS = 5
TOL = {"float32": dict(rtol=1e-5, atol=1e-7), "float64": dict(rtol=1e-6, atol=1e-12)}


class Weight:
    """What the optimizer needs of a variable: ``value`` (updated in place), ``name``, ``constraint``."""

    def __init__(self, value, name, constraint=None):
        self.value = value
        self.name = name
        self.constraint = constraint


def _problem(rng, dtype):
    initial = [rng.normal(size=shape).astype(dtype) for shape in SHAPES]
    grads = [[(rng.normal(size=shape) * 2).astype(dtype) for shape in SHAPES] for _ in range(STEPS)]
    return initial, grads


def run_npconv(optimizer, initial, grads, constraint=None):
    weights = [Weight(v.copy(), n, constraint) for v, n in zip(initial, NAMES)]
    history = []
    for step in grads:
        optimizer.apply_gradients(zip(step, weights))
        history.append([w.value.copy() for w in weights])
    return history, weights


def run_keras(keras, optimizer, initial, grads, constraint=None):
    variables = [keras.Variable(v, name=n) for v, n in zip(initial, NAMES)]
    for variable in variables:
        variable.constraint = constraint
    history = []
    for step in grads:
        optimizer.apply_gradients(zip(step, variables))
        history.append([v.numpy() for v in variables])
    return history, variables


def assert_same_trajectory(ours, theirs, dtype):
    for step, (a_step, b_step) in enumerate(zip(ours, theirs)):
        for a, b in zip(a_step, b_step):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, err_msg=f"step {step + 1}", **TOL[dtype])


def _schedule(keras_module, spec):
    if spec is None:
        return None
    cls, kwargs = spec
    return getattr(keras_module, cls)(**kwargs)


CONFIGS = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"learning_rate": 0.1, "weight_decay": 0.05}),
    ("SGD", {"momentum": 0.5, "clipnorm": 0.5}),
    ("SGD", {"clipvalue": 0.3}),
    ("SGD", {"momentum": 0.5, "global_clipnorm": 1.5}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("Adam", {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3}),
    ("Adam", {"clipnorm": 1.0, "weight_decay": 0.1}),
    ("Adam", {"global_clipnorm": 2.0}),
    ("AdamW", {}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"learning_rate": 0.01, "clipvalue": 0.5}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.9}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5, "rho": 0.8, "epsilon": 1e-4}),
    ("RMSprop", {"weight_decay": 0.2, "global_clipnorm": 1.0}),
]
SCHEDULES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5}),
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5, "staircase": True}),
    ("PiecewiseConstantDecay", {"boundaries": [1, 3], "values": [0.1, 0.05, 0.01]}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 3, "alpha": 0.1}),
    ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 3, "warmup_target": 0.1, "warmup_steps": 2}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{k}" for n, k in CONFIGS])
def test_steps_match_keras(keras, rng, name, kwargs, dtype):
    initial, grads = _problem(rng, dtype)
    ours, _ = run_npconv(getattr(optimizers, name)(**kwargs), initial, grads)
    theirs, _ = run_keras(keras, getattr(keras.optimizers, name)(**kwargs), initial, grads)
    assert_same_trajectory(ours, theirs, dtype)


SCHEDULED = [
    ("SGD", {"momentum": 0.9}),
    ("Adam", {}),
    ("AdamW", {"weight_decay": 0.5}),
    ("RMSprop", {"centered": True}),
]
# Each schedule with two of the optimizers by default; every pairing under -m slow.
SCHEDULE_CASES = [(*SCHEDULED[(i + j) % 4], spec) for i, spec in enumerate(SCHEDULES) for j in (0, 1)]
ALL_SCHEDULE_CASES = [(*opt, spec) for opt in SCHEDULED for spec in SCHEDULES]


def _ids(cases):
    return [f"{name}-{kwargs}-{spec[0]}-{spec[1]}" for name, kwargs, spec in cases]


def check_schedule(keras, rng, name, kwargs, spec, dtype):
    initial, grads = _problem(rng, dtype)
    ours_opt = getattr(optimizers, name)(learning_rate=_schedule(schedules, spec), **kwargs)
    keras_opt = getattr(keras.optimizers, name)(learning_rate=_schedule(keras.optimizers.schedules, spec), **kwargs)
    ours, _ = run_npconv(ours_opt, initial, grads)
    theirs, _ = run_keras(keras, keras_opt, initial, grads)
    assert_same_trajectory(ours, theirs, dtype)
    assert ours_opt.iterations == int(keras_opt.iterations.numpy()) == STEPS
    np.testing.assert_allclose(ours_opt.learning_rate, np.asarray(keras_opt.learning_rate), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs,spec", SCHEDULE_CASES, ids=_ids(SCHEDULE_CASES))
def test_schedules_match_keras(keras, rng, name, kwargs, spec, dtype):
    check_schedule(keras, rng, name, kwargs, spec, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs,spec", ALL_SCHEDULE_CASES, ids=_ids(ALL_SCHEDULE_CASES))
def test_every_schedule_with_every_optimizer_matches_keras(keras, rng, name, kwargs, spec, dtype):
    check_schedule(keras, rng, name, kwargs, spec, dtype)


@pytest.mark.parametrize("spec", SCHEDULES, ids=[f"{c}-{k}" for c, k in SCHEDULES])
def test_schedule_values_match_keras(keras, spec):
    ours, theirs = _schedule(schedules, spec), _schedule(keras.optimizers.schedules, spec)
    for step in range(8):
        value = ours(step)
        assert value.dtype == np.float32
        np.testing.assert_allclose(value, np.asarray(theirs(step)), rtol=1e-6)
    assert schedules.serialize(ours) == keras.optimizers.schedules.serialize(theirs)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_constraints_apply_after_the_update_like_keras(keras, rng, name):
    initial, grads = _problem(rng, "float64")
    ours, _ = run_npconv(getattr(optimizers, name)(learning_rate=0.3), initial, grads, lambda w: np.clip(w, -0.5, 0.4))
    theirs, _ = run_keras(
        keras,
        getattr(keras.optimizers, name)(learning_rate=0.3),
        initial,
        grads,
        lambda w: keras.ops.clip(w, -0.5, 0.4),
    )
    assert_same_trajectory(ours, theirs, "float64")
    assert max(np.abs(w).max() for w in ours[-1]) <= 0.5


def test_exclude_from_weight_decay_matches_keras(keras, rng):
    initial, grads = _problem(rng, "float64")
    ours_opt, keras_opt = optimizers.AdamW(weight_decay=0.3), keras.optimizers.AdamW(weight_decay=0.3)
    ours_opt.exclude_from_weight_decay(var_names=["bias"])
    keras_opt.exclude_from_weight_decay(var_names=["bias"])
    ours, _ = run_npconv(ours_opt, initial, grads)
    theirs, _ = run_keras(keras, keras_opt, initial, grads)
    assert_same_trajectory(ours, theirs, "float64")


def test_missing_gradients_are_skipped_like_keras(keras, rng):
    initial, grads = _problem(rng, "float64")
    grads = [[g if i != 1 else None for i, g in enumerate(step)] for step in grads]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, _ = run_npconv(optimizers.Adam(), initial, grads)
        theirs, _ = run_keras(keras, keras.optimizers.Adam(), initial, grads)
    assert_same_trajectory(ours, theirs, "float64")
    np.testing.assert_array_equal(ours[-1][1], initial[1])
    with pytest.warns(UserWarning, match=r"Gradients do not exist for variables \['bias'\]"):
        run_npconv(optimizers.SGD(), initial, grads[:1])


@pytest.mark.parametrize(
    "name,kwargs",
    [("SGD", {"momentum": 0.9}), ("Adam", {"amsgrad": True}), ("RMSprop", {"momentum": 0.5, "centered": True})],
)
def test_variables_are_listed_like_keras(keras, rng, name, kwargs):
    initial, grads = _problem(rng, "float32")
    ours_opt = getattr(optimizers, name)(**kwargs)
    keras_opt = getattr(keras.optimizers, name)(**kwargs)
    run_npconv(ours_opt, initial, grads[:2])
    run_keras(keras, keras_opt, initial, grads[:2])
    assert [v.name for v in ours_opt.variables] == [v.name for v in keras_opt.variables]
    for ours, theirs in zip(ours_opt.get_weights(), keras_opt.variables):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-5, atol=1e-7)


def test_set_weights_restores_state(rng):
    initial, grads = _problem(rng, "float64")
    first = optimizers.Adam(amsgrad=True)
    _, first_weights = run_npconv(first, initial, grads[:2])
    second = optimizers.Adam(amsgrad=True)
    second_weights = [Weight(w.value.copy(), w.name) for w in first_weights]
    second.build(second_weights)
    second.set_weights(first.get_weights())
    assert second.iterations == 2
    first.apply(grads[2], first_weights)
    second.apply(grads[2], second_weights)
    for a, b in zip(first_weights, second_weights):
        np.testing.assert_array_equal(a.value, b.value)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `weights`\. Expected a list of 11 arrays\. "
        r"Received: weights='a list of 1 arrays'",
    ):
        second.set_weights([np.zeros(())])
    with pytest.raises(ValueError, match=r"calling set_weights\(\) on an optimizer that has not been built yet"):
        optimizers.SGD().set_weights([])


@pytest.mark.parametrize("name,kwargs", CONFIGS[::3], ids=[f"{n}-{k}" for n, k in CONFIGS[::3]])
def test_config_matches_keras(keras, name, kwargs):
    ours, theirs = getattr(optimizers, name)(**kwargs), getattr(keras.optimizers, name)(**kwargs)
    expected = keras.optimizers.serialize(theirs)
    expected["config"]["name"] = ours.name  # Keras numbers its auto names: sgd_1, sgd_2, ...
    assert optimizers.serialize(ours) == expected


def test_config_round_trip_with_schedule():
    schedule = schedules.ExponentialDecay(0.1, 10, 0.9, staircase=True)
    optimizer = optimizers.RMSprop(learning_rate=schedule, centered=True, clipnorm=1.0, name="mine")
    again = optimizers.deserialize(optimizers.serialize(optimizer))
    assert type(again) is optimizers.RMSprop
    assert again.get_config() == optimizer.get_config()
    assert isinstance(again._learning_rate, schedules.ExponentialDecay)


@pytest.mark.parametrize(
    "identifier,cls",
    [
        ("sgd", "SGD"),
        ("adam", "Adam"),
        ("adamw", "AdamW"),
        ("rmsprop", "RMSprop"),
        ("Adam", "Adam"),
        ("RMSprop", "RMSprop"),
    ],
)
def test_get_resolves_names_with_keras_defaults(keras, identifier, cls):
    ours, theirs = optimizers.get(identifier), keras.optimizers.get(identifier)
    assert type(ours).__name__ == cls == type(theirs).__name__
    expected = theirs.get_config()
    expected["name"] = ours.name
    assert ours.get_config() == expected


def test_get_passes_objects_and_classes():
    optimizer = optimizers.SGD()
    assert optimizers.get(optimizer) is optimizer
    assert isinstance(optimizers.get(optimizers.Adam), optimizers.Adam)
    assert optimizers.get(None) is None
    assert isinstance(optimizers.get({"class_name": "adam", "config": {"learning_rate": 0.5}}), optimizers.Adam)


def test_learning_rate_is_float32_and_settable():
    optimizer = optimizers.SGD(learning_rate=0.01)
    assert optimizer.learning_rate == np.float32(0.01)
    optimizer.learning_rate = 0.5
    assert optimizer.learning_rate == 0.5
    assert optimizers.SGD(learning_rate=1).learning_rate == 1.0


def test_callable_learning_rate():
    optimizer = optimizers.SGD(learning_rate=lambda: 0.5)
    weight = Weight(np.ones(2), "w")
    optimizer.apply([np.ones(2)], [weight])
    np.testing.assert_allclose(weight.value, 0.5)


def test_empty_gradient_list_is_a_no_op():
    optimizer = optimizers.Adam()
    assert optimizer.apply_gradients([]) == 0
    assert optimizer.iterations == 0


def test_apply_without_variables_uses_built_ones():
    optimizer = optimizers.SGD(learning_rate=1.0)
    weight = Weight(np.ones(2), "w")
    optimizer.build([weight])
    optimizer.apply([np.ones(2)])
    np.testing.assert_array_equal(weight.value, [0.0, 0.0])
    assert optimizer.iterations == 1


def test_updates_in_place_and_casts_gradients():
    weight = Weight(np.ones(3, dtype="float32"), "w")
    array = weight.value
    optimizers.SGD(learning_rate=0.5).apply_gradients([(np.ones(3, dtype="float64"), weight)])
    assert weight.value is array and array.dtype == np.float32
    np.testing.assert_array_equal(array, [0.5, 0.5, 0.5])


# -------------------------------------------------------------- errors
def test_bad_learning_rate():
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `learning_rate`\. Expected a number >= 0\. "
        r"Received: learning_rate='fast'",
    ):
        optimizers.Adam(learning_rate="fast")
    with pytest.raises(ValueError, match=r"Expected a number >= 0\. Received: learning_rate=-0.1"):
        optimizers.SGD(learning_rate=-0.1)
    optimizer = optimizers.SGD(learning_rate=schedules.ExponentialDecay(0.1, 1, 0.5))
    with pytest.raises(
        TypeError,
        match=r"created with a LearningRateSchedule as its learning_rate, so its learning "
        r"rate is not settable to a float",
    ):
        optimizer.learning_rate = 0.1


def test_bad_hyperparameters():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `momentum`\. Expected a number in \[0, 1\]\. "
        r"Received: momentum=1.5",
    ):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `beta_1`\. Expected a number in \[0, 1\]\. "
        r"Received: beta_1=-0.1",
    ):
        optimizers.Adam(beta_1=-0.1)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `rho`\. Expected a number in \[0, 1\]\. "
        r"Received: rho=2",
    ):
        optimizers.RMSprop(rho=2)
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `epsilon`\. Expected a number >= 0\. "
        r"Received: epsilon=None",
    ):
        optimizers.Adam(epsilon=None)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `weight_decay`\. Expected None or a number "
        r">= 0\. Received: weight_decay=-1",
    ):
        optimizers.SGD(weight_decay=-1)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `weight_decay`\. Expected a number >= 0 "
        r"\(AdamW decays the weights; use Adam for none\)\. Received: weight_decay=None",
    ):
        optimizers.AdamW(weight_decay=None)


def test_only_one_clipping_argument():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `clipvalue`\. Expected None because "
        r"clipnorm=1.0 is set \(only one of clipnorm, clipvalue and global_clipnorm may be set\)\. "
        r"Received: clipvalue=0.5",
    ):
        optimizers.SGD(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `clipnorm`\. Expected None or a number >= 0\. "
        r"Received: clipnorm=-1",
    ):
        optimizers.SGD(clipnorm=-1)


def test_unsupported_and_unknown_arguments():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `use_ema`\. Expected False \(npconv does not "
        r"implement it\)\. Received: use_ema=True",
    ):
        optimizers.Adam(use_ema=True)
    with pytest.raises(TypeError, match=r"Unrecognized keyword arguments passed to Adam: \['lr'\]"):
        optimizers.Adam(lr=0.1)


def test_bad_apply_calls():
    optimizer = optimizers.SGD()
    weight = Weight(np.ones((2, 2)), "dense/kernel")
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `grads`\. Expected a gradient of shape \(2, 2\) "
        r"for variable 'dense/kernel'\. Received: grads='shape \(2,\)'",
    ):
        optimizer.apply_gradients([(np.ones(2), weight)])
    with pytest.raises(ValueError, match=r"No gradients provided for any variable\."):
        optimizers.SGD().apply_gradients([(None, weight)])
    with pytest.raises(
        ValueError,
        match=r"Unknown variable: .* This optimizer can only update the variables it was "
        r"built with",
    ):
        optimizer.apply_gradients([(np.ones(2), Weight(np.ones(2), "other"))])
    with pytest.raises(
        ValueError,
        match=r"When passing grads without variables, the optimizer must already be "
        r"built",
    ):
        optimizers.SGD().apply([np.ones(2)])
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `grads`\. Expected one gradient per variable "
        r"\(1\)\. Received: grads='a list of 2 gradients'",
    ):
        optimizer.apply([np.ones((2, 2)), np.ones(2)], [weight])
    with pytest.raises(
        TypeError,
        match=r"Invalid value for argument `trainable_variables\[0\]`\. Expected a "
        r"variable with a NumPy array in .value",
    ):
        optimizers.SGD().apply([np.ones(2)], [np.ones(2)])


def test_bad_identifiers():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `optimizer`\. Expected one of \['adam', "
        r"'adamw', 'rmsprop', 'sgd'\]\. Received: optimizer='adagrad'\. Or pass an optimizer object",
    ):
        optimizers.get("adagrad")
    with pytest.raises(TypeError, match=r"Invalid value for argument `optimizer`\. Expected an optimizer name"):
        optimizers.get(0.1)


def test_bad_schedules():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `decay_steps`\. Expected a number > 0\. "
        r"Received: decay_steps=0",
    ):
        schedules.ExponentialDecay(0.1, 0, 0.9)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `boundaries`\. Expected a list one shorter "
        r"than values \(2 values, so 1 boundaries\)\. Received: boundaries=\[1, 2\]",
    ):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.01])
    with pytest.raises(ValueError, match=r"Invalid value for argument `class_name`\. Expected one of"):
        schedules.deserialize({"class_name": "Nope", "config": {}})


def test_adam_first_step_places_epsilon_outside_the_bias_correction():
    """Independent of Keras: step 1 is lr * sqrt(1 - b2) / (1 - b1) * m / (sqrt(v) + epsilon), with
    m = (1 - beta_1) g and v = (1 - beta_2) g^2. As on Keras's TF backend, the betas in the bias
    correction are rounded to float32 while the moment updates use them exactly."""
    weight = Weight(np.zeros(4), "w")
    g = np.array([3.0, -0.2, 1e-3, -50.0])
    optimizers.Adam(learning_rate=0.01, epsilon=1e-7).apply([g], [weight])
    lr, b1, b2 = (float(np.float32(x)) for x in (0.01, 0.9, 0.999))
    expected = -lr * np.sqrt(1 - b2) / (1 - b1) * (1 - 0.9) * g / (np.sqrt((1 - 0.999) * g * g) + 1e-7)
    np.testing.assert_allclose(weight.value, expected, rtol=1e-12)
    # So a tiny gradient moves less than lr: epsilon is not scaled by the bias correction.
    assert abs(weight.value[2]) < 0.9969 * lr


def test_real_variable_and_constraint():
    from npconv.constraints import NonNeg
    from npconv.layers.base import Variable

    variable = Variable(np.array([0.5, -0.5, 2.0], dtype="float32"), "dense/kernel", constraint=NonNeg())
    array = variable.value
    optimizers.SGD(learning_rate=1.0).apply_gradients([(np.array([1.0, 1.0, 1.0], "float32"), variable)])
    assert variable.value is array
    np.testing.assert_array_equal(variable.value, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("loss_name,activation", [("sparse_categorical_crossentropy", "softmax")])
def test_softmax_regression_matches_keras_train_on_batch(keras, rng, loss_name, activation):
    """Loss, gradient and optimizer together against Keras's compiled training step, with saturated
    softmax outputs: Keras computes the crossentropy from the cached logits (Loss.logits_equivalent)."""
    from npconv import losses

    x = rng.normal(size=(16, 5)).astype("float32")
    y = rng.integers(0, 3, 16)
    kernel, bias = (rng.normal(size=(5, 3)) * 20).astype("float32"), np.zeros(3, "float32")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation=activation)])
    model.set_weights([kernel, bias])
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), loss_name)
    weights = [Weight(kernel.copy(), "kernel"), Weight(bias.copy(), "bias")]
    optimizer = optimizers.SGD(0.05, momentum=0.9)
    loss = losses.get(loss_name).logits_equivalent(activation)
    for _ in range(3):
        expected = model.train_on_batch(x, y)
        value, dz = loss.value_and_gradient(y, x @ weights[0].value + weights[1].value)
        optimizer.apply_gradients([(x.T @ dz, weights[0]), (dz.sum(axis=0), weights[1])])
        np.testing.assert_allclose(value, expected, rtol=1e-5)
        for ours, theirs in zip(weights, model.get_weights()):
            np.testing.assert_allclose(ours.value, theirs, rtol=1e-5, atol=1e-6)
    assert value > 20  # far beyond -log(1e-7) = 16.1, the cap with clipped probabilities
