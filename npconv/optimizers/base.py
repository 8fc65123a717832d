"""The optimizer contract, in Keras 3's order of operations.

One ``apply(grads, variables)``:

1. builds the per-variable state on first use (Keras's ``build``);
2. drops ``None`` gradients (with a warning), casts the rest to each variable's dtype;
3. clips them: ``clipnorm`` per tensor, ``global_clipnorm`` over all, or ``clipvalue``;
4. with ``weight_decay``: ``variable -= variable * weight_decay * learning_rate``;
5. ``update_step`` for each variable, in place, with the learning rate at the
   current ``iterations`` (a schedule is evaluated before the counter moves);
6. projects each variable with its ``constraint``;
7. ``iterations += 1``.

A float ``learning_rate`` is stored as float32, as Keras stores it in a float32
variable, so float64 variables see the same rate Keras gives them.
"""

from __future__ import annotations

import math
import numbers
import re
import warnings

import numpy as np

from .._registry import snake_case
from ..arguments import check_keras_init, invalid
from . import schedules

# Keras arguments npconv accepts only at their defaults (so Keras configs load).
_UNSUPPORTED_DEFAULTS = {
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def keras_cast(value, dtype):
    """``ops.cast(python_float, dtype)`` on Keras's TensorFlow backend: the float becomes a
    float32 tensor first, so a float64 variable sees 0.9 as 0.8999999762. Keras does this
    for SGD's momentum, Adam's betas in the bias correction, and weight_decay."""
    return np.float32(value).astype(dtype)


def check_number(value, name, minimum=None, maximum=None, allow_none=False):
    """A finite real number (not a bool, NaN or infinity) in [minimum, maximum]."""
    if value is None and allow_none:
        return None
    expected = "a number"
    if minimum is not None and maximum is not None:
        expected = f"a number in [{minimum}, {maximum}]"
    elif minimum is not None:
        expected = f"a number >= {minimum}"
    if allow_none:
        expected = f"None or {expected}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(name, expected, value, error=TypeError)
    if not math.isfinite(value):
        raise invalid(name, expected.replace("a number", "a finite number"), float(value))
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise invalid(name, expected, value)
    return value


class OptimizerVariable:
    """One piece of optimizer state (``iteration``, ``learning_rate``, ``*_momentum``...)."""

    def __init__(self, value, name):
        self.value = value
        self.name = name

    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)

    def numpy(self):
        """A copy of the value."""
        return np.array(self.value)

    def __repr__(self):
        return f"<OptimizerVariable name={self.name}, shape={self.shape}, dtype={self.dtype.name}>"


