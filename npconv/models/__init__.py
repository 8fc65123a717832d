"""Models, named as in ``keras.models``: Model (the Functional API) and Sequential."""

from .functional import Model
from .sequential import Sequential

Functional = Model

__all__ = ["Model", "Sequential", "load_model"]


def load_model(filepath):
    """Load a model saved with ``model.save`` (see npconv.saving)."""
    from ..saving import load_model as _load  # reason: saving imports models (cycle)

    return _load(filepath)
