"""Every error path: the right exception type, and a message that names the
argument and the value received (as a plain Python value, never a NumPy repr)."""

import re

import numpy as np
import pytest

from npconv import Sequential, layers, ops

ALL_RANKS = {
    layers.Conv1D: 1,
    layers.Conv2D: 2,
    layers.Conv3D: 3,
    layers.Conv1DTranspose: 1,
    layers.Conv2DTranspose: 2,
    layers.Conv3DTranspose: 3,
    layers.SeparableConv1D: 1,
    layers.SeparableConv2D: 2,
}
WITH_FILTERS = list(ALL_RANKS)
DEPTHWISE = [layers.DepthwiseConv1D, layers.DepthwiseConv2D]


def make(cls, **kwargs):
    """cls with its required arguments filled in, then ``kwargs``."""
    if cls in DEPTHWISE:
        return cls(**{"kernel_size": 3, **kwargs})
    return cls(**{"filters": 2, "kernel_size": 3, **kwargs})


def ids(cls):
    return cls.__name__


def received(name, value):
    """The tail every house message ends its first sentence with."""
    return re.escape(f"Received: {name}={value!r}")


# --------------------------------------------------------------------------
# positive-integer arguments
# --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", WITH_FILTERS, ids=ids)
@pytest.mark.parametrize("value", [0, -3])
def test_filters_not_positive(cls, value):
    with pytest.raises(ValueError, match=r"argument `filters`.*" + received("filters", value)):
        cls(filters=value, kernel_size=3)


@pytest.mark.parametrize("value", [2.5, "4", None, True])
def test_filters_not_an_int(value):
    with pytest.raises(TypeError, match=r"argument `filters`.*" + received("filters", value)):
        layers.Conv2D(filters=value, kernel_size=3)


@pytest.mark.parametrize("cls", WITH_FILTERS + DEPTHWISE, ids=ids)
@pytest.mark.parametrize("argument", ["kernel_size", "strides", "dilation_rate"])
@pytest.mark.parametrize("bad", [0, -1, "tuple_with_zero"])
def test_tuple_arguments_not_positive(cls, argument, bad):
    rank = ALL_RANKS.get(cls, 1 if cls is layers.DepthwiseConv1D else 2)
    value = (*([1] * (rank - 1)), 0) if bad == "tuple_with_zero" else bad
    with pytest.raises(
        ValueError, match=rf"argument `{argument}`.*{rank} positive integers.*" + received(argument, value)
    ):
        make(cls, **{argument: value})


@pytest.mark.parametrize("argument", ["kernel_size", "strides", "dilation_rate"])
def test_tuple_arguments_wrong_length(argument):
    with pytest.raises(ValueError, match=rf"argument `{argument}`.*" + received(argument, (1, 2, 3))):
        layers.Conv2D(2, **{"kernel_size": 3, argument: (1, 2, 3)})


@pytest.mark.parametrize("argument", ["kernel_size", "strides", "dilation_rate"])
@pytest.mark.parametrize("value", [1.5, (1, 2.0), None, "3"])
def test_tuple_arguments_not_ints(argument, value):
    kwargs = {"kernel_size": 3, argument: value}
    error = (TypeError, ValueError) if isinstance(value, str) else TypeError  # a str is a 1-tuple of the wrong length
    with pytest.raises(error, match=rf"argument `{argument}`.*" + received(argument, value)):
        layers.Conv2D(2, **kwargs)


def test_numpy_ints_are_accepted_and_reported_plainly():
    layer = layers.Conv2D(np.int64(2), np.int32(3), strides=(np.int64(1), 2))
    assert layer.kernel_size == (3, 3) and layer.strides == (1, 2)
    with pytest.raises(ValueError, match=received("strides", [1, 0])):  # a plain list, not array([1, 0])
        layers.Conv2D(2, 3, strides=np.array([1, 0]))
    with pytest.raises(ValueError, match=received("filters", 0)):
        layers.Conv2D(np.int64(0), 3)


