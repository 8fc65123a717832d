"""Batch normalization on numpy: the exact reference, for every spec and dtype.

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
"""

from __future__ import annotations

import numpy as np

from ...registry import Algorithm

NAME = "numpy"


def _inv_std(spec, variance, dtype):
    return (1.0 / np.sqrt(variance + spec.epsilon)).astype(dtype)


def forward(spec, x, gamma, beta, mean, variance):
    """(y, mean, variance): y normalised with the batch's statistics (training,
    returned) or with the given ``mean`` and ``variance`` (returned as given)."""
    shape, reduce = spec.stats_shape, spec.reduce_axes
    if spec.training:
        batch_mean = x.mean(axis=reduce, keepdims=True)
        x_hat = x - batch_mean
        variance = np.square(x_hat).mean(axis=reduce)  # biased, as Keras's moments
        mean = batch_mean.reshape(-1)
    else:
        x_hat = x - mean.astype(x.dtype).reshape(shape)
    x_hat *= _inv_std(spec, variance, x.dtype).reshape(shape)
    y = x_hat * gamma.reshape(shape) if spec.scale else x_hat
    if spec.center:
        y += beta.reshape(shape)
    return y, mean, variance


def backward(spec, x, dy, gamma, mean, variance):
    """(dx, dgamma or None, dbeta or None), given the statistics the forward pass used."""
    shape, reduce = spec.stats_shape, spec.reduce_axes
    inv_std = _inv_std(spec, variance, x.dtype)
    x_hat = x - mean.astype(x.dtype).reshape(shape)
    x_hat *= inv_std.reshape(shape)
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
)