class Optimizer:
    """Base of every optimizer. Subclasses define ``slot_groups`` and ``update_step``.

    ``slot_groups`` names each variable's state arrays, grouped as Keras creates
    them: a group is created for every variable before the next group starts,
    and ``variables`` lists them in that order (Adam with amsgrad: m0 v0 m1 v1
    then v_hat0 v_hat1).

    ``update_step(gradient, value, slots, learning_rate)`` updates the array
    ``value`` in place; ``slots`` maps each slot name to that variable's state
    array; ``learning_rate`` is already in the variable's dtype.

    Args:
        learning_rate: a float ``>= 0``, a ``schedules.LearningRateSchedule``, or
            a callable of no arguments returning the rate.
        weight_decay: None, or a factor ``>= 0``: before each update,
            ``w -= w * weight_decay * learning_rate``.
        clipnorm: None, or clip each gradient to this L2 norm.
        clipvalue: None, or clip each gradient entry to ``[-clipvalue, clipvalue]``.
        global_clipnorm: None, or scale all gradients together so that their
            joint L2 norm is at most this. At most one of the three clips may be set.
        name: the optimizer's name; the snake_case class name by default.
        **kwargs: Keras arguments accepted only at their defaults (``use_ema``,
            ``loss_scale_factor``, ...) so that Keras configs load; ``decay`` is ignored.

    Example:
        >>> from npconv.layers.base import Variable
        >>> w = Variable(np.array([1.0, 2.0]), name="w")
        >>> from npconv.optimizers import SGD
        >>> opt = SGD(learning_rate=0.1)
        >>> opt.apply_gradients([(np.array([1.0, -1.0]), w)])
        1
        >>> w.value
        array([0.9, 2.1])
    """

    slot_groups = ()

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        **kwargs,
    ):
        kwargs.pop("decay", None)  # Keras ignores it (with a warning) since Keras 3.
        for key, default in _UNSUPPORTED_DEFAULTS.items():
            value = kwargs.pop(key, default)
            if value != default:
                raise invalid(key, f"{default!r} (npconv does not implement it)", value)
        check_keras_init(self, kwargs, name)
        self.name = name or snake_case(type(self).__name__)
        self.weight_decay = check_number(weight_decay, "weight_decay", 0, allow_none=True)
        self.clipnorm = check_number(clipnorm, "clipnorm", 0, allow_none=True)
        self.clipvalue = check_number(clipvalue, "clipvalue", 0, allow_none=True)
        self.global_clipnorm = check_number(global_clipnorm, "global_clipnorm", 0, allow_none=True)
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        chosen = [k for k, v in clips.items() if v is not None]
        if len(chosen) > 1:
            raise invalid(
                chosen[1],
                f"None because {chosen[0]}={clips[chosen[0]]!r} is set (only one of clipnorm, clipvalue "
                f"and global_clipnorm may be set)",
                clips[chosen[1]],
            )
        self._iterations = OptimizerVariable(np.zeros((), np.int64), "iteration")
        self._learning_rate = None
        self._set_learning_rate(learning_rate)
        self._exclude_ids = set()
        self._exclude_pattern = None
        self.built = False
        self._trainable_variables = []
        self._index = {}
        self._slots = []

    # ---------------------------------------------------------- learning rate
    def _set_learning_rate(self, learning_rate):
        if isinstance(learning_rate, schedules.LearningRateSchedule) or (
            callable(learning_rate) and not isinstance(learning_rate, numbers.Real)
        ):
            self._learning_rate = learning_rate
            return
        check_number(learning_rate, "learning_rate", 0)
        if isinstance(self._learning_rate, OptimizerVariable):
            self._learning_rate.value[...] = learning_rate
        else:
            self._learning_rate = OptimizerVariable(np.array(learning_rate, np.float32), "learning_rate")

    @property
    def learning_rate(self):
        """The rate for the next step: a schedule evaluated at ``iterations``, else the stored float32."""
        rate = self._learning_rate
        if isinstance(rate, schedules.LearningRateSchedule):
            return rate(self.iterations)
        if isinstance(rate, OptimizerVariable):
            return rate.value[()]
        return rate()

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        if isinstance(self._learning_rate, schedules.LearningRateSchedule) and not (
            isinstance(learning_rate, schedules.LearningRateSchedule) or callable(learning_rate)
        ):
            raise TypeError(
                "This optimizer was created with a LearningRateSchedule as its learning_rate, "
                "so its learning rate is not settable to a float. Create the optimizer with a float "
                "learning_rate if you need to set it."
            )
        self._set_learning_rate(learning_rate)

    @property
    def iterations(self):
        """Steps applied so far (an int)."""
        return int(self._iterations.value)

    # ---------------------------------------------------------------- state
    def build(self, variables):
        """Create the state of each variable (zeros of its shape and dtype), in Keras's order."""
        if self.built:
            return
        variables = [_check_variable(v, i) for i, v in enumerate(variables)]
        self._slots = [{} for _ in variables]
        for group in self.slot_groups:
            for i, variable in enumerate(variables):
                prefix = str(getattr(variable, "name", f"variable_{i}")).replace("/", "_").replace(":", "_")
                for name in group:
                    self._slots[i][name] = OptimizerVariable(np.zeros_like(variable.value), f"{prefix}_{name}")
        self._index = {id(variable): i for i, variable in enumerate(variables)}
        self._trainable_variables = list(variables)
        self.built = True

    @property
    def variables(self):
        """iteration, learning_rate (a float one), then each variable's slots, as Keras lists them."""
        out = [self._iterations]
        if isinstance(self._learning_rate, OptimizerVariable):
            out.append(self._learning_rate)
        for group in self.slot_groups:
            out += [slots[name] for slots in self._slots for name in group]
        return out

    def get_weights(self):
        """Copies of ``variables``' values, in Keras's order."""
        return [v.numpy() for v in self.variables]

    def set_weights(self, weights):
        """Overwrite the state with arrays from ``get_weights`` (the optimizer must be built).

        Args:
            weights: a list of arrays, one per entry of ``variables``, each of its shape.
        """
        if not self.built:
            raise ValueError(
                "You are calling set_weights() on an optimizer that has not been built yet. "
                "Call optimizer.build(trainable_variables) first."
            )
        weights = [np.asarray(w) for w in weights]
        variables = self.variables
        if len(weights) != len(variables):
            raise invalid("weights", f"a list of {len(variables)} arrays", f"a list of {len(weights)} arrays")
        for variable, weight in zip(variables, weights):
            if variable.shape != weight.shape:
                raise invalid("weights", f"shape {variable.shape} for '{variable.name}'", f"shape {weight.shape}")
        for variable, weight in zip(variables, weights):
            variable.value[...] = weight

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Skip weight decay for these variables, or those whose name matches one of ``var_names``."""
        if self.built:
            raise ValueError("exclude_from_weight_decay() can only be configured before the optimizer is built.")
        self._exclude_ids = {id(v) for v in var_list or ()}
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _use_weight_decay(self, variable):
        if id(variable) in self._exclude_ids:
            return False
        name = str(getattr(variable, "name", ""))
        return not (self._exclude_pattern is not None and self._exclude_pattern.search(name))

    # ---------------------------------------------------------------- apply
    def apply_gradients(self, grads_and_vars):
        """Apply a list of (gradient, variable) pairs; returns ``iterations``."""
        pairs = list(grads_and_vars)
        if pairs:
            grads, variables = zip(*pairs)
            self.apply(grads, variables)
        return self.iterations

    def apply(self, grads, trainable_variables=None):
        """One step: update each variable's ``value`` in place from its gradient."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing grads without variables, the optimizer must already be built. "
                    "Call optimizer.build(trainable_variables) first."
                )
            variables = self._trainable_variables
        else:
            variables = list(trainable_variables)
            if not self.built:
                self.build(variables)
        if len(grads) != len(variables):
            raise invalid("grads", f"one gradient per variable ({len(variables)})", f"a list of {len(grads)} gradients")
        for variable in variables:
            if id(variable) not in self._index:
                raise ValueError(
                    f"Unknown variable: {variable!r}. This optimizer can only update the variables it was "
                    f"built with. For a new set of variables, create a new optimizer."
                )
        grads, variables = _filter_empty(grads, variables)
        grads = [_check_gradient(g, v) for g, v in zip(grads, variables)]
        grads = self._clip_gradients(grads)
        learning_rate = self.learning_rate
        if not np.all(np.isfinite(learning_rate)):
            raise ValueError(
                f"The learning rate for step {self.iterations} is {float(np.asarray(learning_rate))}, which is "
                f"not finite; no weight was changed. Check the learning-rate schedule or callable."
            )
        self._apply_weight_decay(variables, learning_rate)
        for grad, variable in zip(grads, variables):
            lr = np.asarray(learning_rate).astype(variable.value.dtype)
            self.update_step(grad, variable.value, self._state(variable), lr)
        for variable in variables:
            constraint = getattr(variable, "constraint", None)
            if constraint is not None:
                variable.value[...] = constraint(variable.value)
        self._iterations.value += 1

    def _state(self, variable):
        return {name: slot.value for name, slot in self._slots[self._index[id(variable)]].items()}

    def update_step(self, gradient, value, slots, learning_rate):
        """Update one variable in place.

        Args:
            gradient: the clipped gradient, value's shape and dtype.
            value: the variable's array, changed in place.
            slots: maps each slot name to this variable's state array (changed in place).
            learning_rate: the rate for this step, a 0-d array in value's dtype.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement update_step().")

    def _clip_gradients(self, grads):
        if self.clipnorm:
            return [_clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm:
            return _clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue:
            return [np.clip(g, g.dtype.type(-self.clipvalue), g.dtype.type(self.clipvalue)) for g in grads]
        return grads

    def _apply_weight_decay(self, variables, learning_rate):
        if self.weight_decay is None:
            return
        for variable in variables:
            if self._use_weight_decay(variable):
                dtype = variable.value.dtype
                decay, lr = keras_cast(self.weight_decay, dtype), np.asarray(learning_rate).astype(dtype)
                variable.value -= variable.value * decay * lr

    # --------------------------------------------------------------- config
    def get_config(self):
        """The constructor arguments, as Keras lists them (a schedule as its serialized dict)."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            learning_rate = schedules.serialize(self._learning_rate)
        elif isinstance(self._learning_rate, OptimizerVariable):
            learning_rate = float(self._learning_rate.value)
        else:
            raise invalid(
                "learning_rate",
                "a float or a LearningRateSchedule to serialize the optimizer",
                type(self._learning_rate).__name__,
                error=TypeError,
            )
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            **_UNSUPPORTED_DEFAULTS,
        }

    @classmethod
    def from_config(cls, config):
        """A new optimizer from ``get_config()``'s dict."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, iterations={self.iterations}>"


def _check_variable(variable, index):
    if not isinstance(getattr(variable, "value", None), np.ndarray):
        raise invalid(
            f"trainable_variables[{index}]",
            "a variable with a NumPy array in .value (npconv.layers.base.Variable)",
            type(variable).__name__,
            error=TypeError,
        )
    return variable


def _check_gradient(grad, variable):
    grad = np.asarray(grad)
    if grad.dtype.kind not in "fiu":
        raise invalid("grads", "real-valued arrays", f"array of dtype {grad.dtype}", error=TypeError)
    if grad.shape != variable.value.shape:
        raise invalid(
            "grads",
            f"a gradient of shape {variable.value.shape} for variable '{getattr(variable, 'name', '?')}'",
            f"shape {grad.shape}",
        )
    return grad.astype(variable.value.dtype, copy=False)


def _filter_empty(grads, variables):
    kept = [(g, v) for g, v in zip(grads, variables) if g is not None]
    if not kept:
        raise ValueError("No gradients provided for any variable.")
    if len(kept) < len(grads):
        missing = [getattr(v, "name", "?") for g, v in zip(grads, variables) if g is None]
        warnings.warn(
            f"Gradients do not exist for variables {missing} when minimizing the loss.",
            stacklevel=3,
        )
    grads, variables = zip(*kept)
    return list(grads), list(variables)


def _clip_by_norm(grad, clipnorm):
    """tf.clip_by_norm: grad * clipnorm / max(||grad||, clipnorm)."""
    l2sum = np.sum(np.square(grad))
    l2norm = np.sqrt(l2sum) if l2sum > 0 else l2sum
    clipnorm = grad.dtype.type(clipnorm)
    return grad * clipnorm / np.maximum(l2norm, clipnorm)


def _clip_by_global_norm(grads, clipnorm):
    """Keras's clip_by_global_norm: every gradient scaled by clipnorm * min(1/norm, 1/clipnorm)."""
    dtype = np.result_type(*grads)
    norm = np.sqrt(np.sum(np.stack([np.sum(np.square(g)) for g in grads]))).astype(dtype)
    clipnorm = dtype.type(clipnorm)
    with np.errstate(divide="ignore"):
        scale = clipnorm * np.minimum(dtype.type(1) / norm, dtype.type(1) / clipnorm)
    scale = scale + (norm - norm)  # NaN for a non-finite norm, as Keras
    return [g * scale.astype(g.dtype) for g in grads]
