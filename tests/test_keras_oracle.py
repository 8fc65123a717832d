"""npconv's layers against real Keras 3 (TensorFlow backend) on seeded random configurations.

For each configuration the Keras layer and the npconv layer are built from the
same arguments; Keras's (randomised) weights are copied over with
``set_weights(keras_layer.get_weights())`` and the two are compared on:
outputs (float32, rtol 1e-4, atol 1e-4 times max(1, max |expected|)),
``compute_output_shape`` (with known and with None spatial dims), weight shapes
and order, ``get_config`` keys, and acceptance: where Keras raises at
construction, build or call, npconv must raise ValueError or TypeError -- except
the documented beyond-Keras cases, which are compared against tests/naive.py:

- strides > 1 together with dilation_rate > 1 on Conv/ConvTranspose layers
  (Keras refuses at construction; npconv runs it);
- a transposed 'same' conv with output_padding 0 and an even k_eff (TF refuses
  at run time; npconv runs it, with Keras's length formula);
- zero-size outputs (that last case on a 1-pixel input): Keras's shape
  arithmetic gives 0, npconv's layers raise ValueError.

channels_first: TF 2.21 on CPU cannot be trusted with NCHW (without oneDNN it
refuses it; with oneDNN, the default, strided NCHW convs return wrong values
silently). So channels_first values are always compared against a
channels_last Keras layer holding the same weights, run on transposed data;
shapes, weights and configs still come from the channels_first Keras layer.

A bounded sample runs by default; ``pytest -m slow`` runs a 1000-config sweep.
"""

import itertools
import math
import re
import warnings
from dataclasses import dataclass, field

import naive
import numpy as np
import pytest

keras = pytest.importorskip("keras")

from npconv import layers as np_layers  # noqa: E402

CONV = ["Conv1D", "Conv2D", "Conv3D"]
TRANSPOSED = ["Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"]
DEPTHWISE = ["DepthwiseConv1D", "DepthwiseConv2D"]
SEPARABLE = ["SeparableConv1D", "SeparableConv2D"]
ALL = CONV + TRANSPOSED + DEPTHWISE + SEPARABLE
ACTIVATIONS = [None, "linear", "relu", "tanh", "sigmoid", "elu", "softplus", "swish"]
KERAS_ONLY_KEYS = {"lora_rank", "lora_alpha", "quantization_config"}


def rank_of(name):
    return int(re.search(r"(\d)D", name).group(1))


def family_of(name):
    if name in CONV:
        return "conv"
    if name in TRANSPOSED:
        return "transposed"
    return "depthwise" if name in DEPTHWISE else "separable"


@dataclass
class Config:
    name: str
    kwargs: dict
    input_shape: tuple
    seed: int
    notes: list = field(default_factory=list)

    def __str__(self):
        return f"{self.name}({self.kwargs}) on {self.input_shape}"


