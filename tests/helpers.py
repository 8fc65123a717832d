"""Helpers the test modules share: one finite-difference gradient, one layer
gradient check, one closeness assertion, a layer test harness, and the
convolution seam called with explicit pads. Test modules import from here (and
from ``naive``, the loop reference), never from each other."""

import numpy as np

from npconv import config
from npconv.ops import convolution, kernels
from npconv.ops.registry import set_algorithm
from npconv.ops.spec import ConvSpec

EPS = 1e-5


def numeric_gradient(output, array, r=None, eps=EPS):
    """Central differences with respect to every entry of ``array`` (perturbed in place).

    ``output()`` returns an array; the differentiated scalar is ``sum(output() * r)``
    (``r`` None: ``output()`` is the scalar itself). The two outputs are subtracted
    before the sum, so entries a perturbation does not touch cancel exactly.
    """
    grad = np.zeros_like(array)
    flat, out = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        plus = np.array(output(), dtype="float64")
        flat[i] = keep - eps
        minus = np.array(output(), dtype="float64")
        flat[i] = keep
        difference = plus - minus if r is None else (plus - minus) * r
        out[i] = np.sum(difference) / (2 * eps)
    return grad


def _call(layer, inputs, form, training):
    if form == "single":
        return layer(inputs, training=training)
    if form == "list":
        return layer(list(inputs), training=training)
    return layer(*inputs, training=training)


def check_gradients(layer, x, rng, training=False, rtol=1e-6, atol=1e-9, eps=EPS, form="single"):
    """A float64 layer's backward pass (the input gradients and every trainable
    weight's gradient) against finite differences of ``sum(layer(x) * r)`` for a
    fixed random ``r``.

    ``form`` is the layer's call form:

    - "single": ``layer(x)``, backward returns dx;
    - "list" (merge layers): ``layer([a, b])``, backward returns a list of dx;
    - "args" (operation layers): ``layer(a, 3.0)`` with ``x`` the argument list;
      backward returns the gradients of the array arguments only (a bare array
      when there is one).

    Returns (dx, {weight name: gradient}) for further checks.
    """
    if form == "single":
        inputs = np.array(x, dtype="float64")
        arrays = [inputs]
    else:
        inputs = [np.array(v, dtype="float64") if isinstance(v, np.ndarray) else v for v in x]
        arrays = [v for v in inputs if isinstance(v, np.ndarray)]
    y = np.array(_call(layer, inputs, form, training))
    r = rng.standard_normal(y.shape)
    for w in layer.weights:
        w.grad = None
    dx = layer.backward(r)
    grads = {w.name: None if w.grad is None else w.grad.copy() for w in layer.weights}

    def output():
        return np.array(_call(layer, inputs, form, training))  # a copy: some layers return views of x

    dxs = [dx] if form == "single" or (form == "args" and len(arrays) == 1) else list(dx)
    assert len(dxs) == len(arrays), f"backward gave {len(dxs)} gradients for {len(arrays)} array inputs"
    for i, (d, a) in enumerate(zip(dxs, arrays)):
        assert d.shape == a.shape, f"d(input {i}): shape {d.shape} != {a.shape}"
        expected = numeric_gradient(output, a, r, eps)
        np.testing.assert_allclose(d, expected, rtol=rtol, atol=atol, err_msg=f"d(input {i})")
    for w in layer.trainable_weights:
        expected = numeric_gradient(output, w.value, r, eps)
        assert grads[w.name] is not None, f"no gradient for {w.name}"
        np.testing.assert_allclose(grads[w.name], expected, rtol=rtol, atol=atol, err_msg=w.name)
    return dx, grads


def close(actual, expected, rtol=1e-5, atol=1e-5):
    """Same shape, and equal within ``rtol`` plus ``atol`` times the larger of 1 and max |expected|."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale)


def keras_config_keys(keras_layer, ignore=()):
    """The keys of a Keras layer's config, less ``ignore``."""
    return set(keras_layer.get_config()) - set(ignore)


def run_layer_test(
    layer_class,
    init_kwargs,
    input_shape,
    rng,
    keras=None,
    expected_output_shape=None,
    check_gradient=True,
    training=False,
    rtol=1e-5,
    atol=1e-6,
):
    """The checks every layer gets, in the manner of Keras's ``run_layer_test``.

    - build and call: float32 in, float32 out; ``compute_output_shape`` agrees with
      the real output, also with an unknown batch size;
    - config round trip: ``from_config(get_config())`` gives the same config, and the
      clone with the same weights gives the same output;
    - float64: a float64 layer computes in float64 and its backward pass (dx and every
      weight) matches finite differences;
    - with ``keras`` (the module): the Keras layer of the same name and arguments,
      given npconv's weights, gives the same output, and has the same config keys.

    Returns the float32 layer, built.
    """
    x = rng.standard_normal(input_shape).astype("float32")
    layer = layer_class(**init_kwargs)
    y = layer(x, training=training)
    assert y.dtype == np.float32, y.dtype
    if expected_output_shape is not None:
        assert y.shape == tuple(expected_output_shape), (y.shape, expected_output_shape)
    assert tuple(layer.compute_output_shape(x.shape)) == y.shape
    assert tuple(layer.compute_output_shape((None, *x.shape[1:]))) == (None, *y.shape[1:])

    config = layer.get_config()
    clone = layer_class.from_config(config)
    assert clone.get_config() == {**config, "name": clone.name}
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x, training=training), y)

    if check_gradient:
        wide = layer_class(**{**init_kwargs, "dtype": "float64"})
        y64 = wide(x.astype("float64"), training=training)
        assert y64.dtype == np.float64, y64.dtype
        wide.set_weights([w.astype("float64") for w in layer.get_weights()])
        check_gradients(wide, x.astype("float64"), rng, training=training)

    if keras is not None:
        theirs = getattr(keras.layers, layer_class.__name__)(**init_kwargs)
        theirs.build(x.shape)
        theirs.set_weights(layer.get_weights())
        close(y, np.asarray(theirs(x, training=training)), rtol=rtol, atol=atol)
        assert set(config) == keras_config_keys(theirs), set(config) ^ keras_config_keys(theirs)
    return layer


