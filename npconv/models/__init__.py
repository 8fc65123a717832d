"""Models, named as in ``keras.models``: Model (the Functional API) and Sequential."""

from .functional import Model
from .sequential import Sequential

Functional = Model

__all__ = ["Model", "Sequential", "load_model"]


def load_model(filepath, custom_objects=None, compile=True):
    """Load a model from ``.keras``, legacy ``.h5`` or ``.npconv`` (the extension picks the format).

    Args:
        filepath: the model file.
        custom_objects: optional dict of name -> class for classes of your own; a
            file alone can never bring in a class npconv does not provide.
        compile: restore the saved compile settings and optimizer state.
    """
    from ..saving.formats import load_model as _load  # reason: import time, ~30 ms, off `import npconv`

    return _load(filepath, custom_objects=custom_objects, compile=compile)
