"""Keras 3 optimizers on NumPy: SGD, Adam, AdamW and RMSprop, with Keras's update rules.

    optimizer = npconv.optimizers.get("adam")
    optimizer.apply_gradients([(variable.grad, variable) for variable in weights])

Each step updates ``variable.value`` in place, then applies ``variable.constraint``.
"""

from __future__ import annotations

import inspect

from .._registry import keras_dict
from ..arguments import invalid
from . import schedules
from .adam import Adam, AdamW
from .base import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "schedules", "get", "serialize", "deserialize"]

_CLASSES = {cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop)}


def serialize(optimizer):
    """Keras's serialized form of an optimizer: ``{"module", "class_name", "config", "registered_name"}``.

    Args:
        optimizer: an npconv Optimizer.
    """
    if not isinstance(optimizer, Optimizer):
        raise invalid("optimizer", "an npconv optimizer", type(optimizer).__name__, error=TypeError)
    return keras_dict("keras.optimizers", optimizer)


def deserialize(config):
    """An optimizer from ``serialize``'s dict; class names match case-insensitively, as in Keras.

    Args:
        config: a dict with ``"class_name"`` and ``"config"``.
    """
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise invalid("config", "a dict with 'class_name' and 'config'", config, error=TypeError)
    cls = _CLASSES.get(config["class_name"].lower())
    if cls is None:
        raise invalid("optimizer", f"one of {sorted(_CLASSES)}", config["class_name"])
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """An optimizer from a name, a config dict, a class or an instance.

    Args:
        identifier: None (gives None), ``"sgd"``, ``"adam"``, ``"adamw"`` or
            ``"rmsprop"`` (any case; default arguments), a serialized dict, an
            Optimizer class, or an instance (returned as it is).

    Example:
        >>> get("Adam")
        <Adam name=adam, iterations=0>
    """
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() not in _CLASSES:
            raise invalid("optimizer", f"one of {sorted(_CLASSES)}", identifier, "Or pass an optimizer object.")
        return _CLASSES[identifier.lower()]()
    if inspect.isclass(identifier) and issubclass(identifier, Optimizer):
        return identifier()
    raise invalid(
        "optimizer",
        f"an optimizer name (one of {sorted(_CLASSES)}) or object",
        type(identifier).__name__,
        error=TypeError,
    )
