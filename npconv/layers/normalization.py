"""Normalization layers with Keras 3's weights, modes and updates.

- :class:`BatchNormalization`: per feature, over the batch; in training with the
  batch's statistics (which move the moving ones), otherwise with the moving
  statistics. Its arithmetic runs behind the kernel seam (``npconv.ops.kernels``).
- :class:`LayerNormalization`: per sample, over the feature axes, also behind the seam.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import constraints, initializers, regularizers
from ..arguments import invalid
from ..ops import kernels
from ..ops.spec import make_layer_norm_spec, make_norm_spec
from .base import Layer
from .core import check_bool, resolve, serialize_or_none


def _check_number(value, name, minimum=None, maximum=None):
    bounds = [] if minimum is None else [f">= {minimum}"]
    bounds += [] if maximum is None else [f"<= {maximum}"]
    expected = "a number" + (f" {' and '.join(bounds)}" if bounds else "")
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise invalid(name, expected, value, error=TypeError)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise invalid(name, expected, value)
    return float(value)


def _compute_dtype(x) -> np.dtype:
    """float32 for half-precision inputs (as Keras computes their statistics), else x's dtype."""
    return np.result_type(x.dtype, np.float32)


def _cast(array, dtype):
    return array.astype(dtype, copy=False)


def _values(dtype, *variables):
    """Each variable's value in ``dtype`` (the array itself when it already is), or None."""
    return tuple(None if v is None else _cast(v.value, dtype) for v in variables)


def _add_beta_gamma_grads(layer, dgamma, dbeta):
    """Accumulate the gradients the seam returned (None for a weight the layer lacks)."""
    if dgamma is not None:
        layer.gamma.add_grad(dgamma)
    if dbeta is not None:
        layer.beta.add_grad(dbeta)


def _shared_config(layer):
    """The config entries both normalization layers have: axis, epsilon, center,
    scale, and the initializer, regularizer and constraint of beta and gamma."""
    return {
        "axis": layer.axis,
        "epsilon": layer.epsilon,
        "center": layer.center,
        "scale": layer.scale,
        **{
            f"{name}_{part}": serialize(getattr(layer, f"{name}_{part}"))
            for name in ("beta", "gamma")
            for part, serialize in (
                ("initializer", initializers.serialize),
                ("regularizer", lambda value: serialize_or_none(regularizers, value)),
                ("constraint", lambda value: serialize_or_none(constraints, value)),
            )
        },
    }


