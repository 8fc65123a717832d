"""Utilities named as in ``keras.utils``."""

from __future__ import annotations

import random

import numpy as np

from .arguments import invalid
from .initializers import set_global_seed


def set_random_seed(seed):
    """Seed every random draw npconv makes, and Python's and NumPy's global generators.

    That covers the unseeded initializers, Dropout and ``fit``'s shuffling, so
    that a script run twice with the same seed trains the same model.

    Args:
        seed: an int (NumPy's global generator gets ``seed % 2**32``).

    Example:
        >>> import npconv
        >>> npconv.utils.set_random_seed(0)
        >>> a = npconv.initializers.GlorotUniform()((2, 2))
        >>> npconv.utils.set_random_seed(0)
        >>> bool((a == npconv.initializers.GlorotUniform()((2, 2))).all())
        True
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise invalid("seed", "an int", seed, error=TypeError)
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    set_global_seed(int(seed))
