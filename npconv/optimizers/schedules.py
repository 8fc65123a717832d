"""Learning-rate schedules: ``schedule(step) -> learning rate``, as Keras 3 computes them.

Keras converts the Python-float arguments to float32 tensors, so every schedule
here computes in float32 too; the optimizer then casts the rate to each
variable's dtype. ``step`` is the optimizer's ``iterations`` before the update.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._registry import from_keras_dict, keras_dict
from ..arguments import invalid

__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "CosineDecay",
    "serialize",
    "deserialize",
]

_F32 = np.float32


def _number(value, name, minimum=None, strict=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(name, "a finite number", value, error=TypeError)
    if not math.isfinite(value):
        raise invalid(name, "a finite number", float(value))
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise invalid(name, f"a number {'>' if strict else '>='} {minimum}", value)
    return value


class LearningRateSchedule:
    """Base class of the schedules: ``schedule(step) -> learning rate``.

    Subclasses implement ``__call__(step)`` and ``get_config()``. Pass a schedule
    as an optimizer's ``learning_rate``; the optimizer calls it with its
    ``iterations`` before each update.
    """

    def __call__(self, step):
        """The learning rate for optimizer step ``step`` (an int, 0 for the first update), as float32."""
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override __call__(step).")

    def get_config(self):
        """The constructor arguments, as Keras lists them."""
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override get_config().")

    @classmethod
    def from_config(cls, config):
        """A new schedule from ``get_config()``'s dict."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} {self.get_config()}>"


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``, floored when ``staircase``.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: ``> 0``, the steps over which the rate is multiplied by ``decay_rate``.
        decay_rate: the factor per ``decay_steps``.
        staircase: whether ``step / decay_steps`` is floored, so the rate drops in steps.
        name: the schedule's name.

    Example:
        >>> schedule = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
        >>> float(schedule(20))
        0.02500000037252903
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, "decay_steps", 0, strict=True)
        self.decay_rate = _number(decay_rate, "decay_rate")
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = _F32(step) / _F32(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return _F32(self.initial_learning_rate) * np.power(_F32(self.decay_rate), p)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while ``step <= boundaries[i]``, then ``values[-1]``.

    As in Keras, the boundaries are cast to the step's integer type (2.5 acts as 2).

    Args:
        boundaries: increasing step numbers, one fewer than ``values``.
        values: the rates.
        name: the schedule's name.

    Example:
        >>> schedule = PiecewiseConstantDecay([100], [0.1, 0.01])
        >>> float(schedule(100)), float(schedule(101))
        (0.10000000149011612, 0.009999999776482582)
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise invalid(
                "boundaries",
                f"a list one shorter than values ({len(values)} values, so {len(values) - 1} boundaries)",
                boundaries,
            )
        for i, b in enumerate(boundaries):
            _number(b, f"boundaries[{i}]")
        for i, v in enumerate(values):
            _number(v, f"values[{i}]")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        step = np.int64(step)
        for boundary, value in zip(self.boundaries, self.values):
            if step <= np.int64(boundary):
                return _F32(value)
        return _F32(self.values[-1])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay to ``alpha`` times the starting rate, after an optional linear warmup.

    Without warmup the rate goes from ``initial_learning_rate`` to
    ``alpha * initial_learning_rate`` along half a cosine over ``decay_steps``.
    With ``warmup_target``, it first rises linearly from
    ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``, then
    decays from ``warmup_target``. After the decay it stays at its final value.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: ``> 0``, the length of the decay.
        alpha: the final rate as a fraction of the rate the decay starts from.
        name: the schedule's name.
        warmup_target: None, or the rate the warmup reaches.
        warmup_steps: ``>= 0``, the length of the warmup.
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, "decay_steps", 0, strict=True)
        self.alpha = _number(alpha, "alpha")
        self.name = name
        self.warmup_target = None if warmup_target is None else _number(warmup_target, "warmup_target")
        self.warmup_steps = _number(warmup_steps, "warmup_steps", 0)

    def _decay(self, step, decay_from):
        fraction = step / _F32(self.decay_steps)
        cosine = _F32(0.5) * (_F32(1.0) + np.cos(_F32(math.pi) * fraction))
        decayed = _F32(1 - self.alpha) * cosine + _F32(self.alpha)
        return decay_from * decayed

    def __call__(self, step):
        initial = _F32(self.initial_learning_rate)
        decay_steps = _F32(self.decay_steps)
        step = _F32(step)
        if self.warmup_target is None:
            return self._decay(np.minimum(step, decay_steps), initial)
        target, warmup_steps = _F32(self.warmup_target), _F32(self.warmup_steps)
        step = np.minimum(step, decay_steps + warmup_steps)
        if step < warmup_steps:
            return (target - initial) * (step / warmup_steps) + initial
        return self._decay(step - warmup_steps, target)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


_CLASSES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay)}


def serialize(schedule):
    """Keras's serialized form of a schedule.

    Args:
        schedule: a LearningRateSchedule.
    """
    if not isinstance(schedule, LearningRateSchedule):
        raise invalid("schedule", "a LearningRateSchedule", type(schedule).__name__, error=TypeError)
    return keras_dict("keras.optimizers.schedules", schedule)


def deserialize(config):
    """A schedule from ``serialize``'s dict.

    Args:
        config: a dict with ``"class_name"`` and ``"config"``.
    """
    return from_keras_dict(config, _CLASSES)
