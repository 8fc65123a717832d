"""npconv.initializers: statistics from the fans, exact properties, configs and
names against Keras, seeds, and every error message.

Tests that need Keras take the ``keras`` fixture from conftest (imported on
first use), so the rest of this file runs without Keras.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from npconv import initializers  # noqa: E402

# Conv kernels (*kernel_size, input_channels, filters) of ranks 1, 2, 3, and a Dense kernel.
KERNEL_SHAPES = [(5, 48, 96), (3, 3, 64, 128), (3, 3, 3, 16, 32), (300, 200)]
TRUNCATION_STDDEV = 0.87962566103423978  # stddev of N(0, 1) truncated to [-2, 2]


def _fans(shape):
    """fan_in, fan_out from the definition: channels times the kernel's spatial size."""
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


# --------------------------------------------------------------------------
# fans
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape",
    [(), (7,), (4, 5), (3, 4, 5), (3, 3, 4, 5), (2, 3, 3, 4, 5), (1, 1, 1), (0, 4), *KERNEL_SHAPES],
)
def test_compute_fans_matches_keras(keras, shape):
    from keras.src.initializers.random_initializers import compute_fans

    assert initializers.compute_fans(shape) == compute_fans(shape)


def test_compute_fans_with_axes_matches_keras(keras):
    from keras.src.initializers.random_initializers import compute_fans

    for shape, axes in [((3, 3, 4, 5), ([0, 1, 2], [3])), ((6, 4, 5), ([1], [0, 2])), ((6, 4), ([0], None))]:
        assert initializers.compute_fans(shape, *axes) == compute_fans(shape, *axes)


@pytest.mark.parametrize("shape", KERNEL_SHAPES[:3])
def test_compute_fans_of_conv_kernels(shape):
    assert initializers.compute_fans(shape) == _fans(shape)


# --------------------------------------------------------------------------
# shapes, dtypes, statistics
# --------------------------------------------------------------------------
ALL_INSTANCES = [
    initializers.Zeros(),
    initializers.Ones(),
    initializers.Constant(0.5),
    initializers.RandomNormal(seed=1),
    initializers.RandomUniform(seed=1),
    initializers.TruncatedNormal(seed=1),
    initializers.VarianceScaling(seed=1),
    initializers.GlorotNormal(seed=1),
    initializers.GlorotUniform(seed=1),
    initializers.HeNormal(seed=1),
    initializers.HeUniform(seed=1),
    initializers.LecunNormal(seed=1),
    initializers.LecunUniform(seed=1),
    initializers.Orthogonal(seed=1),
]


@pytest.mark.parametrize("init", ALL_INSTANCES, ids=lambda i: type(i).__name__)
@pytest.mark.parametrize("dtype", [None, "float32", "float64", np.float16])
def test_shape_and_dtype(init, dtype):
    values = init((3, 3, 4, 5), dtype=dtype)
    assert isinstance(values, np.ndarray)
    assert values.shape == (3, 3, 4, 5)
    assert values.dtype == np.dtype(dtype or "float32")


def _standard_deviation(init_cls, shape):
    """The target stddev of a preset, from the fans (before truncation for normals)."""
    fan_in, fan_out = _fans(shape)
    scale, n = {
        "GlorotUniform": (1, (fan_in + fan_out) / 2),
        "GlorotNormal": (1, (fan_in + fan_out) / 2),
        "HeUniform": (2, fan_in),
        "HeNormal": (2, fan_in),
        "LecunUniform": (1, fan_in),
        "LecunNormal": (1, fan_in),
    }[init_cls.__name__]
    return math.sqrt(scale / n)


@pytest.mark.parametrize("shape", KERNEL_SHAPES)
@pytest.mark.parametrize(
    "init_cls",
    [
        initializers.GlorotUniform,
        initializers.HeUniform,
        initializers.LecunUniform,
        initializers.GlorotNormal,
        initializers.HeNormal,
        initializers.LecunNormal,
    ],
)
def test_variance_scaling_presets_statistics(init_cls, shape):
    values = init_cls(seed=3)(shape, dtype="float64")
    std = _standard_deviation(init_cls, shape)
    assert abs(values.mean()) < 0.02 * std
    assert values.std() == pytest.approx(std, rel=0.02)
    if init_cls.__name__.endswith("Uniform"):
        limit = math.sqrt(3) * std
        assert np.abs(values).max() <= limit
        assert np.abs(values).max() > 0.99 * limit
    else:  # truncated at two stddev of the untruncated normal
        bound = 2 * std / TRUNCATION_STDDEV
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.99 * bound


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling_statistics(mode, distribution):
    shape = (3, 3, 64, 128)
    fan_in, fan_out = _fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    init = initializers.VarianceScaling(scale=3.0, mode=mode, distribution=distribution, seed=5)
    values = init(shape, dtype="float64")
    assert values.std() == pytest.approx(math.sqrt(3.0 / n), rel=0.02)