@pytest.mark.parametrize("cls", [layers.Conv1D, layers.Conv2D, layers.Conv3D], ids=ids)
@pytest.mark.parametrize("value", [0, -2])
def test_groups_not_positive(cls, value):
    with pytest.raises(ValueError, match=r"argument `groups`.*" + received("groups", value)):
        cls(4, 3, groups=value)


def test_groups_not_an_int():
    with pytest.raises(TypeError, match=r"argument `groups`.*" + received("groups", 1.5)):
        layers.Conv2D(4, 3, groups=1.5)


@pytest.mark.parametrize("cls", DEPTHWISE + [layers.SeparableConv1D, layers.SeparableConv2D], ids=ids)
@pytest.mark.parametrize("value", [0, -1])
def test_depth_multiplier_not_positive(cls, value):
    with pytest.raises(ValueError, match=r"argument `depth_multiplier`.*" + received("depth_multiplier", value)):
        make(cls, depth_multiplier=value)


# --------------------------------------------------------------------------
# padding, data_format, output_padding, output_shape
# --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", WITH_FILTERS + DEPTHWISE, ids=ids)
@pytest.mark.parametrize("value", ["foo", "SAMEE", ""])
def test_bad_padding_string(cls, value):
    with pytest.raises(ValueError, match=r"argument `padding`.*'valid', 'same'.*" + received("padding", value)):
        make(cls, padding=value)


@pytest.mark.parametrize(
    "cls",
    [
        layers.Conv2D,
        layers.Conv3D,
        layers.Conv1DTranspose,
        layers.Conv2DTranspose,
        layers.DepthwiseConv2D,
        layers.SeparableConv2D,
    ],
    ids=ids,
)
def test_causal_only_on_1d_forward(cls):
    with pytest.raises(ValueError, match=r"argument `padding`.*" + received("padding", "causal") + r".*only for 1D"):
        make(cls, padding="causal")


def test_causal_accepted_on_conv1d():
    assert layers.Conv1D(2, 3, padding="CAUSAL").padding == "causal"


@pytest.mark.parametrize("value", [-1, (1, -1), ((0, 1), (2, -3)), (1, 2, 3), ((1, 2, 3), (0, 0))])
def test_bad_explicit_padding(value):
    with pytest.raises(ValueError, match=r"argument `padding`.*" + received("padding", value)):
        layers.Conv2D(2, 3, padding=value)


@pytest.mark.parametrize("value", [1.5, None, ((0, 1.5), (0, 0))])
def test_padding_of_wrong_type(value):
    with pytest.raises((TypeError, ValueError), match=r"argument `padding`.*" + received("padding", value)):
        layers.Conv2D(2, 3, padding=value)


@pytest.mark.parametrize("cls", WITH_FILTERS + DEPTHWISE, ids=ids)
@pytest.mark.parametrize("value", ["NHWC", "channels_middle", 1])
def test_bad_data_format(cls, value):
    with pytest.raises(ValueError, match=r"argument `data_format`.*" + received("data_format", value)):
        make(cls, data_format=value)


@pytest.mark.parametrize("cls", [layers.Conv1D, layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv1D], ids=ids)
def test_bad_padding_mode(cls):
    with pytest.raises(ValueError, match=r"argument `padding_mode`.*'reflect'.*" + received("padding_mode", "mirror")):
        make(cls, padding_mode="mirror")


@pytest.mark.parametrize(
    "cls, strides, value",
    [
        (layers.Conv1DTranspose, 2, 2),
        (layers.Conv2DTranspose, 2, (1, 2)),
        (layers.Conv2DTranspose, (3, 1), (1, 1)),
        (layers.Conv3DTranspose, 1, 0 + 1),
    ],
    ids=str,
)
def test_output_padding_not_below_strides(cls, strides, value):
    rank = ALL_RANKS[cls]
    shown = (value,) * rank if isinstance(value, int) else value
    with pytest.raises(ValueError, match=r"argument `output_padding`.*strides.*" + received("output_padding", shown)):
        cls(2, 3, strides=strides, output_padding=value)


