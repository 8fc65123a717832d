"""Shared test helpers: one numeric gradient, one closeness check, one
per-rank input shape, and the Keras twin of an npconv layer.

``check_gradients`` compares a layer's backward pass with central differences
of ``sum(layer(inputs) * r)`` for a fixed random ``r``, in float64. It takes
the three call forms npconv layers have:

- one array: ``layer(x)``, backward returns dx;
- a list of arrays (merge layers): ``layer([a, b])``, backward returns a list;
- positional arguments (operation layers): ``layer(a, 3.0)``, backward
  returns the gradients of the array arguments only (a bare array if one).
"""

from __future__ import annotations

import numpy as np

EPS = 1e-6


def numeric_gradient(output, r, array, eps=EPS):
    """Central differences of ``sum(output() * r)`` with respect to every entry
    of ``array`` (perturbed in place, then restored)."""
    grad = np.zeros_like(array, dtype="float64")
    flat, out = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        plus = np.array(output(), dtype="float64")
        flat[i] = keep - eps
        minus = np.array(output(), dtype="float64")
        flat[i] = keep
        out[i] = np.sum((plus - minus) * r) / (2 * eps)
    return grad


def assert_close(actual, expected, rtol=1e-6, atol=1e-8, what=""):
    """Values (not just shapes) equal within tolerance; shapes must match exactly."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def input_shape(rank, channels=3, size=4, batch=2, data_format="channels_last"):
    """(batch, *spatial, channels) or (batch, channels, *spatial) for a rank-``rank`` layer."""
    spatial = tuple(size + i for i in range(rank))  # unequal sizes catch swapped axes
    if data_format == "channels_first":
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def _call(layer, inputs, form, training):
    if form == "single":
        return layer(inputs, training=training)
    if form == "list":
        return layer(list(inputs), training=training)
    return layer(*inputs, training=training)


def check_gradients(layer, inputs, rng, form="single", training=False, rtol=1e-6, atol=1e-8):
    """backward() of a float64 layer against finite differences: every input
    gradient and every trainable weight's gradient. Returns (dx, weight grads)."""
    if form == "single":
        arrays = [np.array(inputs, dtype="float64")]
        call_inputs = arrays[0]
    else:
        arrays = [np.array(v, dtype="float64") if isinstance(v, np.ndarray) else v for v in inputs]
        call_inputs = arrays
    y = np.array(_call(layer, call_inputs, form, training))
    r = rng.standard_normal(y.shape)
    for w in layer.weights:
        w.grad = None
    dx = layer.backward(r)
    grads = {w.name: None if w.grad is None else w.grad.copy() for w in layer.weights}

    def output():
        return np.array(_call(layer, call_inputs, form, training))

    tensors = [a for a in arrays if isinstance(a, np.ndarray)]
    dxs = [dx] if form == "single" or (form == "args" and len(tensors) == 1) else list(dx)
    assert len(dxs) == len(tensors), f"backward gave {len(dxs)} gradients for {len(tensors)} array inputs"
    for i, (d, a) in enumerate(zip(dxs, tensors)):
        assert_close(d, numeric_gradient(output, r, a), rtol, atol, what=f"d(input {i})")
    for w in layer.trainable_weights:
        assert grads[w.name] is not None, f"no gradient for {w.name}"
        assert_close(grads[w.name], numeric_gradient(output, r, w.value), rtol, atol, what=w.name)
    return dx, grads


def keras_twin(keras, layer, build_shape=None):
    """The Keras layer built from npconv's own serialized config (so the config
    round trip into Keras is tested too), with npconv's weights copied in."""
    from npconv import layers

    twin = keras.layers.deserialize(layers.serialize(layer))
    if build_shape is not None:
        twin.build(build_shape)
    if layer.weights:
        twin.set_weights(layer.get_weights())
    return twin