# --------------------------------------------------------------------------
# drawing configurations
# --------------------------------------------------------------------------
def draw(rng, name, seed):
    """One random configuration of layer ``name``; most are valid, some are not on purpose."""
    rank, family = rank_of(name), family_of(name)
    small = rank == 3
    ksize = tuple(int(v) for v in rng.integers(1, 3 if small else 5, rank))
    strides = tuple(int(v) for v in rng.integers(1, 3 if small else 4, rank))
    dilation = (1,) * rank
    if rng.random() < 0.3:
        dilation = tuple(int(v) for v in rng.integers(1, 3 if small else 4, rank))
        if rng.random() < 0.75:
            strides = (1,) * rank  # mostly what Keras accepts; the rest test the beyond-Keras path
    paddings = ["valid", "same"] + (["causal"] if name == "Conv1D" else [])
    padding = str(rng.choice(paddings))
    kwargs = {
        "kernel_size": ksize if rng.random() < 0.7 else ksize[0],
        "strides": strides,
        "padding": padding,
        "dilation_rate": dilation,
        "data_format": "channels_first" if rng.random() < 0.3 else "channels_last",
        "activation": ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))],
        "use_bias": bool(rng.random() < 0.7),
    }
    if isinstance(kwargs["kernel_size"], int):
        ksize = (kwargs["kernel_size"],) * rank
    channels = int(rng.integers(1, 4))
    if family in ("conv", "transposed", "separable"):
        kwargs["filters"] = int(rng.integers(1, 5))
    if family == "conv" and rng.random() < 0.3:
        groups = int(rng.integers(2, 4))
        kwargs["groups"] = groups
        kwargs["filters"] = groups * int(rng.integers(1, 3))
        channels = groups * int(rng.integers(1, 3))
        if rng.random() < 0.15:
            channels += 1  # does not divide: both must reject at build
    if family in ("depthwise", "separable"):
        kwargs["depth_multiplier"] = int(rng.integers(1, 4))
    if family == "transposed" and rng.random() < 0.5:
        # 0 .. s inclusive: s itself is invalid and must be rejected by both.
        kwargs["output_padding"] = tuple(int(rng.integers(0, s + 1)) for s in strides)
    k_eff = [(k - 1) * d + 1 for k, d in zip(ksize, dilation)]
    low = 1 if family == "transposed" or padding != "valid" else -1
    spatial = tuple(max(1, e + int(rng.integers(low, 4 if small else 6))) for e in k_eff)
    if family == "transposed":
        spatial = tuple(min(n, 4 if small else 7) for n in spatial)
    batch = int(rng.integers(1, 3))
    if kwargs["data_format"] == "channels_last":
        shape = (batch, *spatial, channels)
    else:
        shape = (batch, channels, *spatial)
    return Config(name, kwargs, shape, seed)


def draw_sample(seed, count):
    rng = np.random.default_rng(seed)
    return [draw(rng, ALL[i % len(ALL)], seed * 100_000 + i) for i in range(count)]


class Outcome:
    MATCH = "match"
    FALLBACK = "channels_first matched channels_last Keras"
    REJECTED = "rejected by both"
    BEYOND = "beyond Keras, matched naive"
    ZERO_SIZE = "zero-size output rejected"


