"""Name resolution and Keras-style serialization for the initializers,
regularizers and constraints modules: one implementation, three registries."""

from __future__ import annotations

from .arguments import invalid


class Registry:
    """``get`` / ``serialize`` / ``deserialize`` for one kind of object.

    ``objects`` maps every accepted name (class names and Keras's aliases) to
    a class; ``hints`` maps a rejected name to a suggested fix.
    """

    def __init__(self, kind, module, base, objects, hints=None):
        self.kind, self.module, self.base, self.objects = kind, module, base, objects
        self.hints = hints or {}
        article = "an" if kind[0] in "aeiou" else "a"
        self.a_kind = f"{article} {kind}"

    def lookup(self, name):
        if name not in self.objects:
            raise invalid(self.kind, f"one of {sorted(self.objects)}", name, self.hints.get(name))
        return self.objects[name]

    def serialize(self, obj):
        """Keras 3's dict: ``{"module", "class_name", "config", "registered_name"}``."""
        if isinstance(obj, self.base):
            return {
                "module": self.module,
                "class_name": type(obj).__name__,
                "config": obj.get_config(),
                "registered_name": None,
            }
        if callable(obj):
            name = getattr(obj, "__name__", type(obj).__name__)
            return {"module": None, "class_name": "function", "config": name, "registered_name": name}
        raise invalid(self.kind, f"{self.a_kind} instance", obj, error=TypeError)

    def deserialize(self, config):
        """An object from a name or a ``{"class_name", "config"}`` dict (Keras 3's
        ``module`` and ``registered_name`` keys are accepted and ignored)."""
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
        """From None (None), a name, a dict, a class, an instance or a callable."""
        if identifier is None:
            return None
        if isinstance(identifier, (str, dict)):
            return self.deserialize(identifier)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if callable(identifier):
            return identifier
        raise invalid(self.kind, f"None, {self.a_kind} name, a dict or a callable", identifier, error=TypeError)
