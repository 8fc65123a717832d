"""Batch and layer normalization on numpy: the exact reference, for every spec and dtype.

Batch normalization (:class:`~npconv.ops.spec.NormSpec`), per feature over the batch.

With ``shape`` = :attr:`NormSpec.stats_shape` (per-feature vectors made to
broadcast against x), ``inv_std = 1 / sqrt(variance + epsilon)`` and
``x_hat = (x - mean) * inv_std``:

- forward: ``y = x_hat * gamma + beta``; in training, mean and variance are the
  batch's (the variance biased, divided by n, the number of values per feature);
- backward: ``dbeta = sum(dy)`` and ``dgamma = sum(dy * x_hat)`` over the
  reduced axes. With the statistics held constant (inference),
  ``dx = dy * gamma * inv_std``; with the batch's, which depend on x too,
  ``dx = gamma * inv_std * (dy - dbeta / n - x_hat * dgamma / n)``.

A NaN or Inf in x reaches, in inference, only its own output; in training it
makes its feature's mean or variance non-finite, and so every output of that feature.

Layer normalization (:class:`~npconv.ops.spec.LayerNormSpec`), per sample over
``axes``, always with that sample's statistics: ``normed = (x - mean) * inv_std``
(``x * inv_std`` with ``rms_scaling``), ``y = normed * gamma + beta``; with
``g = dy * gamma`` and means over ``axes``,
``dx = inv_std * (g - mean(g) - normed * mean(g * normed))``, or for rms_scaling
``dx = inv_std * g - inv_std**3 * (x - mean) * mean(g * x)``. A NaN or Inf
makes its whole sample non-finite.
"""

from __future__ import annotations

import numpy as np

from ...registry import Algorithm

NAME = "numpy"


def _inv_std(spec, variance, dtype):
    return (1.0 / np.sqrt(variance + spec.epsilon)).astype(dtype)


def forward(spec, x, gamma, beta, mean, variance):
    """(y, mean, variance): y normalized with the batch's statistics (training,
    returned) or with the given ``mean`` and ``variance`` (returned as given)."""
    shape, reduce = spec.stats_shape, spec.reduce_axes
    if spec.training:
        batch_mean = x.mean(axis=reduce, keepdims=True)
        x_hat = x - batch_mean
        variance = np.square(x_hat).mean(axis=reduce)  # biased, as Keras's moments
        mean = batch_mean.reshape(-1)
        x_hat *= _inv_std(spec, variance, x.dtype).reshape(shape)
    else:
        x_hat = _normalized(spec, x, mean, _inv_std(spec, variance, x.dtype))
    return _scale_shift(spec, x_hat, gamma, beta, shape), mean, variance


def _normalized(spec, x, mean, inv_std):
    """(x - mean) * inv_std, per feature."""
    x_hat = x - mean.astype(x.dtype).reshape(spec.stats_shape)
    x_hat *= inv_std.reshape(spec.stats_shape)
    return x_hat


def _scale_shift(spec, normed, gamma, beta, shape):
    """normed * gamma + beta, each where the spec has it (``normed`` may be written)."""
    y = normed * gamma.reshape(shape) if spec.scale else normed
    if spec.center:
        y += beta.reshape(shape)
    return y


def backward(spec, x, dy, gamma, mean, variance):
    """(dx, dgamma or None, dbeta or None), given the statistics the forward pass used."""
    shape, reduce = spec.stats_shape, spec.reduce_axes
    inv_std = _inv_std(spec, variance, x.dtype)
    x_hat = _normalized(spec, x, mean, inv_std)
    dbeta = dy.sum(axis=reduce)
    dgamma = (dy * x_hat).sum(axis=reduce)
    factor = (inv_std * gamma if spec.scale else inv_std).reshape(shape)
    if spec.training:
        n = dy.size // max(dbeta.size, 1)
        dx = dy - (dbeta / n).reshape(shape)
        x_hat *= (dgamma / n).reshape(shape)
        dx -= x_hat
        dx *= factor
    else:
        dx = dy * factor
    return dx, dgamma if spec.scale else None, dbeta if spec.center else None


def layer_forward(spec, x, gamma, beta):
    """(y, mean, variance), the statistics shaped :attr:`LayerNormSpec.stats_shape`."""
    axes, shape = spec.axes, spec.broadcast_shape
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    variance = np.square(centered).mean(axis=axes, keepdims=True)
    inv_std = _inv_std(spec, variance, x.dtype)
    if spec.rms_scaling:
        normed = x * inv_std
    else:
        normed = centered
        normed *= inv_std
    return _scale_shift(spec, normed, gamma, beta, shape), mean, variance


def layer_backward(spec, x, dy, gamma, mean, variance):
    """(dx, dgamma or None, dbeta or None), dgamma and dbeta shaped like gamma."""
    axes, shape = spec.axes, spec.broadcast_shape
    others = tuple(i for i in range(x.ndim) if i not in axes)
    inv_std = _inv_std(spec, variance, x.dtype)
    centered = x - mean
    normed = (x if spec.rms_scaling else centered) * inv_std
    dgamma = (dy * normed).sum(axis=others).reshape(spec.weights_shape) if spec.scale else None
    dbeta = dy.sum(axis=others).reshape(spec.weights_shape) if spec.center else None
    g = dy * gamma.reshape(shape) if spec.scale else dy
    if spec.rms_scaling:
        dx = inv_std * g - inv_std**3 * centered * (g * x).mean(axis=axes, keepdims=True)
    else:
        dx = inv_std * (g - g.mean(axis=axes, keepdims=True) - normed * (g * normed).mean(axis=axes, keepdims=True))
    return dx, dgamma, dbeta


def _always(spec) -> bool:
    return True


ALGORITHMS = (
    Algorithm(
        "batchnorm",
        NAME,
        "batchnorm_forward",
        _always,
        forward,
        summary="any axis and dtype: the batch's mean and biased variance (training) or the given ones, then one scale and shift",
    ),
    Algorithm(
        "batchnorm",
        NAME,
        "batchnorm_backward",
        _always,
        backward,
        summary="any axis and dtype: dgamma, dbeta as sums over the batch; dx through the batch statistics when training",
    ),
    Algorithm(
        "layernorm",
        NAME,
        "layernorm_forward",
        _always,
        layer_forward,
        summary="any axes and dtype, rms_scaling too: each sample's mean and biased variance over the axes, then one scale and shift",
    ),
    Algorithm(
        "layernorm",
        NAME,
        "layernorm_backward",
        _always,
        layer_backward,
        summary="any axes and dtype, rms_scaling too: dx through each sample's statistics; dgamma, dbeta as sums over the samples",
    ),
)
