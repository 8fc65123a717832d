"""RMSprop, with Keras 3's epsilon inside the square root."""

from __future__ import annotations

import numpy as np

from .base import Optimizer, check_number


class RMSprop(Optimizer):
    """RMSprop as Keras writes it::

        v = rho * v + (1 - rho) * g * g
        a = rho * a + (1 - rho) * g                  # centered only
        step = lr * g / sqrt(v - a * a + epsilon)    # centered
        step = lr * g / sqrt(v + epsilon)            # otherwise
        mom = momentum * mom + step; w -= mom        # momentum > 0
        w -= step                                    # otherwise

    Args:
        learning_rate: a float, a schedule or a callable; see ``Optimizer``.
        rho: in [0, 1], the decay of the mean square ``v``.
        momentum: ``>= 0``; 0 keeps no momentum.
        epsilon: ``>= 0``, added inside the square root.
        centered: whether to subtract the squared mean gradient ``a`` from ``v``.
        **kwargs: the base ``Optimizer``'s arguments: ``weight_decay``,
            ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``.
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        self.rho = check_number(rho, "rho", 0, 1)
        self.momentum = check_number(momentum, "momentum", 0)
        self.epsilon = check_number(epsilon, "epsilon", 0)
        self.centered = bool(centered)
        groups = [("velocity",)]
        if self.momentum > 0:
            groups.append(("momentum",))
        if self.centered:
            groups.append(("average_gradient",))
        self.slot_groups = tuple(groups)

    def update_step(self, gradient, value, slots, learning_rate):
        dtype = value.dtype.type
        rho, one_minus_rho, epsilon = dtype(self.rho), dtype(1 - self.rho), dtype(self.epsilon)
        velocity = slots["velocity"]
        velocity[...] = rho * velocity + one_minus_rho * np.square(gradient)
        if self.centered:
            average = slots["average_gradient"]
            average[...] = rho * average + one_minus_rho * gradient
            denominator = velocity - np.square(average) + epsilon
        else:
            denominator = velocity + epsilon
        increment = learning_rate * gradient / np.sqrt(denominator)
        if self.momentum > 0:
            momentum = slots["momentum"]
            momentum[...] = dtype(self.momentum) * momentum + increment
            value -= momentum
        else:
            value -= increment

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }
