"""Stochastic gradient descent, with Keras 3's momentum and Nesterov formulas."""

from __future__ import annotations

from .base import Optimizer, check_number, keras_cast


class SGD(Optimizer):
    """Gradient descent with optional momentum.

    Without momentum: ``w -= lr * g``. With it (Keras's form, velocity ``m``)::

        m = momentum * m - lr * g
        w += m                               # nesterov=False
        w += momentum * m - lr * g           # nesterov=True

    Args:
        learning_rate: a float, a schedule or a callable; see ``Optimizer``.
        momentum: in [0, 1]; 0 keeps no velocity.
        nesterov: whether to use Nesterov momentum.
        **kwargs: the base ``Optimizer``'s arguments: ``weight_decay``,
            ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``.

    Example:
        >>> opt = SGD(learning_rate=0.01, momentum=0.9, clipnorm=1.0)
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        self.momentum = float(check_number(momentum, "momentum", 0, 1))
        self.nesterov = bool(nesterov)
        self.slot_groups = (("momentum",),) if self.momentum != 0 else ()

    def update_step(self, gradient, value, slots, learning_rate):
        if not self.slot_groups:
            value -= gradient * learning_rate
            return
        m = slots["momentum"]
        momentum = keras_cast(self.momentum, value.dtype)
        m[...] = m * momentum - gradient * learning_rate
        if self.nesterov:
            value += m * momentum - gradient * learning_rate
        else:
            value += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