def test_output_padding_negative():
    with pytest.raises(ValueError, match=r"argument `output_padding`.*" + received("output_padding", -1)):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=-1)


def test_output_padding_in_the_op():
    x = np.ones((1, 4, 4, 3), "float32")
    with pytest.raises(ValueError, match=r"argument `output_padding`.*" + received("output_padding", (2, 2))):
        ops.conv_transpose(x, np.ones((3, 3, 2, 3), "float32"), strides=2, output_padding=2)


def test_output_shape_with_output_padding():
    with pytest.raises(
        ValueError, match=r"argument `output_shape`.*" + received("output_shape", (10, 10)) + r".*output_padding"
    ):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=1, output_shape=(10, 10))


@pytest.mark.parametrize("value", [0, (10, 0), (10, 10, 10)])
def test_bad_output_shape(value):
    with pytest.raises(ValueError, match=r"argument `output_shape`.*" + received("output_shape", value)):
        layers.Conv2DTranspose(2, 3, strides=2, output_shape=value)


# --------------------------------------------------------------------------
# groups against channels
# --------------------------------------------------------------------------
@pytest.mark.parametrize("filters, groups", [(4, 3), (5, 2), (1, 2)])
def test_groups_must_divide_filters(filters, groups):
    with pytest.raises(ValueError, match=rf"argument `groups`.*filters={filters}.*" + received("groups", groups)):
        layers.Conv2D(filters, 3, groups=groups)


@pytest.mark.parametrize("channels", [3, 5])
def test_groups_must_divide_input_channels(channels):
    layer = layers.Conv2D(4, 3, groups=2)
    with pytest.raises(
        ValueError, match=rf"argument `groups`.*input channels \({channels}\).*" + received("groups", 2)
    ):
        layer(np.ones((1, 5, 5, channels), "float32"))
    assert not layer.weights


def test_grouped_kernel_must_divide_input_channels_in_the_op():
    with pytest.raises(ValueError, match=r"3 channels.*\(3, 3, 2, 4\)"):
        ops.conv(np.ones((1, 5, 5, 3)), np.ones((3, 3, 2, 4)))


# --------------------------------------------------------------------------
# inputs that do not fit
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls, kwargs, shape",
    [
        (layers.Conv2D, {"filters": 1, "kernel_size": 5}, (1, 3, 3, 1)),
        (layers.Conv2D, {"filters": 1, "kernel_size": 3, "dilation_rate": 2}, (1, 4, 9, 1)),
        (layers.Conv1D, {"filters": 1, "kernel_size": 4, "strides": 2}, (1, 3, 1)),
        (layers.Conv3D, {"filters": 1, "kernel_size": (1, 1, 3)}, (1, 4, 4, 2, 1)),
        (layers.DepthwiseConv2D, {"kernel_size": 4}, (1, 3, 8, 2)),
        (layers.SeparableConv1D, {"filters": 2, "kernel_size": 6}, (2, 5, 3)),
        (layers.Conv2D, {"filters": 1, "kernel_size": 5, "padding": ((1, 0), (0, 0))}, (1, 3, 5, 1)),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_kernel_larger_than_input(cls, kwargs, shape):
    spatial = list(shape[1:-1])
    pattern = r"zero or negative.*" + re.escape(f"input_size={spatial}") + r".*kernel_size="
    layer = cls(**kwargs)
    with pytest.raises(ValueError, match=pattern):
        layer.compute_output_shape(shape)
    with pytest.raises(ValueError, match=pattern):
        layer(np.ones(shape, "float32"))


def test_kernel_larger_than_input_channels_first():
    layer = layers.Conv2D(1, (2, 5), data_format="channels_first")
    with pytest.raises(ValueError, match=re.escape("input_size=[4, 3]") + r".*kernel_size=\[2, 5\]"):
        layer.compute_output_shape((1, 7, 4, 3))


def test_transposed_zero_size_output():
    """'same' with output_padding=0 and an even kernel on one pixel gives (1-1)*s = 0."""
    layer = layers.Conv1DTranspose(1, 2, strides=2, padding="same", output_padding=0)
    with pytest.raises(ValueError, match=r"zero or negative.*output_size=\[0\]"):
        layer(np.ones((1, 1, 1), "float32"))


def test_transposed_zero_size_output_advice_is_for_transposed_convs():
    """Explicit pads crop a transposed conv's output: the fix names that, not padding='same'."""
    layer = layers.Conv2DTranspose(1, 3, padding=((3, 3), (0, 0)))
    with pytest.raises(ValueError, match=r"output_size=\[-3, 3\].*crop its output: use smaller pads") as info:
        layer(np.ones((1, 1, 1, 1), "float32"))
    assert "padding='same'" not in str(info.value)


@pytest.mark.parametrize("cls", WITH_FILTERS + DEPTHWISE, ids=ids)
def test_wrong_rank_before_build(cls):
    layer = make(cls)
    rank = ALL_RANKS.get(cls, 1 if cls is layers.DepthwiseConv1D else 2)
    shape = (1,) + (6,) * (rank + 2)
    with pytest.raises(ValueError, match=rf"argument `input_shape`.*rank {rank + 2}.*" + re.escape(str(shape))):
        layer(np.ones(shape, "float32"))
    assert not layer.built


@pytest.mark.parametrize("cls", WITH_FILTERS + DEPTHWISE, ids=ids)
def test_wrong_rank_and_channels_after_build(cls):
    layer = make(cls)
    rank = ALL_RANKS.get(cls, 1 if cls is layers.DepthwiseConv1D else 2)
    layer(np.ones((1, *[6] * rank, 3), "float32"))
    weights = layer.get_weights()
    for shape in [(1, *[6] * rank, 4), (1, *[6] * (rank + 1), 3), (1, *[6] * rank)]:
        with pytest.raises(ValueError, match=r"incompatible.*" + re.escape(f"received inputs with shape {shape}")):
            layer(np.ones(shape, "float32"))
    assert all(np.array_equal(a, b) for a, b in zip(weights, layer.get_weights()))


def test_unknown_channels_cannot_build():
    with pytest.raises(ValueError, match=r"channel dimension.*" + re.escape("(None, 5, 5, None)")):
        layers.Conv2D(2, 3).build((None, 5, 5, None))


@pytest.mark.parametrize("mode, size", [("reflect", 2), ("reflect", 1), ("circular", 1)])
def test_padding_mode_larger_than_input(mode, size):
    layer = layers.Conv2D(1, 5, padding="same", padding_mode=mode)  # pads 2 on each side
    with pytest.raises(
        ValueError, match=rf"argument `padding_mode`.*padding_mode='{mode}'.*length {size}.*Received: pads="
    ):
        layer(np.ones((1, 6, size, 1), "float32"))


def test_reflect_at_the_limit_is_fine():
    y = layers.Conv1D(1, 5, padding="same", padding_mode="reflect")(np.ones((1, 3, 1), "float32"))
    assert y.shape == (1, 3, 1)


# --------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------
BAD_ARRAYS = {
    "complex": np.ones((1, 5, 5, 1), dtype=complex),
    "str": np.full((1, 5, 5, 1), "a"),
    "object": np.ones((1, 5, 5, 1), dtype=object),
}


@pytest.mark.parametrize("kind", sorted(BAD_ARRAYS))
def test_bad_input_dtype_on_layers(kind):
    x = BAD_ARRAYS[kind]
    layer = layers.Conv2D(1, 3)
    with pytest.raises(TypeError, match=rf"argument `inputs`.*{np.asarray(x).dtype}"):
        layer(x)
    assert not layer.built


@pytest.mark.parametrize("kind", sorted(BAD_ARRAYS))
def test_bad_dtype_in_ops(kind):
    bad = BAD_ARRAYS[kind]
    good_x = np.ones((1, 5, 5, 1), "float32")
    good_k = np.ones((3, 3, 1, 1), "float32")
    with pytest.raises(TypeError, match=r"argument `inputs`"):
        ops.conv(bad, good_k)
    with pytest.raises(TypeError, match=r"argument `kernel`"):
        ops.conv(good_x, bad[0, :3, :3, :, None])
    with pytest.raises(TypeError, match=r"argument `inputs`"):
        ops.conv_transpose(bad, good_k)
    with pytest.raises(TypeError, match=r"argument `inputs`"):
        ops.depthwise_conv(bad, good_k)
    with pytest.raises(TypeError, match=r"argument `pointwise_kernel`"):
        ops.separable_conv(good_x, good_k, bad[:, :1, :1, :1])


def test_int_and_bool_inputs_are_cast():
    layer = layers.Conv2D(1, 3, kernel_initializer="ones")
    assert layer(np.ones((1, 5, 5, 1), dtype=int)).dtype == np.float32
    assert layer(np.ones((1, 5, 5, 1), dtype=bool)).dtype == np.float32


@pytest.mark.parametrize("value", ["int32", "complex64", "string", "float8"])
def test_bad_layer_dtype(value):
    with pytest.raises(TypeError, match=r"argument `dtype`.*" + received("dtype", value)):
        layers.Conv2D(1, 3, dtype=value)


def test_layer_dtype_accepts_keras_dtype_policy_dict():
    """Keras's get_config() gives dtype as a DTypePolicy dict; from_config must take it."""
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"}}
    assert layers.Conv2D(1, 3, dtype=policy).dtype == "float64"
    with pytest.raises(TypeError, match=r"argument `dtype`"):
        layers.Conv2D(1, 3, dtype={"class_name": "DTypePolicy", "config": {"name": "int8"}})


@pytest.mark.parametrize("value", [{"no": "name"}, [("a", "f4")], object()])
def test_layer_dtype_of_the_wrong_kind(value):
    """Whatever np.dtype makes of it (TypeError or ValueError), the house message names `dtype`."""
    with pytest.raises(TypeError, match=r"argument `dtype`"):
        layers.Conv2D(1, 3, dtype=value)


def test_ops_rank_mismatch():
    with pytest.raises(ValueError, match=r"argument `inputs`.*rank 4.*shape \(1, 5, 3\)"):
        ops.conv(np.ones((1, 5, 3)), np.ones((3, 3, 3, 4)))
    with pytest.raises(ValueError, match=r"argument `kernel`.*shape \(3, 4\)"):
        ops.conv(np.ones((1, 5, 3)), np.ones((3, 4)))


def test_ops_channel_mismatch():
    x = np.ones((1, 5, 5, 3))
    with pytest.raises(ValueError, match=r"3 channels.*`kernel` expects 4"):
        ops.conv_transpose(x, np.ones((3, 3, 2, 4)))
    with pytest.raises(ValueError, match=r"3 channels.*`kernel` expects 2"):
        ops.depthwise_conv(x, np.ones((3, 3, 2, 1)))
    with pytest.raises(ValueError, match=r"3 channels.*`depthwise_kernel` expects 2"):
        ops.separable_conv(x, np.ones((3, 3, 2, 1)), np.ones((1, 1, 2, 4)))
    with pytest.raises(
        ValueError, match=r"argument `pointwise_kernel`.*\(1, \.\.\., 6, filters\).*shape \(1, 1, 5, 4\)"
    ):
        ops.separable_conv(x, np.ones((3, 3, 3, 2)), np.ones((1, 1, 5, 4)))


# --------------------------------------------------------------------------
# other constructor arguments
# --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", WITH_FILTERS + DEPTHWISE, ids=ids)
def test_unknown_kwargs(cls):
    with pytest.raises(TypeError, match=r"Unrecognized keyword arguments.*\['fliters', 'paddding'\]"):
        make(cls, paddding="same", fliters=3)


def test_use_bias_must_be_bool():
    with pytest.raises(TypeError, match=r"argument `use_bias`.*" + received("use_bias", "yes")):
        layers.Conv2D(1, 3, use_bias="yes")


def test_name_must_be_a_string():
    with pytest.raises(TypeError, match=r"argument `name`.*" + received("name", 3)):
        layers.Conv2D(1, 3, name=3)


def test_unknown_activation():
    with pytest.raises(ValueError, match=r"`activation`.*not_an_activation"):
        layers.Conv2D(1, 3, activation="not_an_activation")


@pytest.mark.parametrize(
    "argument", ["kernel_initializer", "bias_initializer", "kernel_regularizer", "kernel_constraint", "bias_constraint"]
)
def test_unknown_initializer_regularizer_constraint(argument):
    with pytest.raises(ValueError, match=rf"`{argument}`.*no_such_thing"):
        layers.Conv2D(1, 3, **{argument: "no_such_thing"})


@pytest.mark.parametrize(
    "cls, argument",
    [
        (layers.DepthwiseConv2D, "depthwise_initializer"),
        (layers.SeparableConv2D, "depthwise_initializer"),
        (layers.SeparableConv2D, "pointwise_initializer"),
        (layers.SeparableConv1D, "pointwise_constraint"),
    ],
    ids=str,
)
def test_unknown_initializer_names_the_role(cls, argument):
    with pytest.raises(ValueError, match=rf"`{argument}`.*no_such_thing"):
        make(cls, **{argument: "no_such_thing"})


# --------------------------------------------------------------------------
# set_weights
# --------------------------------------------------------------------------
def built_conv():
    layer = layers.Conv2D(2, 3, kernel_initializer="ones")
    layer(np.ones((1, 5, 5, 3), "float32"))
    return layer


def assert_unchanged(layer, before):
    after = layer.get_weights()
    assert len(after) == len(before)
    assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(after, before))


