"""Models, named as in ``keras.models``."""

from .sequential import Sequential

__all__ = ["Sequential"]
