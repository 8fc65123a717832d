"""Adam and AdamW, with Keras 3's bias correction folded into the step size."""

from __future__ import annotations

import numpy as np

from .base import Optimizer, check_number, keras_cast


class Adam(Optimizer):
    """Adam, written as Keras writes it (t = iterations + 1)::

        alpha = lr * sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        m += (g - m) * (1 - beta_1)
        v += (g * g - v) * (1 - beta_2)
        v_hat = max(v_hat, v)                # amsgrad only; then v_hat replaces v
        w -= m * alpha / (sqrt(v) + epsilon)

    epsilon is added to sqrt(v) outside the bias correction, so it is the
    "epsilon hat" of the Adam paper, not its epsilon.

    Args:
        learning_rate: a float, a schedule or a callable; see ``Optimizer``.
        beta_1: in [0, 1], the decay of the first-moment estimate ``m``.
        beta_2: in [0, 1], the decay of the second-moment estimate ``v``.
        epsilon: ``>= 0``, added to ``sqrt(v)``.
        amsgrad: whether to divide by the running maximum of ``v``.
        **kwargs: the base ``Optimizer``'s arguments: ``weight_decay``,
            ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``.

    Example:
        >>> opt = Adam(learning_rate=1e-3, global_clipnorm=5.0)
        >>> opt.get_config()["beta_2"]
        0.999
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = check_number(beta_1, "beta_1", 0, 1)
        self.beta_2 = check_number(beta_2, "beta_2", 0, 1)
        self.epsilon = check_number(epsilon, "epsilon", 0)
        self.amsgrad = bool(amsgrad)
        self.slot_groups = (("momentum", "velocity"),) + ((("velocity_hat",),) if self.amsgrad else ())

    def update_step(self, gradient, value, slots, learning_rate):
        dtype = value.dtype.type
        step = dtype(self.iterations + 1)
        beta_1_power = np.power(keras_cast(self.beta_1, value.dtype), step)
        beta_2_power = np.power(keras_cast(self.beta_2, value.dtype), step)
        alpha = learning_rate * np.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m, v = slots["momentum"], slots["velocity"]
        m += (gradient - m) * dtype(1 - self.beta_1)
        v += (np.square(gradient) - v) * dtype(1 - self.beta_2)
        if self.amsgrad:
            v_hat = slots["velocity_hat"]
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        value -= (m * alpha) / (np.sqrt(v) + dtype(self.epsilon))

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay.

    Before each Adam step, ``w -= w * weight_decay * lr``, with the learning
    rate not scaled by Adam's bias correction.

    Args:
        learning_rate: a float, a schedule or a callable; see ``Optimizer``.
        weight_decay: the decay factor, ``>= 0`` (None is refused: use Adam).
        **kwargs: Adam's arguments (``beta_1``, ``beta_2``, ``epsilon``,
            ``amsgrad``) and the base ``Optimizer``'s (``clipnorm``,
            ``clipvalue``, ``global_clipnorm``, ``name``).
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        if weight_decay is None:
            raise ValueError(
                "Invalid value for argument `weight_decay`. Expected a number >= 0 (AdamW decays the "
                "weights; use Adam for none). Received: weight_decay=None"
            )
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