@pytest.mark.parametrize("count", [0, 1, 3])
def test_set_weights_wrong_count(count):
    layer = built_conv()
    before = layer.get_weights()
    weights = [np.zeros((3, 3, 3, 2)), np.zeros(2), np.zeros(2)][:count]
    with pytest.raises(
        ValueError, match=rf"argument `weights`.*a list of 2 arrays.*Received: weights='a list of {count} arrays'"
    ):
        layer.set_weights(weights)
    assert_unchanged(layer, before)


def test_set_weights_wrong_shape():
    layer = built_conv()
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"argument `weights`.*shape \(2,\).*bias.*Received: weights='shape \(3,\)'"):
        layer.set_weights([np.zeros((3, 3, 3, 2)), np.zeros(3)])
    assert_unchanged(layer, before)
    with pytest.raises(
        ValueError, match=r"argument `weights`.*shape \(3, 3, 3, 2\).*Received: weights='shape \(3, 3, 2, 3\)'"
    ):
        layer.set_weights([np.zeros((3, 3, 2, 3)), np.zeros(2)])
    assert_unchanged(layer, before)


def test_set_weights_on_an_unbuilt_layer():
    layer = layers.Conv2D(2, 3)
    with pytest.raises(ValueError, match=r"argument `weights`.*list of 0 arrays.*Build the layer first"):
        layer.set_weights([np.zeros((3, 3, 3, 2)), np.zeros(2)])