def assert_close(actual, expected, rtol=1e-6, atol=1e-8, what=""):
    """Same shape, and equal within ``rtol`` and a fixed ``atol``."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def input_shape(rank, channels=3, size=4, batch=2, data_format="channels_last"):
    """(batch, *spatial, channels) or (batch, channels, *spatial) for a rank-``rank``
    layer; the spatial sizes differ (size, size + 1, ...) so swapped axes show."""
    spatial = tuple(size + i for i in range(rank))
    if data_format == "channels_first":
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def keras_twin(keras, layer, build_shape=None):
    """The Keras layer built from npconv's own serialized config (so the config
    also round-trips into Keras), with npconv's weights copied in."""
    from npconv import layers

    twin = keras.layers.deserialize(layers.serialize(layer))
    if build_shape is not None:
        twin.build(build_shape)
    if layer.weights:
        twin.set_weights(layer.get_weights())
    return twin


# ----------------------------------------------------------------------------
# the convolution seam with explicit pads (the algorithm and memory tests)
# ----------------------------------------------------------------------------
def conv_spec(x_shape, kernel_shape, strides, pads, dilation, groups=1, mode="zeros", dtype="float64"):
    """(spec, pads) the seam gets for a forward conv; with a padding mode other than
    zeros, the spec is of the padded input (zero pads) and ``pads`` are what to pad by."""
    padding = tuple(map(tuple, pads))
    return convolution._forward_spec(
        x_shape, tuple(kernel_shape), strides, padding, dilation, groups, mode, np.dtype(dtype), False, None, False
    )


def seam_forward(x, kernel, strides, pads, dilation, groups=1, mode="zeros", keep=None):
    """The forward conv through the seam: y of x (batch, *spatial, in), pads (before, after) per dim."""
    return convolution.conv_nd(x, kernel, strides, tuple(map(tuple, pads)), dilation, groups, mode, keep)


def seam_input_grad(dy, kernel, strides, pads, dilation, input_size, groups=1, mode="zeros"):
    """dx (batch, *input_size, in) through the seam, with a padding mode's pads folded back."""
    x_shape = (dy.shape[0], *input_size, groups * kernel.shape[-2])
    dtype = np.result_type(dy.dtype, kernel.dtype)
    spec, pads = conv_spec(x_shape, kernel.shape, strides, pads, dilation, groups, mode, dtype)
    dx = kernels.conv_input_grad(spec, dy, kernel)
    return dx if mode == "zeros" else kernels.pad_spatial_backward(dx, pads, mode)


def seam_kernel_grad(x, dy, kernel_shape, strides, pads, dilation, groups=1, mode="zeros", kept=None):
    """dkernel through the seam (``kept``: what a forward call kept for it)."""
    dtype = np.result_type(x.dtype, dy.dtype)
    spec, pads = conv_spec(x.shape, kernel_shape, strides, pads, dilation, groups, mode, dtype)
    xp = x if mode == "zeros" else kernels.pad_spatial(x, pads, mode)
    return kernels.conv_kernel_grad(spec, xp, dy, kept)[0]


def transpose_spec(x, kernel, strides, pads, dilation):
    """The seam's spec of a transposed conv of x whose zero-inserted input is padded by ``pads``.

    kernel: (*k, filters, in_channels), Keras's transposed layout."""
    k_eff = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:-2], dilation)]
    out = [(n - 1) * s + 1 + b + a - ke + 1 for n, s, (b, a), ke in zip(x.shape[1:-1], strides, pads, k_eff)]
    fwd = []
    for n, s, ke, (b, _), length in zip(x.shape[1:-1], strides, k_eff, pads, out):
        fwd.append((ke - 1 - b, (n - 1) * s + ke - length - (ke - 1 - b)))
    dtype = np.result_type(x.dtype, kernel.dtype).name
    return ConvSpec((x.shape[0], *out, kernel.shape[-2]), kernel.shape, strides, tuple(fwd), dilation, 1, dtype)


def seam_transpose(x, kernel, strides, pads, dilation):
    """The transposed conv through the seam (the input-gradient pass of its forward twin)."""
    return kernels.conv_input_grad(transpose_spec(x, kernel, strides, pads, dilation), x, kernel)


class on_backend:
    """Run a block with one backend selected (and, if given, one algorithm
    forced), restoring the previous settings."""

    def __init__(self, name, algorithm=None):
        self.name, self.algorithm = name, algorithm

    def __enter__(self):
        self.previous = config.backend()
        config.set_backend(self.name)
        self.forced = None if self.algorithm is None else set_algorithm(self.algorithm).__enter__()

    def __exit__(self, *exc):
        if self.forced is not None:
            self.forced.__exit__(*exc)
        config.set_backend(self.previous)
