"""Models, named as in ``keras.models``."""

from .sequential import Sequential

__all__ = ["Sequential", "load_model"]


def load_model(filepath):
    """Load a model saved with ``model.save`` (see npconv.saving)."""
    from ..saving import load_model as _load

    return _load(filepath)