@pytest.mark.parametrize("kind", ["str", "complex", "object"])
def test_set_weights_bad_dtype_changes_nothing(kind):
    """A bad array anywhere in the list is rejected before any weight changes."""
    layer = built_conv()
    before = layer.get_weights()
    bias = {
        "str": np.array(["a", "b"]),
        "complex": np.array([1 + 2j, 3j]),
        "object": np.array([None, 1.0], dtype=object),
    }[kind]
    with pytest.raises(TypeError, match=r"`weights`"):
        layer.set_weights([np.zeros((3, 3, 3, 2)), bias])
    assert_unchanged(layer, before)


def test_sequential_set_weights_wrong_shape_changes_nothing():
    model = Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 1)), layers.Conv2D(1, 2)])
    before = model.get_weights()
    wrong = [np.zeros_like(w) for w in before]
    wrong[-1] = np.zeros(5)
    with pytest.raises(ValueError, match=r"argument `weights`.*\(1,\).*\(5,\)"):
        model.set_weights(wrong)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with pytest.raises(ValueError, match=r"argument `weights`"):
        model.set_weights(wrong[:-1])


def test_sequential_set_weights_bad_dtype_changes_nothing():
    model = Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 1)), layers.Conv2D(1, 2)])
    before = model.get_weights()
    bad = [np.zeros_like(w) for w in before]
    bad[-1] = np.array(["x"])
    with pytest.raises(TypeError, match=r"`weights`"):
        model.set_weights(bad)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