def test_variance_scaling_uses_at_least_one_unit():
    # Keras divides by max(1, n), so a zero fan does not blow up the scale.
    values = initializers.VarianceScaling(scale=0.25, distribution="uniform", seed=0)((0, 1000))
    assert values.shape == (0, 1000)
    values = initializers.VarianceScaling(scale=0.25, mode="fan_in", distribution="uniform", seed=0)((1, 2000))
    assert np.abs(values).max() <= math.sqrt(3 * 0.25)


def test_random_normal_statistics():
    values = initializers.RandomNormal(mean=1.5, stddev=0.3, seed=0)((200, 300))
    assert values.mean() == pytest.approx(1.5, abs=0.01)
    assert values.std() == pytest.approx(0.3, rel=0.02)


def test_truncated_normal_statistics():
    values = initializers.TruncatedNormal(mean=-1.0, stddev=0.5, seed=0)((200, 300), dtype="float64")
    assert values.mean() == pytest.approx(-1.0, abs=0.01)
    assert values.std() == pytest.approx(0.5 * TRUNCATION_STDDEV, rel=0.02)
    assert np.abs(values + 1.0).max() <= 2 * 0.5


def test_random_uniform_bounds():
    values = initializers.RandomUniform(minval=-0.2, maxval=0.7, seed=0)((200, 300), dtype="float64")
    assert values.min() >= -0.2 and values.max() < 0.7
    assert values.mean() == pytest.approx(0.25, abs=0.01)


# --------------------------------------------------------------------------
# exact properties
# --------------------------------------------------------------------------
def test_constants():
    np.testing.assert_array_equal(initializers.Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(initializers.Ones()((2, 3)), np.ones((2, 3)))
    np.testing.assert_array_equal(initializers.Constant(-2.5)((3, 1, 2)), np.full((3, 1, 2), -2.5))
    assert initializers.Constant(7)((2,), dtype="int32").dtype == np.int32
    assert initializers.Zeros()((2,), dtype="bool").dtype == np.bool_


def test_identity():
    np.testing.assert_array_equal(initializers.Identity()((3, 3)), np.eye(3))
    np.testing.assert_array_equal(initializers.Identity(gain=2.0)((2, 4)), 2 * np.eye(2, 4))
    np.testing.assert_array_equal(initializers.IdentityInitializer(0.5)((4, 2), dtype="float64"), 0.5 * np.eye(4, 2))


@pytest.mark.parametrize("shape", [(6, 6), (20, 7), (7, 20), (3, 3, 4, 16), (3, 3, 16, 200)])
@pytest.mark.parametrize("gain", [1.0, 0.5, 3.0])
def test_orthogonal(shape, gain):
    values = initializers.Orthogonal(gain=gain, seed=4)(shape, dtype="float64")
    matrix = values.reshape(-1, shape[-1])
    rows, cols = matrix.shape
    gram = matrix.T @ matrix if rows >= cols else matrix @ matrix.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-12)


# --------------------------------------------------------------------------
# seeds
# --------------------------------------------------------------------------
def test_seeded_initializer_repeats_itself():
    init = initializers.GlorotUniform(seed=7)
    np.testing.assert_array_equal(init((4, 5)), init((4, 5)))
    np.testing.assert_array_equal(init((4, 5)), initializers.GlorotUniform(seed=7)((4, 5)))
    assert not np.array_equal(init((4, 5)), initializers.GlorotUniform(seed=8)((4, 5)))


def test_unseeded_instances_repeat_themselves_but_differ_from_each_other():
    first, second = initializers.RandomNormal(), initializers.RandomNormal()
    np.testing.assert_array_equal(first((4, 5)), first((4, 5)))
    assert not np.array_equal(first((4, 5)), second((4, 5)))