M, B, R, Z = Outcome.MATCH, Outcome.BEYOND, Outcome.REJECTED, Outcome.ZERO_SIZE
EDGE_CASES = [
    # keras#9883: 12 -> 23 with output_padding 0, 24 with None.
    (
        M,
        Config(
            "Conv2DTranspose",
            {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 0},
            (1, 12, 12, 3),
            1,
        ),
    ),
    (
        M,
        Config("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (1, 12, 12, 3), 2),
    ),
    # Valid transposed with k < s: (n-1)*s + max(k, s), not (n-1)*s + k.
    (M, Config("Conv1DTranspose", {"filters": 1, "kernel_size": 1, "strides": 3}, (2, 5, 2), 3)),
    (
        M,
        Config(
            "Conv2DTranspose",
            {"filters": 2, "kernel_size": (2, 1), "strides": (3, 4), "padding": "valid", "output_padding": (2, 3)},
            (1, 3, 2, 1),
            4,
        ),
    ),
    # Strided 'same' on an even length: the odd pad pixel goes after.
    (M, Config("Conv2D", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, (1, 6, 6, 2), 5)),
    (
        M,
        Config(
            "Conv2D",
            {"filters": 3, "kernel_size": 4, "strides": 3, "padding": "same", "data_format": "channels_first"},
            (2, 2, 8, 7),
            6,
        ),
    ),
    # causal with dilation; channels_first causal.
    (M, Config("Conv1D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "causal"}, (2, 9, 3), 7)),
    (
        M,
        Config(
            "Conv1D",
            {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "causal", "data_format": "channels_first"},
            (1, 3, 9),
            8,
        ),
    ),
    # groups in 1D/2D/3D, channels_first 3D.
    (
        M,
        Config(
            "Conv3D",
            {"filters": 4, "kernel_size": 2, "groups": 2, "padding": "same", "data_format": "channels_first"},
            (1, 4, 4, 5, 3),
            9,
        ),
    ),
    (M, Config("Conv1D", {"filters": 6, "kernel_size": 3, "groups": 3, "strides": 2}, (2, 8, 6), 10)),
    # depthwise / separable with stride and dilation together (Keras decomposes these).
    (
        M,
        Config(
            "DepthwiseConv2D",
            {"kernel_size": 3, "strides": 2, "dilation_rate": 2, "depth_multiplier": 2, "padding": "same"},
            (1, 9, 8, 3),
            11,
        ),
    ),
    (
        M,
        Config(
            "SeparableConv1D",
            {"filters": 3, "kernel_size": 2, "strides": 3, "dilation_rate": 2, "depth_multiplier": 2},
            (2, 11, 2),
            12,
        ),
    ),
    # beyond Keras: stride with dilation on Conv and ConvTranspose.
    (
        B,
        Config(
            "Conv2D",
            {"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2, "padding": "same"},
            (1, 9, 10, 2),
            13,
        ),
    ),
    (
        B,
        Config(
            "Conv1DTranspose",
            {"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2, "padding": "same"},
            (1, 5, 2),
            14,
        ),
    ),
    # beyond Keras: transposed 'same' with output_padding 0 and an even kernel.
    (
        B,
        Config(
            "Conv2DTranspose",
            {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same", "output_padding": 0},
            (1, 4, 3, 2),
            15,
        ),
    ),
    # zero-size: the same on a single pixel.
    (
        Z,
        Config(
            "Conv1DTranspose",
            {"filters": 1, "kernel_size": 2, "strides": 3, "padding": "same", "output_padding": 0},
            (1, 1, 1),
            16,
        ),
    ),
    # rejected by both: too small, output_padding >= strides, groups vs channels.
    (R, Config("Conv2D", {"filters": 1, "kernel_size": 5}, (1, 4, 9, 1), 17)),
    (
        R,
        Config(
            "Conv3DTranspose", {"filters": 1, "kernel_size": 2, "strides": 2, "output_padding": 2}, (1, 3, 3, 3, 1), 18
        ),
    ),
    (R, Config("Conv2D", {"filters": 4, "kernel_size": 1, "groups": 2}, (1, 3, 3, 3), 19)),
    (R, Config("SeparableConv2D", {"filters": 1, "kernel_size": 3, "dilation_rate": 3}, (1, 6, 7, 2), 20)),
    # Activations that act on the last axis: with channels_first Keras applies them
    # to the channels_first output, so softmax runs over the last *spatial* axis.
    (
        M,
        Config(
            "Conv2D",
            {"filters": 2, "kernel_size": 1, "activation": "softmax", "data_format": "channels_first"},
            (1, 3, 5, 4),
            21,
        ),
    ),
    (
        M,
        Config(
            "Conv1DTranspose",
            {
                "filters": 3,
                "kernel_size": 2,
                "strides": 2,
                "activation": "log_softmax",
                "data_format": "channels_first",
            },
            (2, 2, 3),
            22,
        ),
    ),
    (
        M,
        Config(
            "DepthwiseConv2D",
            {"kernel_size": 2, "activation": "softmax", "data_format": "channels_first"},
            (1, 2, 4, 5),
            23,
        ),
    ),
    (M, Config("Conv2D", {"filters": 4, "kernel_size": 2, "activation": "softmax"}, (1, 5, 5, 2), 24)),
]


# --------------------------------------------------------------------------
# running one configuration
# --------------------------------------------------------------------------
def attempt(fn):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(), None
    except Exception as error:  # Keras and TF raise many types; sorted out below
        return None, error


def to_last(x, data_format):
    return x if data_format == "channels_last" else np.moveaxis(x, 1, -1)


def to_first(y, data_format):
    return y if data_format == "channels_last" else np.moveaxis(y, -1, 1)


def assert_npconv_rejects(config, np_error, np_layer, x, why):
    """Keras refused ``config``; npconv must refuse it too, with ValueError or TypeError."""
    if np_error is None:
        _, np_error = attempt(lambda: np_layer.compute_output_shape(x.shape))
    if np_error is None:
        _, np_error = attempt(lambda: np_layer(x))
    assert np_error is not None, f"Keras rejects ({why!r}) but npconv accepts {config}"
    assert isinstance(np_error, (ValueError, TypeError)), f"{config}: npconv raised {np_error!r}"


def stride_with_dilation(config):
    rank = rank_of(config.name)
    strides = naive.per_dim(config.kwargs.get("strides", 1), rank)
    dilation = naive.per_dim(config.kwargs.get("dilation_rate", 1), rank)
    return max(strides) > 1 and max(dilation) > 1


def same_zero_output_padding_even_kernel(config):
    kw = config.kwargs
    if config.name not in TRANSPOSED or kw.get("padding") != "same" or kw.get("output_padding") is None:
        return False
    rank = rank_of(config.name)
    ksize = naive.per_dim(kw["kernel_size"], rank)
    dilation = naive.per_dim(kw.get("dilation_rate", 1), rank)
    output_padding = naive.per_dim(kw["output_padding"], rank)
    return any(op == 0 and naive.k_eff(k, d) % 2 == 0 for op, k, d in zip(output_padding, ksize, dilation))


# Run-time refusals of TF's CPU kernels that are backend limits, not Keras rules:
# dilated transposed convs, and depthwise convs with unequal strides. npconv runs
# those cases, and they are checked against the naive reference instead.
TF_BACKEND_LIMITS = ("not yet support dilation rates larger than 1", "only supports equal length strides")


def tf_backend_limit(error):
    return any(text in str(error) for text in TF_BACKEND_LIMITS)


def naive_output(config, x, weights):
    """The layer's output from naive's loops, in the config's data_format; the
    activation is Keras's own."""
    kw, rank = config.kwargs, rank_of(config.name)
    data_format = kw.get("data_format") or "channels_last"
    x = to_last(x.astype("float64"), data_format)
    ksize = naive.per_dim(kw["kernel_size"], rank)
    strides = naive.per_dim(kw.get("strides", 1), rank)
    dilation = naive.per_dim(kw.get("dilation_rate", 1), rank)
    padding = kw.get("padding", "valid")
    spatial = x.shape[1:-1]
    family = family_of(config.name)
    if family == "transposed":
        output_padding = naive.per_dim(kw.get("output_padding"), rank)
        crops = [
            naive.keras_transpose_crops(*a, padding, op)
            for a, op in zip(zip(spatial, ksize, strides, dilation), output_padding)
        ]
        y = naive.conv_transpose(x, weights[0], strides, crops, dilation)
    else:
        pads = [naive.keras_conv_pads(*a, padding) for a in zip(spatial, ksize, strides, dilation)]
        if family == "conv":
            y = naive.conv(x, weights[0], strides, pads, dilation, kw.get("groups", 1))
        elif family == "depthwise":
            y = naive.depthwise_conv(x, weights[0], strides, pads, dilation)
        else:
            y = naive.separable_conv(x, weights[0], weights[1], strides, pads, dilation)
    if kw.get("use_bias", True):
        y = y + weights[-1]
    # Keras applies the activation to the output in its own data_format.
    y = to_first(y.astype("float32"), data_format)
    return np.asarray(keras.activations.get(kw.get("activation"))(y))


def assert_close(actual, expected, config):
    assert actual.shape == expected.shape, f"{config}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == np.float32, f"{config}: dtype {actual.dtype}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale, err_msg=str(config))


def random_weights(shapes, rng):
    """Standard normal scaled by 1/sqrt(fan-in), so outputs stay O(1); biases non-zero."""
    weights = []
    for shape in shapes:
        fan_in = max(1, math.prod(shape[:-1]) if len(shape) > 1 else 1)
        weights.append((rng.standard_normal(shape) / math.sqrt(fan_in)).astype("float32"))
    return weights


def check_config_keys(keras_layer, np_layer, config):
    keras_config = keras_layer.get_config()
    np_config = np_layer.get_config()
    missing = sorted(set(keras_config) - set(np_config) - KERAS_ONLY_KEYS)
    assert not missing, f"{config}: get_config lacks {missing}"
    for key in ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
                "use_bias", "depth_multiplier", "output_padding"):  # fmt: skip
        if key in keras_config:
            expected = keras_config[key]
            expected = tuple(expected) if isinstance(expected, list) else expected
            assert np_config[key] == expected, (
                f"{config}: get_config()[{key!r}] = {np_config[key]!r}, Keras {expected!r}"
            )
    activation = np_config["activation"]
    activation = activation.get("config", {}).get("name", activation) if isinstance(activation, dict) else activation
    assert (activation or "linear") == keras_config["activation"], f"{config}: activation {np_config['activation']!r}"
    assert "float32" in str(np_config["dtype"])  # Keras gives a DTypePolicy dict here


def run_config(config):
    """Compare one configuration; returns the Outcome."""
    kw = config.kwargs
    keras_cls, np_cls = getattr(keras.layers, config.name), getattr(np_layers, config.name)
    rng = np.random.default_rng(config.seed)
    x = rng.standard_normal(config.input_shape).astype("float32")
    data_format = kw.get("data_format") or "channels_last"

    np_layer, np_error = attempt(lambda: np_cls(**kw))
    keras_layer, keras_error = attempt(lambda: keras_cls(**kw))
    if keras_error is not None and stride_with_dilation(config) and family_of(config.name) in ("conv", "transposed"):
        _, twin_error = attempt(lambda: keras_cls(**{**kw, "dilation_rate": 1}))
        if twin_error is not None:  # refused for another reason too (e.g. output_padding >= strides)
            assert_npconv_rejects(config, np_error, np_layer, x, twin_error)
            return Outcome.REJECTED
        assert np_error is None, f"{config}: npconv should accept stride with dilation: {np_error!r}"
        return run_beyond(config, np_layer, x, rng)
    if keras_error is not None:
        assert_npconv_rejects(config, np_error, np_layer, x, keras_error)
        return Outcome.REJECTED
    assert np_error is None, f"Keras accepts but npconv rejects {config}: {np_error!r}"

    # compute_output_shape with unknown spatial dims (batch unknown too).
    rank = rank_of(config.name)
    channels = x.shape[-1] if data_format == "channels_last" else x.shape[1]
    unknown = (None, *[None] * rank, channels) if data_format == "channels_last" else (None, channels, *[None] * rank)
    assert np_layer.compute_output_shape(unknown) == tuple(keras_layer.compute_output_shape(unknown)), str(config)

    # build: Keras validates shapes and channels here.
    _, keras_error = attempt(lambda: keras_layer.build(x.shape))
    if keras_error is not None:
        assert_npconv_rejects(config, None, np_layer, x, keras_error)
        return Outcome.REJECTED
    expected_shape = tuple(keras_layer.compute_output_shape(x.shape))
    if 0 in expected_shape:
        assert_npconv_rejects(config, None, np_layer, x, "zero-size output")
        return Outcome.ZERO_SIZE
    assert np_layer.compute_output_shape(x.shape) == expected_shape, str(config)

    # weights: same shapes and order; Keras's (randomised) values copied over.
    np_layer.build(x.shape)
    keras_shapes = [tuple(w.shape) for w in keras_layer.weights]
    assert [tuple(w.shape) for w in np_layer.get_weights()] == keras_shapes, str(config)
    keras_layer.set_weights(random_weights(keras_shapes, rng))
    np_layer.set_weights(keras_layer.get_weights())
    check_config_keys(keras_layer, np_layer, config)

    outcome = Outcome.MATCH
    if data_format == "channels_first":
        # Values for channels_first come from a channels_last Keras layer with the
        # same weights, on transposed data: TF 2.21's CPU kernels either refuse
        # NCHW (TF_ENABLE_ONEDNN_OPTS=0) or, with oneDNN, silently return wrong
        # values for strided NCHW convs (see test_tf_channels_first_is_not_trusted).
        expected, keras_error = attempt(lambda: keras_channels_last(config, keras_layer, x))
        outcome = Outcome.FALLBACK
    else:
        expected, keras_error = attempt(lambda: np.asarray(keras_layer(x)))
    if keras_error is not None:
        if same_zero_output_padding_even_kernel(config) or tf_backend_limit(keras_error):
            return run_beyond(config, np_layer, x, rng, weights=keras_layer.get_weights())
        assert_npconv_rejects(config, None, np_layer, x, keras_error)
        return Outcome.REJECTED
    y = np_layer(x)
    assert_close(y, expected, config)
    return outcome


def keras_channels_last(config, keras_layer, x):
    """What Keras's channels_first layer computes, via its channels_last twin:
    the conv (and bias) channels_last on transposed data, then the activation
    applied, as Keras does, to the channels_first tensor (softmax & co. act on
    the last axis, which is then a spatial one)."""
    twin = {**config.kwargs, "data_format": "channels_last", "activation": None}
    clone = getattr(keras.layers, config.name)(**twin)
    x_last = np.moveaxis(x, 1, -1)
    clone.build(x_last.shape)
    clone.set_weights(keras_layer.get_weights())
    z = np.moveaxis(np.asarray(clone(x_last)), -1, 1)
    return np.asarray(keras.activations.get(config.kwargs.get("activation"))(z))


def fits(config, x):
    """Whether ``config`` fits input x by the definitions alone: groups divide
    the channels, and every output length is positive (Keras's formulas)."""
    kw, rank = config.kwargs, rank_of(config.name)
    data_format = kw.get("data_format") or "channels_last"
    x = to_last(x, data_format)
    if x.shape[-1] % kw.get("groups", 1):
        return False
    ksize = naive.per_dim(kw["kernel_size"], rank)
    strides = naive.per_dim(kw.get("strides", 1), rank)
    dilation = naive.per_dim(kw.get("dilation_rate", 1), rank)
    padding = kw.get("padding", "valid")
    if config.name in TRANSPOSED:
        output_padding = naive.per_dim(kw.get("output_padding"), rank)
        lengths = [
            naive.keras_transpose_length(*a, padding, op)
            for a, op in zip(zip(x.shape[1:-1], ksize, strides, dilation), output_padding)
        ]
    else:
        lengths = [naive.keras_conv_length(*a, padding) for a in zip(x.shape[1:-1], ksize, strides, dilation)]
    return min(lengths) > 0


def run_beyond(config, np_layer, x, rng, weights=None):
    """A case Keras refuses but npconv documents: compare with naive, or, where
    the case does not fit by the definitions, expect a clean rejection."""
    if not fits(config, x):
        assert_npconv_rejects(config, None, np_layer, x, "beyond-Keras case that does not fit")
        return Outcome.ZERO_SIZE if config.name in TRANSPOSED else Outcome.REJECTED
    expected_shape = np_layer.compute_output_shape(x.shape)
    if not np_layer.built:
        np_layer.build(x.shape)
    shapes = [tuple(w.shape) for w in np_layer.weights]
    np_layer.set_weights(weights if weights is not None else random_weights(shapes, rng))
    y = np_layer(x)
    expected = naive_output(config, x, np_layer.get_weights())
    assert expected_shape == expected.shape, str(config)
    assert_close(y, expected.astype("float32"), config)
    return Outcome.BEYOND


# --------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------
SAMPLE = draw_sample(seed=2024, count=80)


@pytest.mark.parametrize(
    "expected, config", EDGE_CASES, ids=[f"edge{i}-{c.name}" for i, (_, c) in enumerate(EDGE_CASES)]
)
def test_edge_cases(expected, config):
    outcome = run_config(config)
    if expected == Outcome.MATCH:
        assert outcome in (Outcome.MATCH, Outcome.FALLBACK)
    else:
        assert outcome == expected


@pytest.mark.parametrize("config", SAMPLE, ids=[f"{i}-{c.name}" for i, c in enumerate(SAMPLE)])
def test_sample(config):
    run_config(config)


def test_sample_covers_every_feature():
    assert {c.name for c in SAMPLE} == set(ALL)
    kw = [c.kwargs for c in SAMPLE]
    assert any(k["data_format"] == "channels_first" for k in kw)
    assert any(k.get("groups", 1) > 1 for k in kw)
    assert any(k["padding"] == "causal" for k in kw)
    assert any(k.get("output_padding") is not None for k in kw)
    assert any(c.name in TRANSPOSED and c.kwargs.get("output_padding") is None for c in SAMPLE)
    assert any(k.get("depth_multiplier", 1) > 1 for k in kw)
    assert any(max(naive.per_dim(k["dilation_rate"], 3)) > 1 for k in kw)
    assert any(stride_with_dilation(c) for c in SAMPLE)
    assert {k["activation"] for k in kw} >= {None, "relu", "tanh"}
    assert {k["use_bias"] for k in kw} == {True, False}


def test_tf_channels_first_is_not_trusted():
    """Why channels_first values are checked against channels_last Keras: npconv
    agrees with naive, and with Keras channels_last; TF's own NCHW path on CPU
    is either refused or (with oneDNN) off for this strided conv."""
    config = Config(
        "Conv2D", {"filters": 3, "kernel_size": 3, "strides": 2, "data_format": "channels_first"}, (1, 2, 7, 7), 0
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal(config.input_shape).astype("float32")
    keras_layer = keras.layers.Conv2D(**config.kwargs)
    keras_layer.build(x.shape)
    keras_layer.set_weights(random_weights([tuple(w.shape) for w in keras_layer.weights], rng))
    np_layer = np_layers.Conv2D(**config.kwargs)
    np_layer.build(x.shape)
    np_layer.set_weights(keras_layer.get_weights())
    y = np_layer(x)
    assert_close(y, keras_channels_last(config, keras_layer, x), config)
    assert_close(y, naive_output(config, x, keras_layer.get_weights()).astype("float32"), config)
    tf_nchw, error = attempt(lambda: np.asarray(keras_layer(x)))
    if error is None and not np.allclose(tf_nchw, y, rtol=1e-4, atol=1e-4):
        pytest.xfail("TF's CPU NCHW conv disagrees with channels_last Keras, naive and npconv (a TF bug)")


@pytest.mark.slow
def test_large_sweep():
    """1000 more configurations; reports how they were decided."""
    counts = {}
    for config in draw_sample(seed=7, count=1000):
        outcome = run_config(config)
        counts[outcome] = counts.get(outcome, 0) + 1
    print(counts)
    assert counts.get(Outcome.MATCH, 0) + counts.get(Outcome.FALLBACK, 0) > 600


@pytest.mark.parametrize("name", ALL)
def test_weights_and_config_defaults(name):
    """Default construction: the same weights (shapes, order) and config keys as Keras."""
    rank = rank_of(name)
    kwargs = {"kernel_size": 2} if name in DEPTHWISE else {"filters": 3, "kernel_size": 2}
    keras_layer = getattr(keras.layers, name)(**kwargs)
    np_layer = getattr(np_layers, name)(**kwargs)
    shape = (2, *[5] * rank, 4)
    keras_layer.build(shape)
    np_layer.build(shape)
    assert [tuple(w.shape) for w in np_layer.weights] == [tuple(w.shape) for w in keras_layer.weights]
    keras_config, np_config = keras_layer.get_config(), np_layer.get_config()
    assert not set(keras_config) - set(np_config) - KERAS_ONLY_KEYS
    for key, value in keras_config.items():
        if key.endswith("_initializer"):
            np_value = np_config[key]
            np_class = np_value.get("class_name") if isinstance(np_value, dict) else np_value
            snake = "".join("_" + c.lower() if c.isupper() else c for c in value["class_name"]).lstrip("_")
            assert np_class in (value["class_name"], snake), (key, np_value, value)
        elif key.endswith(("_regularizer", "_constraint")):
            assert np_config[key] is None and value is None
    # The default initializer statistics are Keras's: glorot_uniform over compute_fans, zero bias.
    kernel = np_layer.get_weights()[0]
    fan_in, fan_out = kernel.shape[-2] * math.prod(kernel.shape[:-2]), kernel.shape[-1] * math.prod(kernel.shape[:-2])
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(kernel).max() <= limit + 1e-6
    assert not np.any(np_layer.get_weights()[-1])


# --------------------------------------------------------------------------
# npconv.ops against keras.ops
# --------------------------------------------------------------------------
def draw_op_case(rng, op):
    rank = int(rng.integers(1, 4))
    ksize = tuple(int(v) for v in rng.integers(1, 4, rank))
    if rng.random() < 0.5:
        strides, dilation = tuple(int(v) for v in rng.integers(1, 4, rank)), (1,) * rank
    else:
        strides, dilation = (1,) * rank, tuple(int(v) for v in rng.integers(1, 3, rank))
    if op == "conv_transpose":
        dilation = (1,) * rank  # a TF backend limit; the layer sweep checks dilated ones against naive
    padding = str(rng.choice(["valid", "same"]))
    k_eff = [(k - 1) * d + 1 for k, d in zip(ksize, dilation)]
    spatial = tuple(e + int(rng.integers(0, 4)) for e in k_eff)
    cin, cout, mult = (int(v) for v in rng.integers(1, 4, 3))
    kwargs = {"strides": strides, "padding": padding, "dilation_rate": dilation}
    arrays = {"inputs": (2, *spatial, cin)}
    if op == "conv":
        groups = int(rng.choice([1, 1, cin]))
        arrays["kernel"] = (*ksize, cin // groups, cout * groups)
    elif op == "conv_transpose":
        arrays["kernel"] = (*ksize, cout, cin)
        if rng.random() < 0.5:
            kwargs["output_padding"] = tuple(int(rng.integers(0, s)) for s in strides)
            ops_ = kwargs["output_padding"]
            if padding == "same" and any(o == 0 and e % 2 == 0 for o, e in zip(ops_, k_eff)):
                kwargs["output_padding"] = None  # TF refuses that case at run time
    elif op == "depthwise_conv":
        arrays["kernel"] = (*ksize, cin, mult)
    else:
        arrays["depthwise_kernel"] = (*ksize, cin, mult)
        arrays["pointwise_kernel"] = (*[1] * rank, cin * mult, cout)
    if op in ("depthwise_conv", "separable_conv") and rank == 3:
        return draw_op_case(rng, op)  # keras.ops has no 3D depthwise on TF
    return arrays, kwargs


OP_CASES = [
    (op, i, *draw_op_case(np.random.default_rng(i), op))
    for op in ("conv", "conv_transpose", "depthwise_conv", "separable_conv")
    for i in range(8)
]


@pytest.mark.parametrize("op, seed, shapes, kwargs", OP_CASES, ids=[f"{c[0]}-{c[1]}" for c in OP_CASES])
def test_ops_match_keras_ops(op, seed, shapes, kwargs):
    """npconv.ops.X(...) == keras.ops.X(...) with the same arguments; channels_first
    is checked against keras.ops channels_last on transposed data."""
    from npconv import ops as np_ops

    rng = np.random.default_rng(seed)
    arrays = {name: rng.standard_normal(shape).astype("float32") for name, shape in shapes.items()}
    expected = np.asarray(getattr(keras.ops, op)(**arrays, **kwargs))
    actual = getattr(np_ops, op)(**arrays, **kwargs)
    assert_close(actual, expected, f"{op}({shapes}, {kwargs})")
    first = dict(arrays, inputs=np.moveaxis(arrays["inputs"], -1, 1))
    actual_first = getattr(np_ops, op)(**first, **kwargs, data_format="channels_first")
    assert_close(actual_first, np.moveaxis(expected, -1, 1), f"{op} channels_first")


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("name", ALL)
def test_compute_output_shape_with_unknown_dims(name, data_format):
    """Unknown spatial dims stay None; known ones follow Keras, dim by dim."""
    rank = rank_of(name)
    kwargs = {"kernel_size": 3, "strides": 2, "padding": "same", "data_format": data_format}
    if name not in DEPTHWISE:
        kwargs["filters"] = 5
    keras_layer = getattr(keras.layers, name)(**kwargs)
    np_layer = getattr(np_layers, name)(**kwargs)
    for spatial in itertools.product(*[(None, 7)] * rank):
        shape = (None, *spatial, 3) if data_format == "channels_last" else (None, 3, *spatial)
        assert np_layer.compute_output_shape(shape) == tuple(keras_layer.compute_output_shape(shape)), shape


# Every test here runs once per kernel backend (conftest.py).
pytestmark = pytest.mark.usefixtures("npconv_backend")