# --------------------------------------------------------------------------
# Sequential.add of a layer that does not fit
# --------------------------------------------------------------------------
def snapshot(model):
    return len(model.layers), model.output_shape, [w.copy() for w in model.get_weights()]


@pytest.mark.parametrize(
    "bad, pattern",
    [
        (lambda: layers.Conv2D(2, 5), r"zero or negative.*input_size=\[3, 3\].*kernel_size=\[5, 5\]"),
        (lambda: layers.Conv2D(3, 3, groups=3), r"argument `groups`.*input channels \(2\).*Received: groups=3"),
        (lambda: layers.Conv1D(2, 1), r"argument `input_shape`.*rank 3.*\(None, 3, 3, 2\)"),
        (lambda: layers.Conv3DTranspose(2, 1), r"argument `input_shape`.*rank 5"),
        (lambda: layers.DepthwiseConv2D(4), r"zero or negative"),
        (lambda: layers.Conv2D(1, 2, padding="same", padding_mode="reflect", dilation_rate=3), None),
    ],
)
def test_sequential_add_that_does_not_fit(bad, pattern):
    model = Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 1))])
    state = snapshot(model)
    layer = bad()
    if pattern is None:
        # Fits by shape (reflect is checked on data): the add succeeds.
        model.add(layer)
        assert len(model.layers) == 2
        return
    with pytest.raises(ValueError, match=pattern):
        model.add(layer)
    after = snapshot(model)
    assert after[:2] == state[:2]
    assert all(np.array_equal(a, b) for a, b in zip(state[2], after[2]))
    assert not layer.built and not layer.weights
    # The model still works, and a fitting layer can still be added.
    model.add(layers.Conv2D(1, 3))
    assert model.output_shape == (None, 1, 1, 1)
    assert model(np.ones((2, 5, 5, 1), "float32")).shape == (2, 1, 1, 1)


def test_sequential_add_of_a_built_layer_with_other_channels():
    other = layers.Conv2D(1, 3)
    other(np.ones((1, 5, 5, 7), "float32"))
    model = Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 1))])
    state = snapshot(model)
    with pytest.raises(ValueError, match=r"incompatible.*\(None, None, None, 7\)"):
        model.add(other)
    assert snapshot(model)[:2] == state[:2]


def test_sequential_add_not_a_layer():
    model = Sequential()
    with pytest.raises(TypeError, match=r"argument `layer`.*" + received("layer", "ndarray")):
        model.add(np.ones(3))
    assert model.layers == []


def test_sequential_add_the_same_layer_twice():
    layer = layers.Conv2D(2, 3, padding="same", input_shape=(5, 5, 2))
    model = Sequential([layer])
    with pytest.raises(ValueError, match=r"already in model"):
        model.add(layer)
    assert len(model.layers) == 1