def test_global_seed_makes_unseeded_instances_reproducible():
    initializers.set_global_seed(123)
    a = initializers.HeNormal()((4, 5))
    initializers.set_global_seed(123)
    b = initializers.HeNormal()((4, 5))
    np.testing.assert_array_equal(a, b)
    assert isinstance(initializers._global_rng(), np.random.Generator)
    initializers.set_global_seed(None)


def test_seed_semantics_match_keras(keras):
    for seed in (None, 3):
        ours, theirs = initializers.GlorotUniform(seed=seed), keras.initializers.GlorotUniform(seed=seed)
        assert np.array_equal(ours((3, 3)), ours((3, 3))) == np.array_equal(theirs((3, 3)), theirs((3, 3)))


# --------------------------------------------------------------------------
# configs and names against Keras
# --------------------------------------------------------------------------
CONFIG_CASES = [
    ("Zeros", {}),
    ("Ones", {}),
    ("Constant", {}),
    ("Constant", {"value": 2}),
    ("Constant", {"value": np.float32(2.5)}),
    ("RandomNormal", {}),
    ("RandomNormal", {"mean": 1, "stddev": 0.2, "seed": 4}),
    ("RandomUniform", {"minval": -1.0, "maxval": 2.0, "seed": 0}),
    ("TruncatedNormal", {"mean": 0.5, "stddev": 3, "seed": 9}),
    ("VarianceScaling", {}),
    ("VarianceScaling", {"scale": 2, "mode": "fan_avg", "distribution": "Normal", "seed": 1}),
    ("VarianceScaling", {"distribution": "uniform", "input_axes": [0, 1], "output_axes": [2]}),
    ("GlorotNormal", {"seed": 2}),
    ("GlorotUniform", {}),
    ("HeNormal", {"seed": 5}),
    ("HeUniform", {"input_axes": [0], "output_axes": [1]}),
    ("LecunNormal", {}),
    ("LecunUniform", {"seed": 1}),
    ("Orthogonal", {}),
    ("Orthogonal", {"gain": 2, "seed": 3}),
]