class BatchNormalization(Layer):
    """Normalizes each feature to zero mean and unit variance over the batch, then scales and shifts it.

    ``y = gamma * (x - mean) / sqrt(variance + epsilon) + beta`` for every
    feature (every index along ``axis``), with the mean and variance taken
    over all the other axes.

    In training (``training=True`` on a trainable layer) the mean and biased
    variance are the batch's, the gradient flows through them, and the moving
    statistics move towards them:
    ``moving = moving * momentum + batch * (1 - momentum)``. Otherwise
    (``training=False``, or ``trainable=False``) the moving statistics
    normalize and stay as they are. Both passes run behind the kernel seam
    (:func:`npconv.ops.kernels.batchnorm_forward`), on oneDNN where it applies.

    Args:
        axis: the features axis, an int: -1 for channels_last inputs (the
            default), 1 for channels_first.
        momentum: how much of the moving statistics each training step keeps,
            a number in [0, 1]. 0.99 by default.
        epsilon: a non-negative number added to the variance. 1e-3 by default.
        center: whether to add the learnt offset beta.
        scale: whether to multiply by the learnt gamma.
        beta_initializer, gamma_initializer: initializers of beta and gamma.
        moving_mean_initializer, moving_variance_initializer: initializers of
            the moving statistics.
        beta_regularizer, gamma_regularizer: optional regularizers.
        beta_constraint, gamma_constraint: optional constraints.
        renorm: must be False: batch renormalization is not implemented.
        renorm_clipping, renorm_momentum: kept in the config, for Keras files; unused.
        synchronized: kept in the config; one process has no replicas to
            synchronize, as on one TensorFlow replica.
        **kwargs: base layer arguments (name, dtype, trainable).

    Weights, in get_weights() order: gamma (if scale), beta (if center),
    moving_mean, moving_variance, each of shape (features,); the moving
    statistics are not trainable.

    Example:
        >>> import numpy as np
        >>> layer = BatchNormalization(momentum=0.5)
        >>> x = np.array([[1.0, 10.0], [3.0, 30.0]], dtype="float32")
        >>> layer(x, training=True).round(2)
        array([[-1., -1.],
               [ 1.,  1.]], dtype=float32)
        >>> layer.moving_mean.value, layer.moving_variance.value
        (array([ 1., 10.], dtype=float32), array([ 1. , 50.5], dtype=float32))
        >>> layer(x).round(2)  # inference: the moving statistics
        array([[0.  , 0.  ],
               [2.  , 2.81]], dtype=float32)
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        renorm=False,
        renorm_clipping=None,
        renorm_momentum=0.99,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
            raise invalid("axis", "an int (the features axis, such as -1 or 1)", axis, error=TypeError)
        self.axis = int(axis)
        self.momentum = _check_number(momentum, "momentum", 0, 1)
        self.epsilon = _check_number(epsilon, "epsilon", 0)
        self.center = check_bool(center, "center")
        self.scale = check_bool(scale, "scale")
        self.beta_initializer = resolve(initializers, beta_initializer, "beta_initializer")
        self.gamma_initializer = resolve(initializers, gamma_initializer, "gamma_initializer")
        self.moving_mean_initializer = resolve(initializers, moving_mean_initializer, "moving_mean_initializer")
        self.moving_variance_initializer = resolve(
            initializers, moving_variance_initializer, "moving_variance_initializer"
        )
        self.beta_regularizer = resolve(regularizers, beta_regularizer, "beta_regularizer")
        self.gamma_regularizer = resolve(regularizers, gamma_regularizer, "gamma_regularizer")
        self.beta_constraint = resolve(constraints, beta_constraint, "beta_constraint")
        self.gamma_constraint = resolve(constraints, gamma_constraint, "gamma_constraint")
        if renorm:
            raise invalid(
                "renorm",
                "False (npconv does not implement batch renormalization)",
                renorm,
                "Use renorm=False.",
                error=NotImplementedError,
            )
        self.renorm = False
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = _check_number(renorm_momentum, "renorm_momentum", 0, 1)
        self.synchronized = check_bool(synchronized, "synchronized")
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self._cache = None

    # ------------------------------------------------------------------ build
    def _feature_axis(self, input_shape):
        rank = len(tuple(input_shape))
        if not -rank <= self.axis < rank:
            raise invalid(
                "axis",
                f"an axis of an input of rank {rank}, between {-rank} and {rank - 1}",
                self.axis,
                f"Received an input of shape {tuple(input_shape)}.",
            )
        return self.axis % rank

    def build(self, input_shape):
        shape = tuple(input_shape)
        axis = self._feature_axis(shape)
        features = shape[axis]
        if features is None:
            raise ValueError(
                f"Axis {self.axis} of the input to layer '{self.name}' must be known to build "
                f"its weights. Received: input_shape={shape}."
            )
        size = (int(features),)
        if self.scale:
            self.gamma = self.add_weight(
                size, self.gamma_initializer, "gamma", self.gamma_regularizer, self.gamma_constraint
            )
        if self.center:
            self.beta = self.add_weight(
                size, self.beta_initializer, "beta", self.beta_regularizer, self.beta_constraint
            )
        self.moving_mean = self.add_weight(size, self.moving_mean_initializer, "moving_mean", trainable=False)
        self.moving_variance = self.add_weight(
            size, self.moving_variance_initializer, "moving_variance", trainable=False
        )
        self.input_spec_shape = tuple(features if i == axis else None for i in range(1, len(shape)))
        self.built = True

    def compute_output_shape(self, input_shape):
        self._feature_axis(input_shape)
        return tuple(input_shape)

    # ------------------------------------------------------------------- call
    def call(self, x, training=False):
        use_batch = bool(training) and self.trainable
        dtype = _compute_dtype(x)
        spec = make_norm_spec(x.shape, self.axis, self.epsilon, self.center, self.scale, use_batch, dtype.name)
        x, (gamma, beta, moving_mean, moving_variance) = _cast(x, dtype), _values(dtype, *self._vectors())
        y, mean, variance = kernels.batchnorm_forward(spec, x, gamma, beta, moving_mean, moving_variance)
        if use_batch:
            momentum = self.momentum
            self.moving_mean.value[...] = self.moving_mean.value * momentum + mean * (1.0 - momentum)
            self.moving_variance.value[...] = self.moving_variance.value * momentum + variance * (1.0 - momentum)
        self._cache = (spec, x, gamma, mean, variance)
        return _cast(y, self.dtype)

    def _vectors(self):
        return (self.gamma, self.beta, self.moving_mean, self.moving_variance)

    def backward(self, dy, input_grad=True):
        """dx; dgamma and dbeta are added to the weights' gradients.

        In training the gradient flows through the batch's mean and variance,
        outside training the moving statistics are constants (see
        :func:`npconv.ops.kernels.batchnorm_backward`).
        """
        spec, x, gamma, mean, variance = self._cache
        dy = _cast(np.asarray(dy), x.dtype)
        dx, dgamma, dbeta = kernels.batchnorm_backward(spec, x, dy, gamma, mean, variance)
        _add_beta_gamma_grads(self, dgamma, dbeta)
        return _cast(dx, self.dtype)

    # ----------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(
            _shared_config(self),
            momentum=self.momentum,
            moving_mean_initializer=initializers.serialize(self.moving_mean_initializer),
            moving_variance_initializer=initializers.serialize(self.moving_variance_initializer),
            synchronized=self.synchronized,
            renorm=self.renorm,
            renorm_clipping=self.renorm_clipping,
            renorm_momentum=self.renorm_momentum,
        )
        return config


def _standardize_layer_norm_axis(axis):
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return int(axis)
    if isinstance(axis, (list, tuple)) and axis:
        if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis):
            return [int(a) for a in axis]
    raise invalid("axis", "an int or a non-empty list of ints", axis, error=TypeError)


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` (the features), independently of the batch.

    ``y = gamma * (x - mean) / sqrt(variance + epsilon) + beta``, with the mean
    and (biased) variance taken over ``axis`` for every sample. There are no
    moving statistics, so training and inference compute the same thing.

    Args:
        axis: an int or a list of ints, the axes to normalize over (and the
            axes gamma and beta span). -1 by default.
        epsilon: a small number added to the variance.
        center: whether to add the learnt offset beta.
        scale: whether to multiply by the learnt gamma.
        rms_scaling: Keras's deprecated variant: ``y = gamma * x / sqrt(variance
            + epsilon)``, with no centering and no beta (the variance is still
            taken about the mean).
        beta_initializer, gamma_initializer: initializers of beta and gamma.
        beta_regularizer, gamma_regularizer: optional regularizers.
        beta_constraint, gamma_constraint: optional constraints.
        **kwargs: base layer arguments (name, dtype, trainable).

    Weights, in get_weights() order: gamma (if scale or rms_scaling), beta (if
    center and not rms_scaling), each shaped like the input along ``axis``.

    Example:
        >>> import numpy as np
        >>> layer = LayerNormalization()
        >>> layer(np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]], dtype="float32")).round(2)
        array([[-1.22,  0.  ,  1.22],
               [-1.22,  0.  ,  1.22]], dtype=float32)
    """

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        rms_scaling=False,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.axis = _standardize_layer_norm_axis(axis)
        self.epsilon = _check_number(epsilon, "epsilon", 0)
        self.center = check_bool(center, "center")
        self.scale = check_bool(scale, "scale")
        self.rms_scaling = check_bool(rms_scaling, "rms_scaling")
        self.beta_initializer = resolve(initializers, beta_initializer, "beta_initializer")
        self.gamma_initializer = resolve(initializers, gamma_initializer, "gamma_initializer")
        self.beta_regularizer = resolve(regularizers, beta_regularizer, "beta_regularizer")
        self.gamma_regularizer = resolve(regularizers, gamma_regularizer, "gamma_regularizer")
        self.beta_constraint = resolve(constraints, beta_constraint, "beta_constraint")
        self.gamma_constraint = resolve(constraints, gamma_constraint, "gamma_constraint")
        self.gamma = self.beta = None

    def _axes(self, rank):
        listed = [self.axis] if isinstance(self.axis, int) else self.axis
        for a in listed:
            if not -rank <= a < rank:
                raise invalid("axis", f"axes between {-rank} and {rank - 1} for an input of rank {rank}", self.axis)
        axes = tuple(sorted(a % rank for a in listed))
        if len(set(axes)) != len(axes):
            raise invalid("axis", "distinct axes", self.axis)
        return axes

    def build(self, input_shape):
        shape = tuple(input_shape)
        axes = self._axes(len(shape))
        if any(shape[a] is None for a in axes):
            raise ValueError(
                f"Layer '{self.name}' needs the normalized axes (axis={self.axis}) to have known lengths "
                f"to build gamma and beta. Received: input_shape={shape}."
            )
        size = tuple(shape[a] for a in axes)
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight(
                size, self.gamma_initializer, "gamma", self.gamma_regularizer, self.gamma_constraint
            )
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight(
                size, self.beta_initializer, "beta", self.beta_regularizer, self.beta_constraint
            )
        self.input_spec_shape = tuple(shape[i] if i in axes else None for i in range(1, len(shape)))
        self.built = True

    def compute_output_shape(self, input_shape):
        self._axes(len(tuple(input_shape)))
        return tuple(input_shape)

    def call(self, x, training=False):
        dtype = _compute_dtype(x)
        spec = make_layer_norm_spec(
            x.shape,
            self._axes(x.ndim),
            self.epsilon,
            center=self.beta is not None,
            scale=self.gamma is not None,
            rms_scaling=self.rms_scaling,
            dtype=dtype.name,
        )
        x, (gamma, beta) = _cast(x, dtype), _values(dtype, self.gamma, self.beta)
        y, mean, variance = kernels.layernorm_forward(spec, x, gamma, beta)
        self._cache = (spec, x, gamma, mean, variance)
        return _cast(y, self.dtype)

    def backward(self, dy, input_grad=True):
        """dx; dgamma and dbeta are added to the weights' gradients
        (see :func:`npconv.ops.kernels.layernorm_backward`)."""
        spec, x, gamma, mean, variance = self._cache
        dy = _cast(np.asarray(dy), x.dtype)
        dx, dgamma, dbeta = kernels.layernorm_backward(spec, x, dy, gamma, mean, variance)
        _add_beta_gamma_grads(self, dgamma, dbeta)
        return _cast(dx, self.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(_shared_config(self), rms_scaling=self.rms_scaling)
        return config
