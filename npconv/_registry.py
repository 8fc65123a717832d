"""Names and Keras-style serialization, shared by every module that resolves
objects by name (initializers, regularizers, constraints, losses, metrics,
optimizers and their schedules).

Keras 3 writes an object as ``{"module", "class_name", "config",
"registered_name"}`` and finds a class by its own name or its snake_case name
(``"GlorotUniform"`` or ``"glorot_uniform"``).
"""

from __future__ import annotations

import re

from .arguments import invalid


def snake_case(name):
    """A class name in Keras's snake_case: ``"MeanSquaredError"`` -> ``"mean_squared_error"``.

    Args:
        name: a CamelCase name.

    Returns:
        The lower-case name with ``_`` between words (``"L1L2"`` stays ``"l1l2"``).
    """
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def keras_dict(module, obj):
    """The Keras 3 serialized form of ``obj``, an object with ``get_config()``.

    Args:
        module: the Keras module the class lives in, e.g. ``"keras.losses"``.
        obj: the object to describe.

    Returns:
        ``{"module": module, "class_name": ..., "config": obj.get_config(), "registered_name": None}``.
    """
    return {
        "module": module,
        "class_name": type(obj).__name__,
        "config": obj.get_config(),
        "registered_name": None,
    }


def from_keras_dict(config, classes):
    """The object a Keras serialized dict describes: ``classes[class_name].from_config(config)``.

    Args:
        config: a dict with ``"class_name"`` and, optionally, ``"config"``.
        classes: maps each accepted class name to its class.

    Returns:
        A new instance of the named class.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise invalid("config", "a dict with 'class_name' and 'config'", config, error=TypeError)
    cls = classes.get(config["class_name"])
    if cls is None:
        raise invalid("class_name", f"one of {sorted(classes)}", config["class_name"])
    return cls.from_config(dict(config.get("config") or {}))


class Configurable:
    """Base of the objects that a config dict rebuilds: ``cls.from_config(obj.get_config())``.

    Subclasses list their constructor arguments in ``get_config``; the base has none.
    """

    def get_config(self):
        """The constructor arguments, as a dict of plain Python values."""
        return {}

    @classmethod
    def from_config(cls, config):
        """A new instance from ``get_config()``'s dict."""
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Registry:
    """``get`` / ``serialize`` / ``deserialize`` for one kind of object.

    Args:
        kind: what the objects are, for messages (``"initializer"``).
        module: the Keras module written into serialized dicts.
        base: the base class every object derives from.
        classes: the public classes; each is found by its name and its snake_case name.
        aliases: more names, mapped to classes (Keras's short names).
        hints: maps a rejected name to a suggested fix.

    ``objects`` holds every accepted name.
    """

    def __init__(self, kind, module, base, classes, aliases=None, hints=None):
        self.kind, self.module, self.base = kind, module, base
        self.objects = {cls.__name__: cls for cls in classes}
        self.objects.update({snake_case(cls.__name__): cls for cls in classes})
        self.objects.update(aliases or {})
        self.hints = hints or {}
        article = "an" if kind[0] in "aeiou" else "a"
        self.a_kind = f"{article} {kind}"

    def lookup(self, name):
        """The class registered under ``name``; a ValueError lists the names otherwise."""
        if name not in self.objects:
            raise invalid(self.kind, f"one of {sorted(self.objects)}", name, self.hints.get(name))
        return self.objects[name]

    def serialize(self, obj):
        """Keras 3's dict: ``{"module", "class_name", "config", "registered_name"}``.

        Args:
            obj: an instance of ``base``, or a plain callable (written by its name).
        """
        if isinstance(obj, self.base):
            return keras_dict(self.module, obj)
        if callable(obj):
            name = getattr(obj, "__name__", type(obj).__name__)
            return {"module": None, "class_name": "function", "config": name, "registered_name": name}
        raise invalid(self.kind, f"{self.a_kind} instance", obj, error=TypeError)

    def deserialize(self, config):
        """An object from a name or a ``{"class_name", "config"}`` dict.

        Keras 3's ``module`` and ``registered_name`` keys are accepted and ignored.

        Args:
            config: None, a registered name, or a serialized dict.
        """
        if config is None:
            return None
        if isinstance(config, str):
            return self.lookup(config)()
        if not isinstance(config, dict):
            raise invalid("config", f"{self.a_kind} name or dict", config, error=TypeError)
        if not isinstance(config.get("class_name"), str):
            raise invalid("config", "a dict with a 'class_name' string", config)
        cls = self.lookup(config["class_name"])
        arguments = config.get("config") or {}
        if not isinstance(arguments, dict):
            raise invalid("config", "a dict whose 'config' is a dict of arguments", config, error=TypeError)
        return cls.from_config(arguments)

    def get(self, identifier):
        """An object from None (gives None), a name, a dict, a class, an instance or a callable.

        Args:
            identifier: what to resolve; instances and callables come back as they are.
        """
        if identifier is None:
            return None
        if isinstance(identifier, (str, dict)):
            return self.deserialize(identifier)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if callable(identifier):
            return identifier
        raise invalid(self.kind, f"None, {self.a_kind} name, a dict or a callable", identifier, error=TypeError)