@pytest.mark.parametrize(("class_name", "kwargs"), CONFIG_CASES)
def test_get_config_matches_keras(keras, class_name, kwargs):
    ours = getattr(initializers, class_name)(**kwargs)
    theirs = getattr(keras.initializers, class_name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    assert initializers.serialize(ours) == keras.initializers.serialize(theirs)


def test_constant_by_name_is_zero():
    # Keras's get("constant") raises KeyError (its from_config needs a value).
    init = initializers.get("constant")
    assert type(init) is initializers.Constant and init.get_config() == {"value": 0.0}


def test_identity_config_keeps_the_gain(keras):
    # Keras's Identity.get_config() is {} and drops the gain; ours keeps it.
    assert keras.initializers.Identity(gain=2.0).get_config() == {}
    ours = initializers.Identity(gain=2.0)
    assert ours.get_config() == {"gain": 2.0}
    assert initializers.deserialize(initializers.serialize(ours)).gain == 2.0


KERAS_ONLY = {"STFT", "stft", "STFTInitializer"}  # the STFT initializer needs SciPy windows


def test_names_are_keras_names(keras):
    from keras.src.initializers import ALL_OBJECTS_DICT

    assert set(initializers.ALL_OBJECTS_DICT) == set(ALL_OBJECTS_DICT) - KERAS_ONLY


@pytest.mark.parametrize("name", sorted(initializers.ALL_OBJECTS_DICT))
def test_get_resolves_like_keras(keras, name):
    from keras.src.initializers import ALL_OBJECTS_DICT

    ours = initializers.get(name)
    assert type(ours).__name__ == ALL_OBJECTS_DICT[name].__name__
    # Constant and Identity: see test_constant_by_name_is_zero and
    # test_identity_config_keeps_the_gain.
    if not isinstance(ours, (initializers.Constant, initializers.Identity)):
        assert ours.get_config() == keras.initializers.get(name).get_config()


@pytest.mark.parametrize(("class_name", "kwargs"), CONFIG_CASES)
def test_serialize_round_trips(class_name, kwargs):
    init = getattr(initializers, class_name)(**kwargs)
    config = initializers.serialize(init)
    for identifier in (config, {"class_name": class_name, "config": config["config"]}):
        restored = initializers.get(identifier)
        assert type(restored) is type(init)
        assert restored.get_config() == init.get_config()
    assert initializers.get(init) is init
    assert type(initializers.get(type(init))) is type(init)


def test_get_accepts_keras_dicts_none_and_callables(keras):
    config = keras.initializers.serialize(keras.initializers.HeUniform(seed=3))
    assert initializers.get(config).get_config() == {"seed": 3, "input_axes": None, "output_axes": None}
    assert initializers.get(None) is None
    assert initializers.deserialize(None) is None

    def custom(shape, dtype=None):
        return np.zeros(shape, dtype)

    assert initializers.get(custom) is custom


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "build, name, error",
    [
        (lambda: initializers.RandomNormal(seed="1"), "seed", TypeError),
        (lambda: initializers.GlorotUniform(seed=-1), "seed", ValueError),
        (lambda: initializers.GlorotUniform(seed=True), "seed", TypeError),
        (lambda: initializers.RandomNormal(mean="0"), "mean", TypeError),
        (lambda: initializers.RandomNormal(stddev=-1.0), "stddev", ValueError),
        (lambda: initializers.TruncatedNormal(stddev=float("nan")), "stddev", ValueError),
        (lambda: initializers.RandomUniform(minval=None), "minval", TypeError),
        (lambda: initializers.RandomUniform(minval=1.0, maxval=0.0), "maxval", ValueError),
        (lambda: initializers.VarianceScaling(scale=0), "scale", ValueError),
        (lambda: initializers.VarianceScaling(scale="1"), "scale", TypeError),
        (lambda: initializers.VarianceScaling(mode="fan_sum"), "mode", ValueError),
        (lambda: initializers.VarianceScaling(distribution="gaussian"), "distribution", ValueError),
        (lambda: initializers.VarianceScaling(distribution=None), "distribution", TypeError),
        (lambda: initializers.VarianceScaling(input_axes="a", output_axes=[1]), "input_axes", TypeError),
        (lambda: initializers.HeNormal(output_axes=1.5, input_axes=[0]), "output_axes", TypeError),
        (lambda: initializers.Orthogonal(gain="1"), "gain", TypeError),
        (lambda: initializers.Identity(gain=float("inf")), "gain", ValueError),
        (lambda: initializers.Constant([1.0, 2.0]), "value", TypeError),
        (lambda: initializers.set_global_seed(1.5), "seed", TypeError),
    ],
)
def test_constructor_errors_name_the_argument(build, name, error):
    with pytest.raises(error, match=f"argument `{name}`"):
        build()


@pytest.mark.parametrize(
    "call, name, error",
    [
        (lambda: initializers.Zeros()(5), "shape", TypeError),
        (lambda: initializers.Ones()((2, 2.0)), "shape", TypeError),
        (lambda: initializers.Ones()((2, -1)), "shape", ValueError),
        (lambda: initializers.Zeros()((2,), dtype="floaty"), "dtype", TypeError),
        (lambda: initializers.GlorotUniform()((2, 2), dtype="int32"), "dtype", ValueError),
        (lambda: initializers.Orthogonal()((4,)), "shape", ValueError),
        (lambda: initializers.Identity()((2, 2, 2)), "shape", ValueError),
    ],
)
def test_call_errors_name_the_argument(call, name, error):
    with pytest.raises(error, match=f"argument `{name}`"):
        call()


def test_dtype_error_prints_a_plain_name():
    with pytest.raises(ValueError, match=r"Received: dtype='int32'"):
        initializers.RandomNormal()((2,), dtype=np.int32)


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match=r"argument `initializer`.*'glorot_uniform'.*Received: initializer='glorot'"):
        initializers.get("glorot")
    with pytest.raises(ValueError, match="argument `initializer`"):
        initializers.get({"class_name": "STFT", "config": {}})


@pytest.mark.parametrize(
    "identifier, name, error",
    [
        (3, "initializer", TypeError),
        ({"config": {}}, "config", ValueError),
        ({"class_name": "Ones", "config": [1]}, "config", TypeError),
    ],
)
def test_get_errors(identifier, name, error):
    with pytest.raises(error, match=f"argument `{name}`"):
        initializers.get(identifier)


def test_deserialize_and_serialize_reject_wrong_types():
    with pytest.raises(TypeError, match="argument `config`"):
        initializers.deserialize(3)
    with pytest.raises(TypeError, match="argument `initializer`"):
        initializers.serialize(3)
