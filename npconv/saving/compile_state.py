"""A model's compile settings and its optimizer's state, in Keras 3's saved forms.

``compile_config(model)`` is the dict Keras 3 stores under ``compile_config``
in ``config.json``::

    {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {...},
                   "registered_name": None},
     "loss": "mse",                       # a name as given, or a serialized Loss
     "loss_weights": None,
     "metrics": ["mae", {...}],           # names as given, or serialized Metrics
     "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
     "jit_compile": False}

``optimizer_variables(optimizer)`` lists the optimizer's state in the order Keras 3
saves it under ``optimizer/vars/<n>``: ``iteration`` (int64 scalar), then
``learning_rate`` (float32 scalar; absent when the rate is a schedule), then each
slot group for every trainable variable in turn. Adam: ``m0 v0 m1 v1 ...`` then,
with amsgrad, ``v_hat0 v_hat1 ...``; SGD with momentum: ``m0 m1 ...`` (nothing
without momentum); RMSprop: velocities, then momentums (momentum > 0), then
average gradients (centered).

Reading a config never imports anything: every optimizer, schedule, loss and
metric is looked up by name in npconv's own registries, and ``module`` and
``registered_name`` must be Keras's own (see :mod:`.allowlist`).
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from .. import losses, metrics, optimizers
from .allowlist import check_config

__all__ = ["compile_config", "compile_from_config", "optimizer_variables", "set_optimizer_variables"]

_KERAS_DEFAULTS = {"weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


# ---------------------------------------------------------------- writing
def compile_config(model):
    """The compile settings of ``model`` as Keras 3's ``get_compile_config()``, or None if not compiled.

    Args:
        model: a compiled npconv model.
    """
    if not getattr(model, "compiled", False):
        return None
    groups = getattr(model, "_metrics", None)  # one list per output, where the model keeps them so
    if isinstance(groups, list) and len(groups) > 1 and all(isinstance(g, list) for g in groups):
        metrics = [[_metric_entry(m) for m in group] for group in groups]
        metrics = metrics if any(metrics) else None
    else:
        metrics = [_metric_entry(metric) for metric in model.compiled_metrics] or None
    loss_weights = getattr(model, "loss_weights", None)
    return {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": _loss_entry(model.loss),
        "loss_weights": list(loss_weights) if isinstance(loss_weights, tuple) else loss_weights,
        "metrics": metrics,
        **_KERAS_DEFAULTS,
    }


def _function_entry(fn):
    name = getattr(fn, "__name__", type(fn).__name__)
    return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}


def _loss_entry(loss):
    if loss is None or isinstance(loss, str):
        return loss  # the name the user gave, as Keras keeps it
    if isinstance(loss, (list, tuple)):
        return [_loss_entry(item) for item in loss]
    if isinstance(loss, dict):
        return {key: _loss_entry(item) for key, item in loss.items()}
    if inspect.isclass(loss) and issubclass(loss, losses.Loss):
        loss = loss()
    if not isinstance(loss, losses.Loss):
        return _function_entry(loss)
    if isinstance(loss, losses.LossFunctionWrapper) and type(loss) is losses.LossFunctionWrapper:
        if isinstance(loss.name, str) and not loss._fn_kwargs and loss.reduction == "sum_over_batch_size":
            try:
                again = losses.get(loss.name)
            except (ValueError, TypeError):
                again = None
            if again is not None and getattr(again, "fn", None) is loss.fn:
                return loss.name  # the name the user gave, as Keras keeps it
        return _function_entry(loss.fn)
    return losses.serialize(loss)


def _metric_entry(metric):
    if isinstance(metric, metrics._ShapeResolvedAccuracy):
        return metric.name
    if type(metric) is metrics.MeanMetricWrapper:
        return _function_entry(metric.fn) if hasattr(metric, "fn") else metric.name
    try:
        again = metrics.get(metric.name)
    except (ValueError, TypeError):
        again = None
    same = again is not None and type(again) is type(metric) and again.get_config() == metric.get_config()
    if same and metric.name != type(metric)().name:
        return metric.name  # made from this name (as "mae"), which Keras keeps as given
    return metrics.serialize(metric)


# ---------------------------------------------------------------- reading
def compile_from_config(model, config, custom_objects=None):
    """Compile ``model`` from a Keras 3 ``compile_config`` dict.

    Only npconv's own optimizers, schedules, losses and metrics (and classes passed
    in ``custom_objects``) can be named; anything else raises ValueError naming it.

    Args:
        model: the npconv model to compile.
        config: the ``compile_config`` dict from a ``.keras`` file's ``config.json``
            (or a legacy ``.h5`` file's ``training_config``).
        custom_objects: optional dict of name -> class or function the user trusts.
    """
    if config is None:
        return
    if not isinstance(config, dict):
        raise TypeError(f"Invalid compile_config: expected a dict. Received: {type(config).__name__}")
    check_config(config, where="compile_config", custom_objects=custom_objects)
    optimizer = _optimizer(config.get("optimizer"), custom_objects)
    loss = _deserialize_nested(config.get("loss"), _loss, custom_objects)
    metrics = _deserialize_nested(config.get("metrics"), _metric, custom_objects)
    loss_weights = config.get("loss_weights")
    if config.get("weighted_metrics"):
        warnings.warn("The saved weighted_metrics are not restored: npconv's compile() has none.", stacklevel=3)
    if loss is None:
        raise ValueError(
            "The saved compile_config has no loss, so the model cannot be compiled. "
            "Load it with compile=False and call compile() yourself."
        )
    arguments = {"optimizer": optimizer, "loss": loss, "metrics": metrics}
    if loss_weights is not None and _not_all_ones(loss_weights):
        arguments["loss_weights"] = loss_weights
    model.compile(**arguments)


def _not_all_ones(value):
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return any(_not_all_ones(v) for v in value)
    return value != 1


def _deserialize_nested(value, one, custom_objects):
    if value is None:
        return None
    if isinstance(value, list):
        return [_deserialize_nested(v, one, custom_objects) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _deserialize_nested(v, one, custom_objects) for k, v in value.items()}
    return one(value, custom_objects)


def _custom(name, custom_objects):
    if custom_objects and isinstance(name, str) and name in custom_objects:
        return custom_objects[name]
    return None


def _optimizer(entry, custom_objects):
    if entry is None or isinstance(entry, str):
        return optimizers.get(entry or "rmsprop")
    custom = _custom(entry.get("class_name"), custom_objects)
    if custom is not None:
        return custom.from_config(dict(entry.get("config") or {}))
    return optimizers.deserialize(entry)


def _loss(entry, custom_objects):
    if isinstance(entry, str):
        return _custom(entry, custom_objects) or losses.get(entry)
    if entry.get("class_name") == "function":
        return _custom(entry.get("config"), custom_objects) or losses.get(entry.get("config"))
    custom = _custom(entry.get("class_name"), custom_objects)
    if custom is not None:
        return custom.from_config(dict(entry.get("config") or {}))
    return losses.deserialize(entry)


def _metric(entry, custom_objects):
    if isinstance(entry, str):
        return _custom(entry, custom_objects) or entry
    if entry.get("class_name") == "function":
        return _custom(entry.get("config"), custom_objects) or entry.get("config")
    custom = _custom(entry.get("class_name"), custom_objects)
    if custom is not None:
        return custom.from_config(dict(entry.get("config") or {}))
    return metrics.deserialize(entry)


# ------------------------------------------------------- optimizer state
def optimizer_variables(optimizer):
    """The optimizer's state as arrays, in Keras 3's saved order (see the module docstring).

    Args:
        optimizer: an npconv optimizer (built or not; an unbuilt one has only
            ``iteration`` and ``learning_rate``).
    """
    return [np.array(variable.value) for variable in optimizer.variables]


def set_optimizer_variables(optimizer, arrays, trainable_variables=None):
    """Restore the state ``optimizer_variables`` returned (or Keras saved), checked first.

    Every shape and the count are checked before anything changes, so a mismatch
    leaves the optimizer as it was.

    Args:
        optimizer: an npconv optimizer.
        arrays: list of arrays in Keras 3's order.
        trainable_variables: the model's trainable weights; needed when the
            optimizer has not been built yet (it is built for them first).
    """
    arrays = [np.asarray(a) for a in arrays]
    if not optimizer.built and len(arrays) == len(optimizer.variables):
        pass  # the state of an optimizer that never stepped: iteration (and learning_rate) only
    elif not optimizer.built:
        if trainable_variables is None:
            raise ValueError(
                "Invalid value for argument `trainable_variables`. The optimizer is not built, so its "
                "variables are needed to restore its state. Received: trainable_variables=None. "
                "Pass model.trainable_weights."
            )
        _check_count(optimizer, arrays, trainable_variables)
        optimizer.build(trainable_variables)
    variables = optimizer.variables
    if len(arrays) != len(variables):
        raise ValueError(
            f"Invalid optimizer state: {type(optimizer).__name__} '{optimizer.name}' has {len(variables)} "
            f"variables ({', '.join(v.name for v in variables[:4])}{', ...' if len(variables) > 4 else ''}) "
            f"but {len(arrays)} arrays were given. The optimizer was not changed."
        )
    for variable, array in zip(variables, arrays):
        if variable.shape != array.shape:
            raise ValueError(
                f"Invalid optimizer state: variable '{variable.name}' has shape {variable.shape} but the "
                f"saved array has shape {array.shape}. The optimizer was not changed."
            )
    for variable, array in zip(variables, arrays):
        variable.value[...] = array.astype(variable.dtype, copy=False)


def _check_count(optimizer, arrays, trainable_variables):
    """Before building: the saved count must match what building would create."""
    slots = sum(len(group) for group in optimizer.slot_groups)
    has_rate = not inspect.isroutine(optimizer._learning_rate) and hasattr(optimizer._learning_rate, "value")
    expected = 1 + int(has_rate) + slots * len(list(trainable_variables))
    if len(arrays) != expected:
        raise ValueError(
            f"Invalid optimizer state: {type(optimizer).__name__} '{optimizer.name}' for "
            f"{len(list(trainable_variables))} trainable variables has {expected} variables, but "
            f"{len(arrays)} arrays were given. The optimizer was not changed."
        )
